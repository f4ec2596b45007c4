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

    // MARK: 4. What is at a file's place is read only if it is a regular file

    func testFifoOrSymlinkAtAFilesPlaceIsReplacedNeverRead() throws {
        let bucket = try bucket
        let session = "sess-fifo"
        let source = temp.file("src/" + session)
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        for name in ["fifo.fits", "zero.fits", "outside.fits", "device.fits"] { try write(source + "/" + name, name + "\n") }
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard try archiveAndPut(source, to: url) != nil else { return }

        // A FIFO (an open would block for ever), a symlink to /dev/zero (a read would never end), a symlink to a
        // file of the user's outside --to, and, where the sandbox allows mknod, a device (/dev/null's numbers).
        let destination = try makeDirectory("dest")
        let place = destination + "/" + session
        try FileManager.default.createDirectory(atPath: place, withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(place + "/fifo.fits", 0o644), 0)
        XCTAssertEqual(symlink("/dev/zero", place + "/zero.fits"), 0)
        let mine = temp.file("mine.txt")
        try write(mine, "the user's own file\n")
        XCTAssertEqual(symlink(mine, place + "/outside.fits"), 0)
        let madeDevice = mknod(place + "/device.fits", S_IFCHR | 0o644, dev_t((1 << 8) | 3)) == 0

        let dry = try s3restore(["--dry-run", "--to", destination, url], timeout: 30)
        XCTAssertEqual(dry.status, 0, dry.summary)
        for name in ["fifo.fits", "zero.fits", "outside.fits"] + (madeDevice ? ["device.fits"] : []) {
            XCTAssertTrue(dry.err.contains("would fetch \(session)/\(name)"), "\(name): \(dry.err)")
        }

        let result = try s3restore(["--to", destination, url], timeout: 30)
        XCTAssertEqual(result.status, 0, result.summary)
        for name in ["fifo.fits", "zero.fits", "outside.fits", "device.fits"] {
            var info = stat()
            XCTAssertEqual(lstat(place + "/" + name, &info), 0)
            XCTAssertEqual(info.st_mode & S_IFMT, S_IFREG, "\(name) is now a regular file (GNU tar replaces a non-directory)")
            XCTAssertEqual(try? String(contentsOfFile: place + "/" + name, encoding: .utf8), name + "\n")
        }
        XCTAssertEqual(try? String(contentsOfFile: mine, encoding: .utf8), "the user's own file\n", "the link's target was written")
        if let report = try onlyReport(in: destination) {
            XCTAssertEqual(report.value("Status"), "SUCCESS", report.lines.joined(separator: "\n"))
        }
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [])

        // One object, one file: the same.
        let objectKey = "raw-fifo/run/a.raw"
        let piece = temp.file("a.raw")
        try write(piece, "raw bytes\n")
        let copy = try aws(["s3", "cp", piece, "s3://\(bucket)/\(objectKey)"])
        XCTAssertEqual(copy.status, 0, copy.summary)
        let objects = try makeDirectory("dest-objects")
        XCTAssertEqual(mkfifo(objects + "/a.raw", 0o644), 0)
        let prefix = try s3restore(["--to", objects, "s3://\(bucket)/raw-fifo/run/"], timeout: 30)
        XCTAssertEqual(prefix.status, 0, prefix.summary)
        XCTAssertEqual(try? String(contentsOfFile: objects + "/a.raw", encoding: .utf8), "raw bytes\n")
    }

    // MARK: 5. The index is checked against the tar

    func testIndexWithAFlippedPathByteFailsThatFile() throws {
        let bucket = try bucket
        let session = "sess-flip"
        let source = temp.file("src/" + session)
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try makeRandomFile(source + "/b.fits", size: 70_000)
        try write(source + "/other.txt", "other\n")
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard let put = try archiveAndPut(source, to: url) else { return }

        // The index object replaced by one with a byte of a path changed: b.fits becomes c.fits. Its ETag then
        // matches its bytes; only the tar can tell.
        var text = try String(contentsOfFile: put.index, encoding: .utf8)
        XCTAssertTrue(text.contains("\"\(session)/b.fits\""))
        text = text.replacingOccurrences(of: "\"\(session)/b.fits\"", with: "\"\(session)/c.fits\"")
        let flipped = temp.file("flipped.index.json")
        try text.write(toFile: flipped, atomically: true, encoding: .utf8)
        let copy = try aws(["s3", "cp", flipped, "s3://\(bucket)/backups/\(session).tar.index.json"])
        XCTAssertEqual(copy.status, 0, copy.summary)

        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, url])
        XCTAssertEqual(result.status, 1, result.summary)
        guard let report = try onlyReport(in: destination) else { return }
        let all = report.lines.joined(separator: "\n")
        XCTAssertEqual(report.outcomes["\(session)/c.fits"],
                       "FAILURE - the tar's header names \(session)/b.fits, not this path (the index is damaged)", all)
        XCTAssertTrue(report.outcomes["\(session)/other.txt"]?.hasPrefix("OK - Downloaded") ?? false, all)
        XCTAssertEqual(report.value("Status"), "PARTIAL FAILURE", all)
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/\(session)/c.fits"), "b.fits's bytes restored as c.fits")
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [])
    }
}

/// A ustar header block for a regular file: what precedes a file's data in a tar, for indexes made by hand.
func ustarHeader(name: String, size: Int, mode: Int = 0o644) -> Data {
    var block = [UInt8](repeating: 0, count: 512)
    func put(_ text: String, at offset: Int) { for (i, byte) in text.utf8.enumerated() { block[offset + i] = byte } }
    put(name, at: 0)
    put(String(format: "%07o", mode), at: 100)
    put("0000000", at: 108)
    put("0000000", at: 116)
    put(String(format: "%011o", size), at: 124)
    put(String(format: "%011o", 1_600_000_000), at: 136)
    put("0", at: 156)
    put("ustar", at: 257)
    put("00", at: 263)
    put("        ", at: 148)
    let sum = block.reduce(0) { $0 + Int($1) }
    put(String(format: "%06o", sum), at: 148)
    block[154] = 0
    return Data(block)
}
