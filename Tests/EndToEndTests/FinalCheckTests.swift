// Nothing false at the key: when the final check of a write fails (the ETag a PUT or a completion answers, the
// HEAD after a completion), what was written is deleted, the version written on a versioned bucket. And a
// completion whose answer is lost after the server carried it out ends well: the retry's refusal
// (412 on SeaweedFS, NoSuchUpload on AWS) is settled by reading the key.

import Foundation
import XCTest

/// A pass-through proxy in python3 that falsifies one kind of answer. It is a stand-in for faults no real server
/// produces on demand: a wrong ETag in a PUT's, a completion's or a HEAD's answer (`etag`, `head`); a completion
/// carried out by the server whose answer never arrives (`cut`; `cutput` for a single PUT); and that, followed
/// by AWS's NoSuchUpload for
/// the retry (`nosuchupload`: AWS forgets a completed upload, SeaweedFS and moto do not). The real server
/// behind it does all the work; every other request passes untouched.
final class WriteFaultProxy {
    private let running: RunningProxy
    var endpoint: String { running.endpoint }
    private var logPath: String { running.logPath }

    static let script = #"""
import http.client, http.server, os, re, sys, threading, urllib.parse

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_file, mode = sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()
completions = [0]
BOGUS = "0123456789abcdef0123456789abcdef"

def log(line):
    with lock:
        with open(log_file, "a") as f:
            f.write(line + "\n")

def forward(handler, body):
    conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
    conn.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
    for name, value in handler.headers.items():
        if name.lower() not in ("expect", "connection", "keep-alive", "proxy-connection"):
            conn.putheader(name, value)
    conn.endheaders(body if body else None)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.reason, response.getheaders(), data

def answer(handler, status, reason, headers, data):
    handler.send_response_only(status, reason)
    length = "0"
    for name, value in headers:
        if name.lower() == "content-length":
            length = value
        if name.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
            handler.send_header(name, value)
    handler.send_header("Content-Length", length if handler.command == "HEAD" else str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)

def falsified(headers, data):
    headers = [(k, '"%s"' % BOGUS if k.lower() == "etag" else v) for k, v in headers]
    return headers, re.sub(rb"<ETag>[^<]*</ETag>", b"<ETag>&quot;" + BOGUS.encode() + b"&quot;</ETag>", data)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
        completion = self.command == "POST" and "uploadId" in query
        single_put = self.command == "PUT" and "partNumber" not in query
        if single_put and mode == "cutput":
            with lock:
                completions[0] += 1
                number = completions[0]
            if number == 1:
                forward(self, body)
                log("CUT " + self.path)
                self.close_connection = True
                return
        if completion and mode in ("cut", "nosuchupload"):
            with lock:
                completions[0] += 1
                number = completions[0]
            if number == 1:
                forward(self, body)
                log("CUT " + self.path)
                # The server completed the upload; its answer is lost, as with a reset connection.
                self.close_connection = True
                return
            if mode == "nosuchupload":
                log("NOSUCHUPLOAD " + self.path)
                reply = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code>'
                         b'<Message>The specified upload does not exist.</Message><RequestId>proxy</RequestId></Error>')
                answer(self, 404, "Not Found", [("Content-Type", "application/xml")], reply)
                return
        status, reason, headers, data = forward(self, body)
        if status == 200 and ((mode == "etag" and (completion or single_put)) or (mode == "head" and self.command == "HEAD")):
            headers, data = falsified(headers, data)
            log("FALSIFIED " + self.command + " " + self.path)
        answer(self, status, reason, headers, data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

\#(proxyServe)
"""#

    init(upstream: String, directory: String, environment: [String: String], mode: String) throws {
        running = try RunningProxy(script: Self.script, upstream: upstream, arguments: [mode], directory: directory,
                                   file: "write-fault-proxy", name: "the write fault proxy", environment: environment)
    }

    /// What the proxy did, one line per falsified, cut or faked answer.
    var log: [String] {
        running.logLines
    }

    func stop() { running.stop() }
}

final class FinalCheckTests: EndToEndCase {
    private func proxy(_ server: ServerBucket, mode: String) throws -> WriteFaultProxy {
        try WriteFaultProxy(upstream: server.endpoint, directory: temp.file("proxy-\(mode)-\(UUID().uuidString)"),
                            environment: env.processEnvironment(), mode: mode)
    }

    /// A PUT, a completion and a HEAD after a completion each answer a wrong ETag: exit 1, the message says the
    /// object was deleted, and nothing is at the key (aws-cli, straight to the server, finds nothing).
    func testAFailedFinalCheckLeavesNoObject() throws {
        let small = temp.file("small.bin"), big = temp.file("big.bin")
        try makeRandomFile(small, size: 3000)
        try makeRandomFile(big, size: 11 * MiB)
        try onBothServers("finalcheck") { server in
            for (mode, source, key) in [("etag", small, "single.bin"), ("etag", big, "multi.bin"), ("head", big, "head.bin")] {
                let proxy = try proxy(server, mode: mode)
                defer { proxy.stop() }
                let result = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", source,
                                        "s3://\(server.bucket)/\(key)"], endpoint: false)
                XCTAssertEqual(result.status, 1, "\(server.name) \(mode) \(key): \(result.summary)")
                XCTAssertTrue(result.err.contains("deleted"), "\(server.name) \(key): the message says so: \(result.err)")
                XCTAssertFalse(proxy.log.isEmpty, "the proxy falsified an answer")
                XCTAssertNil(try headObject(server.bucket, key, endpoint: server.endpoint), "\(server.name): nothing at \(key)")
                XCTAssertEqual(try multipartUploads(server.bucket, endpoint: server.endpoint), [], "\(server.name): no upload left")
            }
        }
    }

    /// On a versioned bucket with --replace, only the version just written is deleted: the one before is
    /// current again, and no delete marker hides it.
    func testOnAVersionedBucketOnlyTheVersionWrittenIsDeleted() throws {
        let first = temp.file("first.bin"), second = temp.file("second.bin")
        try makeRandomFile(first, size: 2000)
        try makeRandomFile(second, size: 2500)
        try onBothServers("versioned") { server in
            let versioned = server.bucket + "-v"
            XCTAssertEqual(try aws(["s3", "mb", "s3://\(versioned)"], endpoint: server.endpoint).status, 0)
            defer { _ = try? aws(["s3", "rb", "--force", "s3://\(versioned)"], endpoint: server.endpoint) }
            let enabled = try aws(["s3api", "put-bucket-versioning", "--bucket", versioned,
                                   "--versioning-configuration", "Status=Enabled"], endpoint: server.endpoint)
            XCTAssertEqual(enabled.status, 0, enabled.summary)
            let target = ServerBucket(name: server.name, endpoint: server.endpoint, bucket: versioned)
            XCTAssertEqual(try put(target, [first, "s3://\(versioned)/kept.bin"]).status, 0)
            let proxy = try proxy(server, mode: "etag")
            defer { proxy.stop() }
            let result = try s3put(["--endpoint-url", proxy.endpoint, "--replace", second, "s3://\(versioned)/kept.bin"],
                                   endpoint: false)
            XCTAssertEqual(result.status, 1, "\(server.name): \(result.summary)")
            XCTAssertEqual(try readBack(target, "kept.bin"), try sha256(ofFile: first), "\(server.name): the first version is back")
            let versions = try aws(["s3api", "list-object-versions", "--bucket", versioned, "--output", "json"],
                                   endpoint: server.endpoint)
            let listing = try JSONSerialization.jsonObject(with: versions.stdout) as? [String: Any]
            XCTAssertEqual((listing?["Versions"] as? [Any])?.count, 1, "\(server.name): one version left: \(versions.out)")
            XCTAssertNil(listing?["DeleteMarkers"], "\(server.name): no delete marker: \(versions.out)")
        }
    }

    /// A version under Object Lock (COMPLIANCE) cannot be deleted: after a failed final check a delete marker
    /// hides it, so a reader of the key finds nothing false (SeaweedFS, which enforces the lock).
    func testALockedVersionThatFailsItsCheckIsHidden() throws {
        let source = temp.file("locked.bin")
        try makeRandomFile(source, size: 3000)
        let locked = uniqueBucketName("finalcheck-locked")
        let made = try aws(["s3api", "create-bucket", "--bucket", locked, "--object-lock-enabled-for-bucket"])
        XCTAssertEqual(made.status, 0, made.summary)
        let proxy = try proxy(ServerBucket(name: "SeaweedFS", endpoint: env.endpoint, bucket: locked), mode: "etag")
        defer { proxy.stop() }
        let result = try s3put(["--endpoint-url", proxy.endpoint, "--retain-until", "1d", "--retention-mode", "COMPLIANCE",
                                source, "s3://\(locked)/locked.bin"], endpoint: false)
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertTrue(result.err.contains("delete marker"), "the message says the version is hidden: \(result.err)")
        XCTAssertNil(try headObject(locked, "locked.bin"), "nothing readable at the key")
    }

    /// A single PUT stored by the server whose answer is lost: the retry, conditional, is refused (412) since
    /// the object is there; s3-put reads the key, finds its own bytes, and records the object stored.
    func testAPutWhoseAnswerIsLostEndsWell() throws {
        let small = temp.file("small.bin")
        try makeRandomFile(small, size: 4000)
        try onBothServers("lostput") { server in
            let proxy = try proxy(server, mode: "cutput")
            defer { proxy.stop() }
            let result = try s3put(["--endpoint-url", proxy.endpoint, small, "s3://\(server.bucket)/lost-put.bin"],
                                   endpoint: false)
            let record = singleRecord(result)
            XCTAssertEqual(record?.etag, try md5(ofFile: small), "\(server.name): \(result.summary)")
            XCTAssertEqual(record?.skipped, nil, "\(server.name): stored, not skipped")
            XCTAssertTrue(proxy.log.contains { $0.hasPrefix("CUT ") }, "the answer was cut: \(proxy.log)")
            XCTAssertEqual(try readBack(server, "lost-put.bin"), try sha256(ofFile: small))
        }
    }

    /// The server completes the upload but its answer is lost; the retry is refused (SeaweedFS: 412, the object
    /// being there; moto answers it again) or, as AWS does, answered NoSuchUpload. Either way s3-put reads the
    /// key, finds the ETag its parts give, and ends 0 with the upload recorded completed.
    func testACompletionWhoseAnswerIsLostEndsWell() throws {
        let big = temp.file("big.bin")
        try makeRandomFile(big, size: 11 * MiB)
        let expected = try XCTUnwrap(try etagOf(big, partSize: "5MiB"))
        try onBothServers("lostanswer") { server in
            for mode in ["cut", "nosuchupload"] {
                let key = "lost-\(mode).bin"
                let proxy = try proxy(server, mode: mode)
                defer { proxy.stop() }
                let catalog = temp.file("catalog-\(server.name)-\(mode).sqlite")
                let result = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", "--catalog", catalog,
                                        big, "s3://\(server.bucket)/\(key)"], endpoint: false)
                XCTAssertEqual(singleRecord(result)?.etag, expected, "\(server.name) \(mode): \(result.summary)")
                XCTAssertEqual(singleRecord(result)?.skipped, nil, "\(server.name) \(mode): stored, not skipped")
                XCTAssertTrue(proxy.log.contains { $0.hasPrefix("CUT ") }, "the answer was cut: \(proxy.log)")
                XCTAssertEqual(try headObject(server.bucket, key, endpoint: server.endpoint)?.etag, expected)
                XCTAssertEqual(try readBack(server, key), try sha256(ofFile: big))
                XCTAssertEqual(productionSQLite(catalog, "SELECT state FROM uploads"), [["completed"]],
                               "\(server.name) \(mode): the catalog row")
            }
        }
    }
}
