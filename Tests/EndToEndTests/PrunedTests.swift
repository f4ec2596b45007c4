import Foundation
import XCTest

/// A session whose files were only removed since its backup (raw data deleted once backed up) is `pruned`: backed
/// up, nothing to do. The nightly never archives it again, and its archive keeps its ETag. Any file added or
/// changed makes it `changed`. Against SeaweedFS.
final class PrunedTests: EndToEndCase {
    private let session = "2024-02-02_p"

    /// ROOT/2024/SESSION with three files; returns (ROOT, the session's path).
    private func makeSession() throws -> (root: String, path: String) {
        let root = temp.file("pruned-root")
        let path = "\(root)/2024/\(session)"
        try reportRandomFile(path + "/raw/a.bin", size: 3000)
        try reportRandomFile(path + "/raw/b.bin", size: 2000)
        try reportWrite(path + "/meta.txt", "session \(session)\n")
        return (root, path)
    }

    private func state(_ root: String, catalog: String, file: StaticString = #filePath, line: UInt = #line) throws -> String? {
        try nightlySessions(root, catalog: catalog, file: file, line: line).first?["state"]
    }

    func testPrunedSessionIsKeptAndNeverArchivedAgain() throws {
        let bucket = try bucket
        let (root, path) = try makeSession()
        let catalog = temp.file("pruned-catalog.sqlite")
        let args = nightlyArguments(root: root, dest: "s3://\(bucket)/pruned/{year}/{session}.tar", catalog: catalog)
        let first = try reportNightly(args)
        XCTAssertEqual(first.status, 0, first.summary)
        XCTAssertEqual(first.err, "", "quiet")
        let stored = try reportObjects(bucket, prefix: "pruned/")
        let archiveURL = "s3://\(bucket)/pruned/2024/\(session).tar"
        XCTAssertEqual(Set(stored.keys), ["pruned/2024/\(session).tar", "pruned/2024/\(session).tar.index.json"])

        // Two of the three files deleted after the backup: pruned, not changed.
        try FileManager.default.removeItem(atPath: path + "/raw/a.bin")
        try FileManager.default.removeItem(atPath: path + "/meta.txt")
        let rows = try nightlySessions(root, catalog: catalog)
        XCTAssertEqual(rows.first?["state"], "pruned")
        XCTAssertEqual(rows.first?["files"], "1")
        XCTAssertEqual(rows.first?["archive"], archiveURL, "the backup that holds them all")
        XCTAssertEqual(rows.first?["generations"], "1")
        let names = ["sessions", root, "--catalog", catalog, "--format", "names"]
        XCTAssertEqual(try reportRun(names + ["--pruned"]).out, "\(session)\n")
        for other in ["--changed", "--not-backed-up", "--backed-up"] {
            XCTAssertEqual(try reportRun(names + [other]).out, "", "\(other): a pruned session is none of these")
        }
        let json = try reportRun(["sessions", root, "--catalog", catalog, "--format", "json"])
        XCTAssertEqual(reportJSONLines(json.out).first?["state"] as? String, "pruned")

        // The next nights archive nothing: quiet, no put, the archive untouched.
        let quiet = try reportNightly(args)
        XCTAssertEqual(quiet.status, 0, quiet.summary)
        XCTAssertEqual(quiet.out + quiet.err, "", "nothing to say")
        let verbose = try reportNightly(args + ["--verbose"])
        XCTAssertEqual(verbose.status, 0, verbose.summary)
        XCTAssertTrue(verbose.err.contains("archived 0, failed 0, already backed up 1 (pruned 1)"), verbose.err)
        XCTAssertEqual(try nightlyPuts(catalog).count, 1, "no put since the first night")
        let after = try reportObjects(bucket, prefix: "pruned/")
        XCTAssertEqual(after.mapValues { "\($0.etag) \($0.modified)" }, stored.mapValues { "\($0.etag) \($0.modified)" },
                       "the complete archive keeps its ETag")

        // A file added: changed. Gone again: pruned again.
        try reportWrite(path + "/raw/c.bin", "new\n")
        XCTAssertEqual(try state(root, catalog: catalog), "changed")
        try FileManager.default.removeItem(atPath: path + "/raw/c.bin")
        XCTAssertEqual(try state(root, catalog: catalog), "pruned")
        // A remaining file rewritten (same size, a new mtime): changed.
        try reportSetMtime(path + "/raw/b.bin", Date(timeIntervalSince1970: 1_600_000_000))
        XCTAssertEqual(try state(root, catalog: catalog), "changed")
    }

    /// A hard link left when its other name is deleted is the same file, with the same size and mtime.
    func testHardLinkLeftBehindIsPruned() throws {
        let bucket = try bucket
        let root = temp.file("link-root")
        let path = root + "/linked"
        try reportRandomFile(path + "/x.bin", size: 4000)
        try reportWrite(path + "/note.txt", "note\n")
        try FileManager.default.linkItem(atPath: path + "/x.bin", toPath: path + "/y.bin")
        let catalog = temp.file("link-catalog.sqlite")
        let put = try reportArchiveAndPut(path, index: temp.file("linked.index.json"),
                                          ["--catalog", catalog, "--quiet", "s3://\(bucket)/links/linked.tar"])
        XCTAssertEqual(put.status, 0, put.summary)
        XCTAssertEqual(try state(root, catalog: catalog), "backed up")

        // The fingerprint counts a file's data once, whatever its names: one name gone, the same data.
        try FileManager.default.removeItem(atPath: path + "/x.bin")
        XCTAssertEqual(try state(root, catalog: catalog), "backed up")
        try FileManager.default.removeItem(atPath: path + "/note.txt")
        XCTAssertEqual(try state(root, catalog: catalog), "pruned", "y.bin is in the archive, as a hard link")
        try FileManager.default.removeItem(atPath: path + "/y.bin")
        XCTAssertEqual(try state(root, catalog: catalog), "pruned", "an emptied session is pruned too")
    }

    /// An archive the catalog holds without its list of files (recorded before the catalog kept them) cannot
    /// vouch for the files left: the session is changed, and its next archive goes beside the first.
    func testArchiveWithoutItsFilesInTheCatalogCannotVouch() throws {
        let bucket = try bucket
        let (root, path) = try makeSession()
        let catalog = temp.file("old-catalog.sqlite")
        let args = nightlyArguments(root: root, dest: "s3://\(bucket)/old/{year}/{session}.tar", catalog: catalog)
        XCTAssertEqual(try reportNightly(args).status, 0)
        XCTAssertNotNil(reportSQLite(catalog, "DELETE FROM archive_files", write: true))
        try FileManager.default.removeItem(atPath: path + "/raw/a.bin")
        XCTAssertEqual(try state(root, catalog: catalog), "changed")

        let night = try reportNightly(args)
        XCTAssertEqual(night.status, 0, night.summary)
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "old/").keys),
                       ["old/2024/\(session).tar", "old/2024/\(session).tar.index.json",
                        "old/2024/\(session).gen2.tar", "old/2024/\(session).gen2.tar.index.json"],
                       "the complete first archive is kept")
        try FileManager.default.removeItem(atPath: path + "/meta.txt")
        XCTAssertEqual(try state(root, catalog: catalog), "pruned", "the second generation's files are known")
    }

    /// A catalog written before generations (migration v1 only) is migrated on open: each archive is its own
    /// first generation, and the sessions view and the status read it.
    func testCatalogOfAnEarlierVersionIsMigrated() throws {
        let (root, path) = try makeSession()
        let catalog = temp.file("v1-catalog.sqlite")
        let url = "s3://bucket/old/\(session).tar"
        let schema = [
            "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)",
            "INSERT INTO grdb_migrations VALUES ('v1')",
            """
            CREATE TABLE objects (url TEXT PRIMARY KEY, bucket TEXT, key TEXT NOT NULL, size INTEGER NOT NULL,
                etag TEXT NOT NULL, part_size INTEGER NOT NULL, parts INTEGER NOT NULL, part_size_doubling_every INTEGER,
                storage_class TEXT, sha256 TEXT, session TEXT, index_url TEXT, source_path TEXT, source_size INTEGER,
                source_mtime REAL, stored_at REAL NOT NULL)
            """,
            """
            CREATE TABLE archives (url TEXT PRIMARY KEY REFERENCES objects(url) ON DELETE CASCADE,
                session TEXT NOT NULL, session_path TEXT, files INTEGER NOT NULL, bytes INTEGER NOT NULL,
                newest_mtime REAL NOT NULL, sha256 TEXT NOT NULL, index_url TEXT, stored_at REAL NOT NULL)
            """,
            "CREATE TABLE uploads (upload_id TEXT PRIMARY KEY, url TEXT NOT NULL, bucket TEXT, key TEXT NOT NULL, source_path TEXT, source_size INTEGER, source_mtime REAL, part_size INTEGER NOT NULL, part_size_doubling_every INTEGER, state TEXT NOT NULL DEFAULT 'in_progress', started_at REAL NOT NULL, ended_at REAL)",
            "CREATE TABLE upload_parts (upload_id TEXT NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL, md5 TEXT NOT NULL, PRIMARY KEY (upload_id, number))",
            "CREATE TABLE operations (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, tool TEXT NOT NULL, action TEXT NOT NULL, url TEXT, outcome TEXT NOT NULL, bytes INTEGER, seconds REAL, message TEXT)",
            "CREATE TABLE verifications (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, url TEXT NOT NULL, deep INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT)",
            "INSERT INTO objects (url, bucket, key, size, etag, part_size, parts, stored_at) VALUES ('\(url)', 'bucket', 'old/\(session).tar', 10240, 'e', 10240, 1, 1700000000)",
            "INSERT INTO archives VALUES ('\(url)', '\(session)', '\(path)', 1, 1, 1, 's', NULL, 1700000000)",
        ]
        // An empty file is an empty database (the helper opens existing files only).
        XCTAssertTrue(FileManager.default.createFile(atPath: catalog, contents: nil))
        for statement in schema {
            XCTAssertNotNil(reportSQLite(catalog, statement, write: true), statement)
        }
        let row = try nightlySessions(root, catalog: catalog).first
        XCTAssertEqual(row?["state"], "changed")
        XCTAssertEqual(row?["archive"], url)
        XCTAssertEqual(row?["generations"], "1")
        XCTAssertEqual(reportSQLite(catalog, "SELECT first_url, generation FROM archives"), [[url, "1"]])
        let status = try reportRun(["status", "--catalog", catalog, "--format", "tsv"])
        XCTAssertEqual(status.status, 0, status.summary)
        XCTAssertEqual(reportSplitTSV(status.out, headers: ReportTests.statusHeaders)?.first?.rows.first?["sessions"], "1")
    }
}
