import Foundation
import XCTest

/// s3-report rebuild and refresh end to end. Sessions backed up by bin/s3-nightly (s3-archive | s3-put --index)
/// into SeaweedFS, moto and a directory store; the catalog deleted and rebuilt from the bucket; `status` (the
/// operations log and verifications aside: history the bucket does not keep), `sessions` and `cost` compared
/// with the originals, the catalog's rows too (read by python3's sqlite3); a second rebuild changes nothing;
/// the nightly on the rebuilt catalog archives nothing. Bad indexes are said, skipped, and exit 1. Refresh on
/// moto: a class set with CopyObject, a restore, an object gone.
final class RebuildTests: EndToEndCase {
    private var extraBuckets: [(name: String, endpoint: String)] = []

    override func tearDownWithError() throws {
        for bucket in extraBuckets { reportRemoveBucket(bucket.name, endpoint: bucket.endpoint) }
        extraBuckets = []
        try super.tearDownWithError()
    }

    static let sessions = [("2023", "2023-05-01_a"), ("2024", "2024-01-10_c"), ("2024", "2024-03-03_d")]
    static let rebuildHeader = ["archives", "added", "replaced", "known", "skipped", "requests", "seconds"]
    static let refreshHeader = ["url", "was", "class", "restore"]

    /// ROOT/YEAR/SESSION for `sessions`, and one session straight under ROOT. Returns ROOT.
    private func makeRoot() throws -> String {
        let root = temp.file("rebuild-root")
        for (index, (year, session)) in Self.sessions.enumerated() {
            try reportRandomFile("\(root)/\(year)/\(session)/raw/data.bin", size: 3000 + 100 * index)
            try reportWrite("\(root)/\(year)/\(session)/meta.txt", "session \(session)\n")
        }
        try reportWrite(root + "/M31_deep/notes.txt", "no date in the name\n")
        return root
    }

    /// The catalog's rows that the bucket can give back: objects, archives, their files (paths as hex).
    private func catalogRows(_ catalog: String) -> [String: [[String]]] {
        let queries = [
            "objects": "SELECT url, bucket, key, size, etag, part_size, parts, part_size_doubling_every, storage_class, sha256, session, index_url FROM objects ORDER BY url",
            "archives": "SELECT url, session, session_path, files, bytes, newest_mtime, sha256, index_url, generation, first_url FROM archives ORDER BY url",
            "files": "SELECT archive_url, hex(path), size, mtime FROM archive_files ORDER BY 1, 2",
        ]
        return queries.mapValues { reportSQLite(catalog, $0) ?? [["unreadable"]] }
    }

    /// Every row of every table the rebuild writes, as they are.
    private func catalogDump(_ catalog: String) -> [[String]] {
        ["objects", "archives", "archive_files"].flatMap { reportSQLite(catalog, "SELECT * FROM \($0) ORDER BY 1, 2") ?? [["unreadable"]] }
    }

    private func report(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try reportRun(arguments + ["--format", "tsv"], file: file, line: line)
        XCTAssertEqual(result.status, 0, "\(arguments): \(result.summary)", file: file, line: line)
        return result.out
    }

    /// status (its Stored and Uploads in progress tables), sessions and cost.
    private func views(_ root: String, _ catalog: String) throws -> [String: String] {
        let status = reportSplitTSV(try report(["status", "--catalog", catalog]), headers: ReportTests.statusHeaders) ?? []
        XCTAssertEqual(status.count, 4)
        func text(_ table: ReportTSVTable?) -> String {
            (table?.rows ?? []).map { row in table!.columns.map { row[$0] ?? "" }.joined(separator: "\t") }.joined(separator: "\n")
        }
        return ["stored": text(status.first), "uploads": text(status.dropFirst(2).first),
                "sessions": try report(["sessions", root, "--catalog", catalog]),
                "cost": try report(["cost", "--catalog", catalog])]
    }

    /// s3-report rebuild against `endpoint`, SeaweedFS when nil.
    private func rebuild(_ url: String, catalog: String, endpoint: String?, file: StaticString = #filePath,
                         line: UInt = #line) throws -> (result: ProcessResult, row: [String: String]) {
        let result = try reportRun(["rebuild", url, "--catalog", catalog, "--format", "tsv", "--endpoint-url", endpoint ?? env.endpoint],
                                   file: file, line: line)
        assertNoSecret(result, env.secretKey, file: file, line: line)
        guard !result.out.isEmpty else { return (result, [:]) }
        return (result, reportTSV(result.out, header: Self.rebuildHeader, file: file, line: line)?.rows.first ?? [:])
    }

    /// The nightly backs ROOT up into `dest` twice (a session changed in between: a second generation); the
    /// catalog is then deleted and rebuilt from `prefix`: the views and rows are the originals', a second rebuild
    /// (and one into the original catalog) changes nothing, and the nightly on the rebuilt catalog stores nothing.
    private func assertRebuildGivesTheCatalogBack(dest: String, prefix: String, endpoint: String?,
                                                  listing: () throws -> [String: String],
                                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let root = try makeRoot()
        let catalog = temp.file("original.sqlite")
        var args = nightlyArguments(root: root, dest: dest, catalog: catalog)
        if let endpoint, let at = args.firstIndex(of: "--endpoint-url") { args[at + 1] = endpoint }
        XCTAssertEqual(try reportNightly(args).status, 0, file: file, line: line)
        try reportAppend(root + "/2024/2024-01-10_c/meta.txt", "one more line\n")
        let second = try reportNightly(args)
        XCTAssertEqual(second.status, 0, second.summary, file: file, line: line)
        XCTAssertEqual(try nightlyPuts(catalog).count, 5, "four sessions, one of them twice", file: file, line: line)

        let before = try views(root, catalog)
        let rows = catalogRows(catalog)
        XCTAssertEqual(rows["archives"]?.count, 5, file: file, line: line)
        XCTAssertTrue(rows["archives"]?.contains { $0[8] == "2" } ?? false, "a second generation: \(rows)", file: file, line: line)

        let rebuilt = temp.file("rebuilt.sqlite")
        let first = try rebuild(prefix, catalog: rebuilt, endpoint: endpoint, file: file, line: line)
        XCTAssertEqual(first.result.status, 0, first.result.summary, file: file, line: line)
        XCTAssertEqual(first.result.err, "", file: file, line: line)
        XCTAssertEqual(first.row["archives"], "5", file: file, line: line)
        XCTAssertEqual(first.row["added"], "5", file: file, line: line)
        let after = try views(root, rebuilt)
        for view in before.keys.sorted() { XCTAssertEqual(after[view], before[view], view, file: file, line: line) }
        let rebuiltRows = catalogRows(rebuilt)
        for table in rows.keys.sorted() { XCTAssertEqual(rebuiltRows[table], rows[table], table, file: file, line: line) }

        // Merging: nothing new, nothing changed, nothing read.
        let dump = catalogDump(rebuilt)
        let again = try rebuild(prefix, catalog: rebuilt, endpoint: endpoint, file: file, line: line)
        XCTAssertEqual(again.result.status, 0, again.result.summary, file: file, line: line)
        XCTAssertEqual([again.row["added"], again.row["known"], again.row["requests"]], ["0", "5", "0"], file: file, line: line)
        XCTAssertEqual(catalogDump(rebuilt), dump, "a second rebuild changes nothing", file: file, line: line)
        let originalDump = catalogDump(catalog)
        let into = try rebuild(prefix, catalog: catalog, endpoint: endpoint, file: file, line: line)
        XCTAssertEqual(into.row["known"], "5", into.result.summary, file: file, line: line)
        XCTAssertEqual(catalogDump(catalog), originalDump, "the original catalog already held it all", file: file, line: line)

        // A record of other bytes at an archive's URL (replaced on another host) gives way to the store's.
        let stale = "UPDATE objects SET etag = 'stale', storage_class = 'GLACIER' WHERE url = (SELECT MIN(url) FROM objects)"
        XCTAssertNotNil(reportSQLite(rebuilt, stale, write: true), file: file, line: line)
        let replaced = try rebuild(prefix, catalog: rebuilt, endpoint: endpoint, file: file, line: line)
        XCTAssertEqual([replaced.row["added"], replaced.row["replaced"], replaced.row["known"]], ["0", "1", "4"],
                       replaced.result.summary, file: file, line: line)
        XCTAssertEqual(catalogDump(rebuilt), dump, "the store's record back, files and all", file: file, line: line)

        // The nightly, on the rebuilt catalog: every session backed up, nothing stored.
        let stored = try listing()
        let catalogAt = args.firstIndex(of: "--catalog")! + 1
        args[catalogAt] = rebuilt
        let nightly = try reportNightly(args + ["--verbose"])
        XCTAssertEqual(nightly.status, 0, nightly.summary, file: file, line: line)
        XCTAssertTrue(nightly.err.contains("archived 0, failed 0, already backed up 4"), nightly.err, file: file, line: line)
        XCTAssertEqual(try listing(), stored, "nothing written", file: file, line: line)
        XCTAssertEqual(try nightlyPuts(rebuilt), [], file: file, line: line)
    }

    // MARK: rebuild

    func testRebuildFromSeaweedFSGivesTheCatalogBack() throws {
        let bucket = try bucket
        try assertRebuildGivesTheCatalogBack(dest: "s3://\(bucket)/backups/raw/{year}/{session}.tar",
                                             prefix: "s3://\(bucket)/backups/", endpoint: nil) {
            try reportObjects(bucket, prefix: "backups/").mapValues { "\($0.etag) \($0.modified)" }
        }
    }

    func testRebuildFromMotoGivesTheCatalogBack() throws {
        let moto = try env.requireMoto()
        let bucket = uniqueBucketName("rebuild-moto")
        guard try reportMakeBucket(bucket, endpoint: moto) else { return }
        extraBuckets.append((bucket, moto))
        try assertRebuildGivesTheCatalogBack(dest: "s3://\(bucket)/raw/{year}/{session}.tar", prefix: "s3://\(bucket)/raw/",
                                             endpoint: moto) {
            try reportObjects(bucket, prefix: "raw/", endpoint: moto).mapValues { "\($0.etag) \($0.modified)" }
        }
    }

    func testRebuildFromADirectoryStoreGivesTheCatalogBack() throws {
        let store = temp.file("store")
        try assertRebuildGivesTheCatalogBack(dest: "file://\(store)/raw/{year}/{session}.tar", prefix: "file://\(store)/raw/",
                                             endpoint: nil) {
            var files: [String: String] = [:]
            for case let name as String in FileManager.default.enumerator(atPath: store)?.allObjects ?? [] {
                let attributes = try FileManager.default.attributesOfItem(atPath: store + "/" + name)
                files[name] = "\(attributes[.size] ?? "") \(attributes[.modificationDate] ?? "")"
            }
            return files
        }
    }

    /// The data moved (a new host, another mount): the indexes name the old directories. Without --root the
    /// sessions of the new ROOT are not backed up; with it each is matched by year folder and name, and the
    /// nightly on the rebuilt catalog stores nothing.
    func testRebuildWithRootFindsSessionsThatMoved() throws {
        let bucket = try bucket
        let root = try makeRoot()
        let catalog = temp.file("moved-original.sqlite")
        var args = nightlyArguments(root: root, dest: "s3://\(bucket)/moved/{year}/{session}.tar", catalog: catalog)
        XCTAssertEqual(try reportNightly(args).status, 0)
        let moved = temp.file("moved-root")
        try FileManager.default.moveItem(atPath: root, toPath: moved)

        let plain = temp.file("moved-plain.sqlite")
        XCTAssertEqual(try rebuild("s3://\(bucket)/moved/", catalog: plain, endpoint: nil).result.status, 0)
        XCTAssertEqual(try nightlySessions(moved, catalog: plain).map { $0["state"] ?? "" },
                       Array(repeating: "not backed up", count: 4), "the indexes name the old directories")

        let rebuilt = temp.file("moved-rebuilt.sqlite")
        let run = try reportRun(["rebuild", "s3://\(bucket)/moved/", "--root", moved, "--catalog", rebuilt,
                                 "--endpoint-url", env.endpoint, "--format", "tsv"])
        XCTAssertEqual(run.status, 0, run.summary)
        let sessions = try nightlySessions(moved, catalog: rebuilt)
        XCTAssertEqual(sessions.map { $0["state"] ?? "" }, Array(repeating: "backed up", count: 4), "\(sessions)")
        let resolved = URL(fileURLWithPath: moved).resolvingSymlinksInPath().path
        XCTAssertEqual(Set(reportSQLite(rebuilt, "SELECT session_path FROM archives")?.map { $0[0] } ?? []),
                       Set(sessions.map { $0["path"] ?? "" }.map { $0.replacingOccurrences(of: moved, with: resolved) }))

        let stored = try reportObjects(bucket, prefix: "moved/").mapValues { "\($0.etag) \($0.modified)" }
        args[args.firstIndex(of: "--root")! + 1] = moved
        args[args.firstIndex(of: "--catalog")! + 1] = rebuilt
        let nightly = try reportNightly(args)
        XCTAssertEqual(nightly.status, 0, nightly.summary)
        XCTAssertEqual(try reportObjects(bucket, prefix: "moved/").mapValues { "\($0.etag) \($0.modified)" }, stored)
        XCTAssertEqual(try nightlyPuts(rebuilt), [])
    }

    /// One index changed on its way (a proxy turns b.fits into c.fits: the store's checksum says so), one that is
    /// no index, one of another archive: each is named on stderr and skipped, the good archive is recorded, exit 1.
    func testBadIndexesAreSaidAndSkipped() throws {
        let bucket = try bucket
        let catalog = temp.file("bad-original.sqlite")
        var urls: [String: String] = [:]
        for name in ["good", "flipped", "garbage", "other"] {
            let session = temp.file("bad/\(name)")
            try reportRandomFile(session + "/a.fits", size: 1000)
            try reportRandomFile(session + (name == "flipped" ? "/b.fits" : "/d.fits"), size: name == "other" ? 5000 : 2000)
            urls[name] = "s3://\(bucket)/bad/\(name).tar"
            XCTAssertNotNil(try archiveAndPut(session, to: urls[name]!, extra: ["--catalog", catalog]))
        }
        let garbage = temp.file("garbage.json")
        try reportWrite(garbage, "{\"format\": \"not an index\"}\n")
        XCTAssertEqual(try aws(["s3", "cp", garbage, urls["garbage"]! + ".index.json"]).status, 0)
        // The index of `good` beside `other`: a true index, of another archive.
        XCTAssertEqual(try aws(["s3", "cp", urls["good"]! + ".index.json", urls["other"]! + ".index.json"]).status, 0)

        let proxy = try ListingCutProxy(upstream: env.endpoint, directory: temp.file("flip-proxy"),
                                        environment: env.processEnvironment(), mode: "flip-index")
        defer { proxy.stop() }
        let rebuilt = temp.file("bad-rebuilt.sqlite")
        let run = try rebuild("s3://\(bucket)/bad/", catalog: rebuilt, endpoint: proxy.endpoint)
        XCTAssertTrue(proxy.log().contains { $0.hasPrefix("FLIPPED") }, "the proxy changed the index: \(proxy.log())")
        XCTAssertEqual(run.result.status, 1, run.result.summary)
        XCTAssertEqual([run.row["archives"], run.row["added"], run.row["skipped"]], ["4", "1", "3"], run.result.summary)
        let err = run.result.err
        XCTAssertTrue(err.contains("\(urls["flipped"]!).index.json: the index read is not the index stored"), err)
        XCTAssertTrue(err.contains("\(urls["garbage"]!).index.json: not an archive index"), err)
        XCTAssertTrue(err.contains("\(urls["other"]!).index.json: not the index of the archive beside it"), err)
        XCTAssertEqual(err.split(separator: "\n").count, 3, err)
        XCTAssertEqual(reportSQLite(rebuilt, "SELECT url FROM archives"), [[urls["good"]!]])
        XCTAssertEqual(reportSQLite(rebuilt, "SELECT url FROM objects"), [[urls["good"]!]])

        // Straight from the server the flipped one is whole again, and is recorded; the others stay out.
        let direct = try rebuild("s3://\(bucket)/bad/", catalog: rebuilt, endpoint: nil)
        XCTAssertEqual(direct.result.status, 1, direct.result.summary)
        XCTAssertEqual([direct.row["added"], direct.row["known"], direct.row["skipped"]], ["1", "1", "2"], direct.result.summary)
        XCTAssertEqual(catalogRows(rebuilt)["archives"], catalogRows(catalog)["archives"]?.filter {
            [urls["good"]!, urls["flipped"]!].contains($0[0])
        })

        // A prefix without archives (mistyped): exit 66, and no empty catalog left looking rebuilt.
        let nowhere = temp.file("nowhere.sqlite")
        let none = try rebuild("s3://\(bucket)/bad-typo/", catalog: nowhere, endpoint: nil)
        XCTAssertEqual(none.result.status, 66, none.result.summary)
        XCTAssertTrue(none.result.err.contains("s3://\(bucket)/bad-typo/: no archive there"), none.result.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: nowhere))
    }

    /// Another run holds an archive's lock in CATALOG.lock (python3 stands in, holding the byte s3-put would): the
    /// rebuild says it waits, and records the archive only once the lock is released.
    func testRebuildWaitsForARunWritingTheSameArchive() throws {
        let bucket = try bucket
        let session = temp.file("locked/2024-02-02_l")
        try reportRandomFile(session + "/a.bin", size: 1000)
        let url = "s3://\(bucket)/locked/2024-02-02_l.tar"
        XCTAssertNotNil(try archiveAndPut(session, to: url))
        let catalog = temp.file("locked.sqlite")
        let holder = """
            import fcntl, hashlib, os, sys, time
            path, url, ready, released = sys.argv[1:5]
            offset = int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big") >> 2
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset, 0)
            open(ready, "w").close()
            time.sleep(3)
            open(released, "w").write(repr(time.time()))
            os.close(fd)
            """
        let script = #"""
            python3 -c "$1" "$2.lock" "$3" "$4" "$5" &
            while [ ! -e "$4" ]; do sleep 0.05; done
            "$6" rebuild "s3://$7/locked/" --catalog "$2" --endpoint-url "$8" --format tsv
            status=$?
            python3 -c 'import time; print(repr(time.time()))' >"$4.done"
            wait
            exit $status
            """#
        let result = try runProcess("/bin/bash", ["-c", script, "bash", holder, catalog, url, temp.file("ready"),
                                                  temp.file("released"), env.tool("s3-report"), bucket, env.endpoint],
                                    environment: reportEnvironment(), timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.err.contains("\(url): another s3-put is writing it"), result.err)
        let released = Double((try? String(contentsOfFile: temp.file("released"), encoding: .utf8)) ?? "") ?? .infinity
        let done = Double(((try? String(contentsOfFile: temp.file("ready.done"), encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertGreaterThanOrEqual(done, released, "the rebuild ended after the lock was released")
        XCTAssertEqual(reportSQLite(catalog, "SELECT url FROM archives"), [[url]])
    }

    // MARK: refresh

    /// A transition made with CopyObject (as a lifecycle rule would): refresh records the new class, status and
    /// cost show it; a restore shows as restored; an archive deleted is said, exit 1, and left as it was.
    func testRefreshFollowsClassesAndRestoresOnMoto() throws {
        let moto = try env.requireMoto()
        let bucket = uniqueBucketName("refresh-moto")
        guard try reportMakeBucket(bucket, endpoint: moto) else { return }
        extraBuckets.append((bucket, moto))
        let catalog = temp.file("refresh.sqlite")
        var urls: [String] = []
        for name in ["2024-01-01_x", "2024-01-02_y"] {
            let session = temp.file("refresh/\(name)")
            try reportRandomFile(session + "/data.bin", size: 4000)
            urls.append("s3://\(bucket)/raw/\(name).tar")
            XCTAssertNotNil(try archiveAndPut(session, to: urls.last!, endpoint: moto, extra: ["--catalog", catalog]))
        }
        let refresh = ["refresh", "--catalog", catalog, "--endpoint-url", moto, "--format", "tsv"]
        let unchanged = try reportRun(refresh)
        XCTAssertEqual(unchanged.status, 0, unchanged.summary)
        XCTAssertEqual(reportTSV(unchanged.out, header: Self.refreshHeader)?.rows.count, 0, "nothing moved")

        let key = "raw/2024-01-01_x.tar"
        let copy = try aws(["s3api", "copy-object", "--bucket", bucket, "--key", key, "--copy-source", "\(bucket)/\(key)",
                            "--storage-class", "DEEP_ARCHIVE", "--metadata-directive", "COPY"], endpoint: moto)
        XCTAssertEqual(copy.status, 0, copy.summary)
        let moved = try reportRun(refresh)
        XCTAssertEqual(moved.status, 0, moved.summary)
        XCTAssertEqual(reportTSV(moved.out, header: Self.refreshHeader)?.rows,
                       [["url": urls[0], "was": "STANDARD", "class": "DEEP_ARCHIVE", "restore": ""]])
        let stored = reportSplitTSV(try report(["status", "--catalog", catalog]), headers: ReportTests.statusHeaders)?.first
        XCTAssertEqual(stored?.rows.map { [$0["class"], $0["objects"]] }, [["DEEP_ARCHIVE", "1"], ["STANDARD", "1"]])
        let cost = reportSplitTSV(try report(["cost", "--catalog", catalog]), headers: ReportTests.costHeaders)?.first
        XCTAssertEqual(cost?.column("class").sorted(), ["DEEP_ARCHIVE", "STANDARD"], "\(String(describing: cost))")

        let restore = try aws(["s3api", "restore-object", "--bucket", bucket, "--key", key,
                               "--restore-request", "Days=2,GlacierJobParameters={Tier=Bulk}"], endpoint: moto)
        XCTAssertEqual(restore.status, 0, restore.summary)
        let restored = try reportRun(refresh + ["s3://\(bucket)/raw/"])
        XCTAssertEqual(restored.status, 0, restored.summary)
        let row = reportTSV(restored.out, header: Self.refreshHeader)?.rows.first
        XCTAssertEqual(row?["class"], "DEEP_ARCHIVE")
        XCTAssertTrue(matches(row?["restore"] ?? "", #"^(restoring|restored until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$"#), "\(String(describing: row))")
        XCTAssertEqual(reportSQLite(catalog, "SELECT restore IS NOT NULL FROM objects WHERE url = '\(urls[0])'"), [["1"]])

        XCTAssertEqual(try aws(["s3", "rm", urls[1]], endpoint: moto).status, 0)
        let gone = try reportRun(refresh)
        XCTAssertEqual(gone.status, 1, gone.summary)
        XCTAssertTrue(gone.err.contains("\(urls[1]): not in s3://\(bucket) any more"), gone.err)
        XCTAssertEqual(reportSQLiteCount(catalog, "SELECT COUNT(*) FROM objects"), 2, "left as the catalog has it")
    }
}
