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

/// A pass-through HTTP proxy in python3 that fails the upload of one part number: with an S3 error of the given
/// HTTP status and code, or (status 0) by closing the connection without an answer; `times` times, -1 for always.
final class FaultProxy {
    let endpoint: String
    private let process: Process
    private let logPath: String

    static let script = #"""
import http.client, http.server, json, sys, threading, urllib.parse

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_file = sys.argv[2], sys.argv[3]
rule = json.loads(sys.argv[4])
lock = threading.Lock()
remaining = [rule["times"]]

def log(line):
    with lock:
        with open(log_file, "a") as f:
            f.write(line + "\n")

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.command == "PUT" and query.get("partNumber") == [str(rule["part"])]:
            with lock:
                fail = remaining[0] != 0
                if remaining[0] > 0:
                    remaining[0] -= 1
            if fail:
                log("FAILED " + self.command + " " + self.path)
                if rule["status"] == 0:
                    # Drop the connection without an answer, as a reset or a crashed server would.
                    self.close_connection = True
                    return
                reply = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code>'
                         '<Message>injected by the test proxy</Message><RequestId>proxy</RequestId></Error>'
                         % rule["code"]).encode()
                self.send_response_only(rule["status"])
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                return
        log(self.command + " " + self.path)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() in ("expect", "connection", "keep-alive", "proxy-connection"):
                continue
            conn.putheader(name, value)
        conn.endheaders(body if body else None)
        response = conn.getresponse()
        data = response.read()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                continue
            self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", response.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"""#

    init(upstream: String, directory: String, environment: [String: String],
         failPart: Int, status: Int, code: String, times: Int) throws {
        guard let python = which("python3") else {
            XCTFail("python3 is not on PATH")
            throw TestEnvironment.Missing()
        }
        let portFile = directory + "/proxy.port"
        logPath = directory + "/proxy.log"
        let rule = "{\"part\": \(failPart), \"status\": \(status), \"code\": \"\(code)\", \"times\": \(times)}"
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", Self.script, upstream, portFile, logPath, rule]
        process.environment = environment
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        var port: String?
        while Date() < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), !text.isEmpty {
                port = text
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard let port else {
            if process.isRunning { process.terminate() }
            XCTFail("the test proxy did not start")
            throw TestEnvironment.Missing()
        }
        endpoint = "http://127.0.0.1:\(port)"
    }

    /// The requests seen, one per line: "METHOD /path?query", or "FAILED METHOD /path?query" for an injected error.
    func requestLog() -> [String] {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
