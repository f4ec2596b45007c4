import Foundation
import XCTest

/// A multipart upload that fails part-way must be aborted (nothing left to bill, nothing half-written), and a
/// transient server error must be retried. The failures are made by a small HTTP proxy between s3-put and
/// SeaweedFS that answers one part's upload with an error and passes everything else through untouched
/// (the Host header included, so SigV4 signatures still verify).
final class FailedUploadTests: EndToEndCase {
    private var proxy: FaultProxy?

    override func tearDownWithError() throws {
        proxy?.stop()
        proxy = nil
        try super.tearDownWithError()
    }

    private func startProxy(failPart: Int, status: Int, code: String, times: Int) throws -> FaultProxy {
        let started = try FaultProxy(upstream: env.endpoint, directory: temp.path, environment: env.processEnvironment(),
                                     failPart: failPart, status: status, code: code, times: times)
        proxy = started
        return started
    }

    /// Part 2 is refused (BadDigest, as if corrupted on the way): s3-put fails, aborts the upload, and no
    /// object and no multipart upload remain.
    func testPartRefusedAbortsTheUpload() throws {
        let bucket = try bucket
        let proxy = try startProxy(failPart: 2, status: 400, code: "BadDigest", times: -1)
        let source = temp.file("doomed.bin")
        try makeRandomFile(source, size: 16 * MiB)

        for (how, arguments, input) in [
            ("file", [source, "s3://\(bucket)/doomed-file.bin"], ProcessInput.none),
            ("stdin", ["s3://\(bucket)/doomed-stream.bin"], ProcessInput.pipedFile(source)),
        ] {
            let result = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB"] + arguments,
                                   input: input, endpoint: false)
            XCTAssertEqual(result.status, 1, "\(how): a part the server refuses fails the upload: \(result.summary)")
            XCTAssertEqual(result.out, "", "\(how): no record for a failed upload")
            XCTAssertTrue(result.err.contains("BadDigest"), "\(how): stderr should say what the server said: \(result.err)")
        }
        XCTAssertEqual(try multipartUploads(bucket), [], "the failed uploads must be aborted")
        XCTAssertNil(try headObject(bucket, "doomed-file.bin"))
        XCTAssertNil(try headObject(bucket, "doomed-stream.bin"))
        let log = proxy.requestLog()
        XCTAssertTrue(log.contains { $0.hasPrefix("DELETE ") && $0.contains("uploadId=") },
                      "an AbortMultipartUpload must have been sent; requests: \(log)")
        XCTAssertTrue(log.contains { $0.hasPrefix("FAILED ") }, "the proxy never failed a part: \(log)")
    }

    /// Part 2 meets one 503 SlowDown: s3-put retries it and the upload succeeds, identical.
    func testSlowDownIsRetried() throws {
        let bucket = try bucket
        let proxy = try startProxy(failPart: 2, status: 503, code: "SlowDown", times: 1)
        let source = temp.file("retried.bin")
        try makeRandomFile(source, size: 12 * MiB)
        let result = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", source,
                                "s3://\(bucket)/retried.bin"], endpoint: false)
        let record = singleRecord(result)
        XCTAssertEqual(record?.etag, try etagOf(source, partSize: "5MiB"))
        XCTAssertEqual(try headObject(bucket, "retried.bin")?.etag, record?.etag)
        XCTAssertEqual(try readBackSHA256(bucket, "retried.bin"), try sha256(ofFile: source))
        XCTAssertEqual(proxy.requestLog().filter { $0.hasPrefix("FAILED ") }.count, 1)
    }

    /// SIGTERM in the middle of a stream's multipart upload (parts sent, the stream still open): s3-put aborts
    /// the upload before it exits, so nothing is left to bill.
    func testInterruptedUploadIsAborted() throws {
        let bucket = try bucket
        let key = "interrupted/stream.tar"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: env.tool("s3-put"))
        process.arguments = ["--endpoint-url", env.endpoint, "--part-size", "5MiB", "s3://\(bucket)/\(key)"]
        process.environment = s3putEnvironment()
        let stdin = Pipe()
        process.standardInput = stdin
        let outPath = temp.file("interrupted.out"), errPath = temp.file("interrupted.err")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        try? stdin.fileHandleForReading.close()

        // Two and a half parts, and the stream stays open: s3-put has started the upload and waits for more.
        let writer = stdin.fileHandleForWriting
        let data = Data(repeating: 0x5a, count: 12 * MiB)
        DispatchQueue.global().async { try? writer.write(contentsOf: data) }

        var started = false
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, process.isRunning {
            if try multipartUploads(bucket).contains(key) { started = true; break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTAssertTrue(started, "the multipart upload never showed up")
        process.terminate()
        let stopped = exited.wait(timeout: .now() + 15) == .success
        try? writer.close()
        if !stopped {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        XCTAssertTrue(stopped, "s3-put did not stop within 15 s of SIGTERM")
        XCTAssertNotEqual(process.terminationStatus, 0, "an interrupted upload is not a success; stderr: \(err)")
        XCTAssertEqual(try String(contentsOfFile: outPath, encoding: .utf8), "", "no record for an interrupted upload")
        XCTAssertEqual(try multipartUploads(bucket), [], "the interrupted upload must be aborted; stderr: \(err)")
        XCTAssertNil(try headObject(bucket, key))
    }

    /// The connection drops (no answer at all) during part 2, once: a transport failure, retried.
    func testDroppedConnectionIsRetried() throws {
        let bucket = try bucket
        let proxy = try startProxy(failPart: 2, status: 0, code: "", times: 1)
        let source = temp.file("dropped.bin")
        try makeRandomFile(source, size: 11 * MiB)
        let stream = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", "s3://\(bucket)/dropped.bin"],
                               input: .pipedFile(source), endpoint: false)
        XCTAssertEqual(singleRecord(stream)?.etag, try etagOf(source, partSize: "5MiB"))
        XCTAssertEqual(proxy.requestLog().filter { $0.hasPrefix("FAILED ") }.count, 1)
        XCTAssertEqual(try readBackSHA256(bucket, "dropped.bin"), try sha256(ofFile: source))
    }

    /// A server that keeps answering 503: after AWS_MAX_ATTEMPTS attempts, exit 69, and the upload is aborted.
    func testPersistentServerErrorGivesUpAndAborts() throws {
        let bucket = try bucket
        let proxy = try startProxy(failPart: 2, status: 503, code: "SlowDown", times: -1)
        let source = temp.file("unlucky.bin")
        try makeRandomFile(source, size: 11 * MiB)
        let result = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", source,
                                "s3://\(bucket)/unlucky.bin"], endpoint: false,
                               environment: ["AWS_MAX_ATTEMPTS": "3"], timeout: 60)
        XCTAssertEqual(result.status, 69, result.summary)
        XCTAssertLessThan(result.duration, 30)
        XCTAssertEqual(result.out, "")
        XCTAssertEqual(proxy.requestLog().filter { $0.hasPrefix("FAILED ") }.count, 3, "AWS_MAX_ATTEMPTS=3 attempts")
        XCTAssertEqual(try multipartUploads(bucket), [], "the failed upload must be aborted")
        XCTAssertNil(try headObject(bucket, "unlucky.bin"))
    }
}
