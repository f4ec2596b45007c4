import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// s3-restore is safe where the user is: the destination is created, nothing outside it is changed through a
/// symlink already there, special permission bits are not restored unasked, and what is at a file's place is
/// never read unless it is a regular file. Archives made by `s3-archive | s3-put` on SeaweedFS.
final class RestoreSafetyTests: EndToEndCase {
    /// lstat's mode and mtime (seconds, nanoseconds) of `path`.
    private func modeAndTime(_ path: String) throws -> (mode: Int, seconds: Int, nanoseconds: Int) {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw TreeError(description: "lstat \(path): \(String(cString: strerror(errno)))") }
        return (Int(info.st_mode & 0o7777), info.st_mtim.tv_sec, info.st_mtim.tv_nsec)
    }

    private func write(_ path: String, _ text: String, mode: Int = 0o644) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw TreeError(description: "cannot create \(path)")
        }
        try chmodOrThrow(path, mode)
    }

    // MARK: 1. The destination is made

    func testMissingDestinationIsCreatedWithItsParents() throws {
        let bucket = try bucket
        let session = "sess-mkdir"
        let source = temp.file("src/" + session)
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try write(source + "/a.txt", "a\n")
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard try archiveAndPut(source, to: url) != nil else { return }

        let destination = temp.file("new/deeper/dest")
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp.file("new")))
        let dry = try s3restore(["--dry-run", "--to", destination, url])
        XCTAssertEqual(dry.status, 0, dry.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp.file("new")), "a dry run creates nothing")

        let result = try s3restore(["--to", destination, url])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(try? String(contentsOfFile: destination + "/\(session)/a.txt", encoding: .utf8), "a\n")
        XCTAssertEqual(try onlyReport(in: destination)?.value("Status"), "SUCCESS")

        // A destination that cannot be made (a file is in the way) is a local I/O error, before any request.
        let blocked = temp.file("a-file")
        try write(blocked, "x")
        let refused = try s3restore(["--to", blocked + "/dest", url])
        XCTAssertEqual(refused.status, 74, refused.summary)
        XCTAssertTrue(refused.err.contains("\(blocked)/dest: cannot create the destination directory"), refused.err)
    }

    // MARK: 2. A symlink where the archive has a folder

    func testSymlinkWhereTheArchiveHasAFolderIsRefusedAndNothingOutsideChanges() throws {
        let bucket = try bucket
        let session = "sess-linked"
        let source = temp.file("src/" + session)
        try FileManager.default.createDirectory(atPath: source + "/data/sub", withIntermediateDirectories: true)
        try write(source + "/data/frame.fits", "frame\n")
        try write(source + "/data/sub/deep.fits", "deep\n")
        try write(source + "/notes.txt", "notes\n")
        try chmodOrThrow(source + "/data", 0o700)
        try chmodOrThrow(source + "/data/sub", 0o700)
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard try archiveAndPut(source, to: url) != nil else { return }

        // The user's destination already holds S/data -> elsewhere (another folder of theirs, 0755).
        let elsewhere = try makeDirectory("elsewhere")
        try chmodOrThrow(elsewhere, 0o755)
        try setMtime(elsewhere, seconds: 1_500_000_000, nanoseconds: 123_000_000)
        let destination = try makeDirectory("dest")
        try FileManager.default.createDirectory(atPath: destination + "/" + session, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(elsewhere, destination + "/\(session)/data"), 0)
        let before = try modeAndTime(elsewhere)

        for run in 1...2 {
            let result = try s3restore(["--to", destination, url])
            XCTAssertEqual(result.status, 1, "run \(run): \(result.summary)")
            guard let report = try onlyReport(in: destination) else { return }
            let text = "run \(run):\n" + report.lines.joined(separator: "\n")
            let outcomes = report.outcomes
            XCTAssertEqual(outcomes["\(session)/data"],
                           "FAILURE - refused: a symbolic link is in the way of this folder: move \(destination)/\(session)/data aside and run again",
                           text)
            for path in ["\(session)/data/frame.fits", "\(session)/data/sub", "\(session)/data/sub/deep.fits"] {
                XCTAssertTrue(outcomes[path]?.hasPrefix("FAILURE - refused") ?? false, "\(path): \(text)")
            }
            XCTAssertTrue(outcomes["\(session)/notes.txt"]?.hasPrefix("OK - ") ?? false, text)
            XCTAssertEqual(report.value("Status"), "PARTIAL FAILURE", text)
            XCTAssertNil(outcomes[session], "a folder restored well has no line: \(text)")

            let after = try modeAndTime(elsewhere)
            XCTAssertEqual(String(after.mode, radix: 8), String(before.mode, radix: 8), "run \(run): the mode outside --to changed")
            XCTAssertEqual(after.seconds, before.seconds, "run \(run): the mtime outside --to changed")
            XCTAssertEqual(after.nanoseconds, before.nanoseconds, "run \(run): the mtime outside --to changed")
            XCTAssertEqual(allPaths(under: elsewhere), [], "run \(run): written through the symlink")
            XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: destination + "/\(session)/data"), elsewhere)
            XCTAssertEqual(leftoverTemporaryFiles(under: destination), [])
            statusReports(in: destination).forEach { try? FileManager.default.removeItem(atPath: $0) }
        }
    }

    // MARK: 3. setuid, setgid, sticky

    func testSpecialBitsAreDroppedUnlessSamePermissions() throws {
        let bucket = try bucket
        let session = "sess-suid"
        let source = temp.file("src/" + session)
        try FileManager.default.createDirectory(atPath: source + "/shared", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: source + "/group", withIntermediateDirectories: true)
        try write(source + "/tool", "#!/bin/sh\n", mode: 0o755)
        try chmodOrThrow(source + "/tool", 0o4755)
        try write(source + "/group/g", "g\n", mode: 0o644)
        try chmodOrThrow(source + "/group/g", 0o2755)
        try chmodOrThrow(source + "/shared", 0o1777)
        try chmodOrThrow(source + "/group", 0o2775)
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard let put = try archiveAndPut(source, to: url) else { return }
        let recorded = try IndexFile(path: put.index).entries.compactMap { entry -> (String, Int)? in
            guard let path = entry["path"] as? String, let mode = (entry["mode"] as? NSNumber)?.intValue else { return nil }
            return (path, mode & 0o7777)
        }
        XCTAssertEqual(Dictionary(recorded, uniquingKeysWith: { a, _ in a })["\(session)/tool"], 0o4755, "the index records the setuid bit")

        let expected: [(String, dropped: Int, kept: Int)] = [
            ("tool", 0o755, 0o4755), ("group/g", 0o755, 0o2755), ("shared", 0o777, 0o1777), ("group", 0o775, 0o2775),
        ]
        for same in [false, true] {
            let destination = try makeDirectory(same ? "dest-same" : "dest")
            let result = try s3restore((same ? ["--same-permissions"] : []) + ["--to", destination, url])
            XCTAssertEqual(result.status, 0, result.summary)
            for (path, dropped, kept) in expected {
                let mode = try modeAndTime(destination + "/\(session)/" + path).mode
                XCTAssertEqual(String(mode, radix: 8), String(same ? kept : dropped, radix: 8),
                               "\(path) \(same ? "with" : "without") --same-permissions")
            }
        }
        let help = try runProcess(env.tool("s3-restore"), ["--help"], environment: env.processEnvironment())
        XCTAssertTrue(help.out.contains("--same-permissions"), help.out)
    }
}
