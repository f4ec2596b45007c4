import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A session that changes while s3-archive reads it (an instrument still writing) is not stored: s3-archive exits
/// 75 naming the file, and the nightly lists the session as postponed, not failed, and stores it once it is still.
final class GrowingFileTests: EndToEndCase {
    /// s3-archive writes into a pipe nobody reads, so it blocks a few MiB into a sparse 200 MiB file; `change` then
    /// alters that file before the pipe is drained. The run must end with 75 and one line naming the file.
    private func archiveWhileWritten(_ label: String, file: StaticString = #filePath, line: UInt = #line,
                                     change: (_ big: String) throws -> Void) throws {
        let root = temp.file("written-\(label)/S")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let big = root + "/a_big.fits"
        XCTAssertTrue(FileManager.default.createFile(atPath: big, contents: nil))
        XCTAssertEqual(truncate(big, off_t(200 * MiB)), 0)
        try reportWrite(root + "/b_after.txt", "after\n")
        let index = temp.file("written-\(label)/S.idx")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: env.tool("s3-archive"))
        process.arguments = ["--index", index, root]
        process.environment = env.processEnvironment()
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        defer { watchdog.cancel() }
        let stderr = Locked(Data())
        let readers = DispatchGroup()
        let errHandle = err.fileHandleForReading
        DispatchQueue.global().async(group: readers) { stderr.withLock { $0 = errHandle.readDataToEndOfFile() } }

        // Blocked on the full pipe: the read position in the big file stops moving.
        var position: Int?, steady = 0
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, process.isRunning, steady < 3 {
            Thread.sleep(forTimeInterval: 0.1)
            let now = readPosition(pid: pid, of: big)
            steady = (now != nil && now! > 0 && now == position) ? steady + 1 : 0
            position = now
        }
        guard steady >= 3 else {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return XCTFail("\(label): s3-archive never blocked reading \(big)", file: file, line: line)
        }
        try change(big)
        let outHandle = out.fileHandleForReading
        while !outHandle.availableData.isEmpty {}
        process.waitUntilExit()
        readers.wait()
        let message = String(decoding: stderr.current, as: UTF8.self).trimmingCharacters(in: .newlines)
        XCTAssertEqual(process.terminationStatus, 75, "\(label): \(message)", file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "\(label): one line: \(message)", file: file, line: line)
        XCTAssertTrue(message.hasPrefix("s3-archive: \(big): "), "\(label): names the file: \(message)", file: file, line: line)
        XCTAssertTrue(message.hasSuffix("is it still being written? try again later"), "\(label): \(message)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: index), "\(label): no index", file: file, line: line)
    }

    func testFileAppendedWhileReadIsStillBeingWritten() throws {
        try archiveWhileWritten("appended") { big in
            let handle = try XCTUnwrap(FileHandle(forWritingAtPath: big))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(repeating: 7, count: 4096))
            try handle.close()
        }
    }

    /// Same size, new bytes: only the mtime tells.
    func testFileRewrittenInPlaceWhileReadIsStillBeingWritten() throws {
        try archiveWhileWritten("rewritten") { big in
            let handle = try XCTUnwrap(FileHandle(forWritingAtPath: big))
            try handle.seek(toOffset: UInt64(150 * MiB))
            try handle.write(contentsOf: Data(repeating: 9, count: 4096))
            try handle.close()
            // The clock's tick could leave the mtime as it was: set one that differs for sure.
            try reportSetMtime(big, Date(timeIntervalSince1970: 1_500_000_000))
        }
    }

    /// Only the ctime tells (a chmod).
    func testFileWhoseStatusChangedWhileReadIsStillBeingWritten() throws {
        try archiveWhileWritten("chmod") { big in XCTAssertEqual(chmod(big, 0o600), 0) }
    }

    /// A writer appends to a session's file all through the night's run: postponed, exit 0, nothing stored, no
    /// upload left; the next night, once the writer is done, it is stored.
    func testNightlyPostponesASessionStillBeingWritten() throws {
        let bucket = try bucket
        let root = temp.file("growing-root")
        let path = root + "/2024/2024-06-06_w"
        let growing = path + "/frames.raw"
        try reportSparseFile(growing, size: 48 * MiB)
        try reportWrite(path + "/meta.txt", "writing\n")
        try reportRandomFile(root + "/2024/2024-06-07_done/d.bin", size: 3000)
        let catalog = temp.file("growing-catalog.sqlite")
        let args = nightlyArguments(root: root, dest: "s3://\(bucket)/growing/{year}/{session}.tar", catalog: catalog)

        let stop = Locked(false)
        let writer = Thread {
            guard let handle = FileHandle(forWritingAtPath: growing) else { return }
            defer { try? handle.close() }
            while !stop.current {
                _ = try? handle.seekToEnd()
                try? handle.write(contentsOf: Data(repeating: 1, count: 512))
                usleep(200)
            }
        }
        writer.start()
        let night = try reportNightly(args + ["--verbose"])
        stop.withLock { $0 = true }
        Thread.sleep(forTimeInterval: 0.1)

        XCTAssertEqual(night.status, 0, "postponed is no failure: \(night.summary)")
        XCTAssertTrue(night.err.contains("archived 1, failed 0"), night.err)
        XCTAssertTrue(night.err.contains("postponed 1"), night.err)
        XCTAssertTrue(night.err.contains("postponed 2024-06-06_w"), night.err)
        XCTAssertFalse(night.err.contains("FAILED"), night.err)
        let log = (try? String(contentsOfFile: temp.file("nightly.log"), encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("postponed 2024-06-06_w") && log.contains("still being written"), log)
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "growing/").keys),
                       ["growing/2024/2024-06-07_done.tar", "growing/2024/2024-06-07_done.tar.index.json"],
                       "nothing of the session being written")
        assertNoMultipartUploads(bucket)
        XCTAssertEqual(try nightlySessions(root, catalog: catalog).first { $0["session"] == "2024-06-06_w" }?["state"],
                       "not backed up")

        let next = try reportNightly(args)
        XCTAssertEqual(next.status, 0, next.summary)
        XCTAssertEqual(next.err, "", "quiet once the writer is done")
        XCTAssertNotNil(try reportObjects(bucket, prefix: "growing/")["growing/2024/2024-06-06_w.tar"])
    }

    /// s3-put of a file appended to while its parts are sent (a proxy holds each part back 2 s): nothing is
    /// stored, no upload is left, and the run ends with 75 naming the file, like s3-archive.
    func testFileAppendedWhileUploadedIsNotStored() throws {
        let bucket = try bucket
        let path = temp.file("uploaded-while-written.bin")
        try makeRandomFile(path, size: 11 * MiB)
        let proxy = try CountingProxy(upstream: env.endpoint, directory: temp.file("growing-proxy"),
                                      environment: env.processEnvironment(), delay: 2, delayed: "PART")
        defer { proxy.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: env.tool("s3-put"))
        process.arguments = ["--endpoint-url", proxy.endpoint, "--no-catalog", "--part-size", "5MiB", path,
                             "s3://\(bucket)/growing/while-uploaded.bin"]
        process.environment = env.processEnvironment()
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        Thread.sleep(forTimeInterval: 1)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(repeating: 7, count: 4096))
        try handle.close()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .newlines)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 75, message)
        XCTAssertTrue(message.hasPrefix("s3-put: \(path): ") && message.hasSuffix("try again later"), message)
        XCTAssertNil(try headObject(bucket, "growing/while-uploaded.bin"), "nothing stored")
        assertNoMultipartUploads(bucket)
    }
}
