// File names are bytes: a session written by an instrument PC with Latin-1 names archives, indexes, restores and
// reports byte for byte, and a name is never confused with its U+FFFD "repaired" twin.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class ByteNameTests: EndToEndCase {
    /// `café.fits` in Latin-1 (0xE9), as a Windows instrument PC writes it.
    private let latin1 = bytes("caf") + [0xE9] + bytes(".fits")
    /// `x\xFF.raw` and its twin `x\u{FFFD}.raw`: one decoding with replacement characters makes them one name.
    private let invalid = bytes("x") + [0xFF] + bytes(".raw")
    private let twin = bytes("x") + [0xEF, 0xBF, 0xBD] + bytes(".raw")

    private func write(_ relative: PathBytes, in root: String, _ contents: String) throws {
        try write(relative, in: bytes(root), contents)
    }

    private func write(_ relative: PathBytes, in root: PathBytes, _ contents: String) throws {
        let path = join(root, relative)
        let fd = withCPath(path) { open($0, O_WRONLY | O_CREAT | O_EXCL, 0o644) }
        guard fd >= 0 else { throw TreeError(description: "create \(text(path)): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let data = Array(contents.utf8)
        XCTAssertEqual(data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }, data.count)
    }

    /// A session with a Latin-1 file, a name that is not UTF-8 beside its U+FFFD twin, a folder and a symlink whose
    /// target is Latin-1.
    private func makeSession(_ root: String) throws {
        try FileManager.default.createDirectory(atPath: root + "/raw", withIntermediateDirectories: true)
        try write(latin1, in: root, "Latin-1 named frame\n")
        try write(invalid, in: root, "the 0xFF file\n")
        try write(twin, in: root, "its U+FFFD twin, other bytes\n")
        try write(bytes("raw/") + latin1, in: root, "nested\n")
        let link = join(bytes(root), bytes("latest"))
        XCTAssertEqual(withCPath(latin1) { target in withCPath(link) { symlink(target, $0) } }, 0, "symlink")
    }

    func testLatin1NamesArchiveRestoreAndReportByteForByte() throws {
        let bucket = try bucket
        let root = temp.file("sessions/S1")
        try makeSession(root)
        let source = try TreeSnapshot(root)
        XCTAssertEqual(source.items.count, 7, "the session as made: root, raw, 4 files, 1 link")

        // Archive and store: every name survives into the tar and the index.
        guard let stored = try archiveAndPut(root, to: "s3://\(bucket)/raw/S1.tar") else { return }
        let index = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stored.index))) as? [String: Any])
        let entries = try XCTUnwrap(index["entries"] as? [[String: Any]])
        let exactPaths: [PathBytes] = entries.map { entry in
            if let base64 = entry["path_base64"] as? String, let data = Data(base64Encoded: base64) { return Array(data) }
            return bytes(entry["path"] as? String ?? "")
        }
        for name in [latin1, invalid, twin, bytes("raw/") + latin1] {
            XCTAssertTrue(exactPaths.contains(bytes("S1/") + name), "the index holds \(text(name)) byte for byte")
        }
        XCTAssertEqual(Set(exactPaths).count, exactPaths.count, "no two entries share a path")
        XCTAssertEqual(index["files"] as? Int, 4, "four files, none counted twice or lost")
        let link = try XCTUnwrap(entries.first { $0["path"] as? String == "S1/latest" })
        XCTAssertEqual((link["target_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init), latin1,
                       "the symlink's Latin-1 target is kept exactly")

        // Restore: the same tree, name for name and byte for byte.
        let destination = try makeDirectory("restored")
        let restore = try s3restore(["--to", destination, "s3://\(bucket)/raw/S1.tar"])
        XCTAssertEqual(restore.status, 0, "s3-restore: \(restore.summary)")
        let restored = try TreeSnapshot(destination + "/S1")
        assertSameTree(restored, source, "restored Latin-1 session")
        XCTAssertEqual(readFile(join(bytes(destination + "/S1"), invalid)).map { String(decoding: $0, as: UTF8.self) },
                       "the 0xFF file\n", "the 0xFF file keeps its own bytes")
        XCTAssertEqual(readFile(join(bytes(destination + "/S1"), twin)).map { String(decoding: $0, as: UTF8.self) },
                       "its U+FFFD twin, other bytes\n", "its twin keeps its own bytes")

        // The report names each file with its exact bytes.
        let reportPath = try XCTUnwrap(statusReports(in: destination).first)
        let report = try XCTUnwrap(readFile(bytes(reportPath)))
        for name in [latin1, invalid, twin] {
            let line = bytes("S1/") + name + bytes(": OK - Downloaded and verified")
            XCTAssertNotNil(report.range(of: Data(line)), "the report has \(text(name))'s line byte for byte")
        }

        // Again: everything is found intact under its byte name.
        let again = try s3restore(["--to", destination, "s3://\(bucket)/raw/S1.tar"])
        XCTAssertEqual(again.status, 0, "second s3-restore: \(again.summary)")
        let second = try XCTUnwrap(statusReports(in: destination).sorted().last.flatMap { try? StatusReportFile(path: $0) })
        XCTAssertEqual(second.value("Successful"), "5")
        XCTAssertEqual(Set(second.outcomes.values), ["OK - Skipped (already exists)"], "all intact the second time")
    }

    /// The sessions view counts a Latin-1 file like any other: the session is backed up, and a new Latin-1 file
    /// makes it changed.
    func testSessionsViewCountsLatin1Files() throws {
        let bucket = try bucket
        let sessions = temp.file("sessions")
        let root = sessions + "/S2"
        try makeSession(root)
        XCTAssertNotNil(try archiveAndPut(root, to: "s3://\(bucket)/raw/S2.tar"))
        let catalog = temp.file("catalog.sqlite")
        func row() throws -> [String] {
            let result = try reportRun(["sessions", sessions, "--catalog", catalog, "--format", "tsv"])
            XCTAssertEqual(result.status, 0, "s3-report sessions: \(result.summary)")
            let lines = result.lines.filter { $0.hasPrefix("S2\t") }
            XCTAssertEqual(lines.count, 1, "one row for S2: \(result.lines)")
            return lines.first?.components(separatedBy: "\t") ?? []
        }
        let first = try row()
        XCTAssertEqual(first.dropFirst(2).first, "4", "four files counted: \(first)")
        XCTAssertTrue(first.contains("backed up"), "backed up: \(first)")

        try write(bytes("raw/") + [0xC5] + bytes("ngstr") + [0xF6] + bytes("m.fits"), in: root, "new frame\n")
        let second = try row()
        XCTAssertEqual(second.dropFirst(2).first, "5", "the new Latin-1 file is counted: \(second)")
        XCTAssertTrue(second.contains("changed"), "changed: \(second)")
    }

    /// A session folder named in Latin-1 (`caf\xE9_s`), as an instrument PC names it: the nightly archives it
    /// under a key that escapes the byte (`caf%E9_s.tar`), the tar's top folder keeps its bytes, the next night
    /// finds it backed up, and a restore gives the folder back byte for byte. s3-report's JSON carries the exact
    /// name and path in base64 beside their text.
    func testLatin1SessionFolderIsArchivedByTheNightlyAndRestoredByteForByte() throws {
        let bucket = try bucket
        let root = temp.file("nights")
        let folder = bytes("caf") + [0xE9] + bytes("_s")
        let year = join(bytes(root), bytes("2024"))
        let session = join(year, folder)
        try FileManager.default.createDirectory(atPath: text(year), withIntermediateDirectories: true)
        XCTAssertEqual(withCPath(session) { mkdir($0, 0o755) }, 0, "mkdir")
        try write(bytes("frame.fits"), in: session, "frame\n")
        XCTAssertEqual(withCPath(session + bytes("/raw")) { mkdir($0, 0o755) }, 0, "mkdir raw")
        try write(bytes("raw/") + latin1, in: session, "a Latin-1 file in a Latin-1 folder\n")
        let source = try TreeSnapshot(bytes: session)

        let listed = try reportRun(["sessions", root, "--no-catalog", "--format", "json"])
        XCTAssertEqual(listed.status, 0, listed.summary)
        let row = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [String: Any], listed.out)
        XCTAssertEqual(row["session"] as? String, "caf\\xE9_s", "the name as text")
        XCTAssertEqual((row["session_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init), folder)
        XCTAssertEqual((row["path_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init), session)
        XCTAssertEqual(row["files"] as? Int, 2, "both files counted")

        let catalog = temp.file("nights.sqlite")
        let arguments = nightlyArguments(root: root, dest: "s3://\(bucket)/nights/{year}/{session}.tar", catalog: catalog)
        let first = try reportNightly(arguments + ["--verbose"])
        XCTAssertEqual(first.status, 0, first.summary)
        XCTAssertTrue(first.err.contains("stored caf\\xE9_s"), first.err)
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "nights/").keys),
                       ["nights/2024/caf%E9_s.tar", "nights/2024/caf%E9_s.tar.index.json"])

        let again = try reportNightly(arguments + ["--verbose"])
        XCTAssertEqual(again.status, 0, again.summary)
        XCTAssertTrue(again.err.contains("archived 0, failed 0, already backed up 1"), again.err)

        let destination = try makeDirectory("nights-restored")
        let restore = try s3restore(["--to", destination, "s3://\(bucket)/nights/2024/caf%E9_s.tar"])
        XCTAssertEqual(restore.status, 0, restore.summary)
        XCTAssertEqual(try directoryNames(destination).filter { !text($0).hasPrefix("_download_status") }, [folder])
        assertSameTree(try TreeSnapshot(bytes: join(bytes(destination), folder)), source, "restored Latin-1 session folder")
    }

    /// `s3-put -r` of a folder with a Latin-1 file uploads it (the byte escaped as `%XX` in its key, as every key
    /// must be UTF-8), beside the others, with nothing left out; a Latin-1 file given by name goes the same way.
    /// A folder with no regular file stores nothing and says so, exit 0 (it used to crash).
    func testRecursiveUploadKeepsLatin1FilesAndAnEmptyFolderIsNoCrash() throws {
        let bucket = try bucket
        let folder = temp.file("upload")
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        try write(latin1, in: folder, "a Latin-1 frame\n")
        try write(bytes("sub/plain.txt"), in: folder, "plain\n")
        let put = try s3put(["-r", folder, "s3://\(bucket)/up/"])
        XCTAssertEqual(put.status, 0, put.summary)
        XCTAssertEqual(put.lines.count, 2, put.out)
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "up/").keys), ["up/upload/caf%E9.fits", "up/upload/sub/plain.txt"])
        // Given by name: bash spells the byte (a Swift string cannot carry it to the process).
        let one = try runProcess("/bin/bash", ["-c", #"exec "$0" --endpoint-url "$1" "$2/caf"$'\xe9'".fits" "$3""#,
                                               env.tool("s3-put"), env.endpoint, folder, "s3://\(bucket)/one/"],
                                 environment: s3putEnvironment())
        XCTAssertEqual(one.status, 0, one.summary)
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "one/").keys), ["one/caf%E9.fits"])
        XCTAssertEqual(try aws(["s3", "cp", "s3://\(bucket)/one/caf%E9.fits", "-"]).out, "a Latin-1 frame\n")

        let empty = try makeDirectory("nothing-here")
        let none = try s3put(["-r", empty, "s3://\(bucket)/none/"])
        XCTAssertEqual(none.status, 0, none.summary)
        XCTAssertEqual(none.out, "")
        XCTAssertTrue(none.err.contains("nothing to upload"), none.err)
    }

    /// Two arguments that differ only in bytes that are not UTF-8 (`caf\xE9` and `caf\xE8`) would read the same
    /// to the argument parser: refused in one line, exit 64, before anything is read or written.
    func testArgumentsThatDifferOnlyInNonUTF8BytesAreRefused() throws {
        let output = temp.file("never.tar")
        let run = try runProcess("/bin/bash", ["-c", #"exec "$0" -o "$1" --name "caf"$'\xe9' "caf"$'\xe8'"#,
                                               env.tool("s3-archive"), output],
                                 environment: env.processEnvironment())
        XCTAssertEqual(run.status, 64, run.summary)
        XCTAssertEqual(run.err.split(separator: "\n").count, 1, run.err)
        XCTAssertTrue(run.err.hasPrefix("s3-archive: arguments ") && run.err.contains("give them in separate runs"), run.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
    }
}
