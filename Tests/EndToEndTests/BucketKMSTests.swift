import Foundation
import XCTest

/// A bucket that encrypts new objects with KMS by default: s3-put, not told `--sse aws:kms`, gets ETags that are
/// no MD5 of the bytes, and checks its uploads by the whole-object CRC64NVME the store keeps instead. Neither
/// SeaweedFS nor moto has KMS: `BucketKMSProxy` answers as AWS does for such a bucket, SeaweedFS does the rest.
final class BucketKMSTests: EndToEndCase {
    /// Uploaded (one PUT, and multipart), found identical on the next run, a different file refused; aws-cli,
    /// straight from the server, reads back the bytes sent.
    func testBucketDefaultKMSUploadsAreCheckedAndSkippedByTheirChecksum() throws {
        let bucket = try bucket
        let proxy = try BucketKMSProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment())
        defer { proxy.stop() }
        let small = temp.file("small.raw")
        let big = temp.file("big.raw")
        try makeRandomFile(small, size: 3000)
        try makeRandomFile(big, size: 7 * MiB)
        for (name, path) in [("small.raw", small), ("big.raw", big)] {
            let url = "s3://\(bucket)/kms/\(name)"
            let first = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", path, url], endpoint: false)
            XCTAssertEqual(first.status, 0, "\(name): \(first.summary)")
            let record = singleRecord(first)
            XCTAssertNotEqual(record?.etag, try etagOf(path, partSize: "5MiB"), "\(name): the record has the store's ETag")
            XCTAssertNil(record?.skipped)
            let copy = temp.file("copy-" + name)
            XCTAssertEqual(try aws(["s3", "cp", url, copy]).status, 0)
            XCTAssertEqual(try sha256(ofFile: copy), try sha256(ofFile: path), "\(name): the bytes stored")

            // A catalog that knows nothing of the first run: only the store's checksum can say it is identical.
            let again = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", path, url], endpoint: false,
                                  environment: ["S3_ARCHIVE_CATALOG": temp.file("other-\(name).sqlite")])
            XCTAssertEqual(again.status, 0, "\(name): \(again.summary)")
            XCTAssertEqual(singleRecord(again)?.skipped, true, "\(name): \(again.out)")
        }
        XCTAssertTrue(proxy.log().contains { $0.hasPrefix("KMS PUT") }, "the proxy answered as KMS: \(proxy.log())")

        // A stream is compared only once sent, when the conditional write is refused: by the checksum too.
        let stream = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", "s3://\(bucket)/kms/big.raw"],
                               input: .pipedFile(big), endpoint: false)
        XCTAssertEqual(stream.status, 0, stream.summary)
        XCTAssertEqual(singleRecord(stream)?.skipped, true, stream.out)

        let other = temp.file("other.raw")
        try makeRandomFile(other, size: 3000)
        let refused = try s3put(["--endpoint-url", proxy.endpoint, other, "s3://\(bucket)/kms/small.raw"], endpoint: false,
                                environment: ["S3_ARCHIVE_CATALOG": temp.file("third.sqlite")])
        XCTAssertEqual(refused.status, 73, "other bytes at the key are not identical: \(refused.summary)")
        let kept = temp.file("kept.raw")
        XCTAssertEqual(try aws(["s3", "cp", "s3://\(bucket)/kms/small.raw", kept]).status, 0)
        XCTAssertEqual(try sha256(ofFile: kept), try sha256(ofFile: small), "the object stored is left alone")
    }

    /// The final check is real: a store whose kept checksum is not the one sent fails the upload (exit 1), and
    /// the object written is deleted.
    func testBucketDefaultKMSUploadWithAnotherStoredChecksumFails() throws {
        let bucket = try bucket
        let proxy = try BucketKMSProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment(),
                                       mode: "kms-wrong-checksum")
        defer { proxy.stop() }
        let path = temp.file("a.raw")
        try makeRandomFile(path, size: 3000)
        let result = try s3put(["--endpoint-url", proxy.endpoint, path, "s3://\(bucket)/kms-wrong/a.raw"], endpoint: false)
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertTrue(result.err.contains("CRC64NVME"), result.err)
        XCTAssertNil(try headObject(bucket, "kms-wrong/a.raw"), "the object written was deleted")
    }

    /// `s3-verify --against` compares an object whose ETag is no MD5 by the CRC64NVME the store keeps: the same
    /// file passes (a file, and a directory against a prefix), a changed one fails.
    func testAgainstComparesKMSObjectsByTheirStoredChecksum() throws {
        let bucket = try bucket
        let local = try makeDirectory("local")
        try makeRandomFile(local + "/a.raw", size: 3000)
        try makeRandomFile(local + "/b.raw", size: 7 * MiB)
        for name in ["a.raw", "b.raw"] {
            XCTAssertEqual(try s3put(["--part-size", "5MiB", local + "/" + name, "s3://\(bucket)/against/\(name)"]).status, 0)
        }
        let proxy = try BucketKMSProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment())
        defer { proxy.stop() }
        let file = try s3verify(["s3://\(bucket)/against/b.raw", "--against", local + "/b.raw"], endpoint: proxy.endpoint)
        XCTAssertEqual(file.status, 0, file.summary)
        let directory = try s3verify(["s3://\(bucket)/against/", "--against", local], endpoint: proxy.endpoint)
        XCTAssertEqual(directory.status, 0, directory.summary)
        XCTAssertEqual(directory.lines, ["OK s3://\(bucket)/against/a.raw", "OK s3://\(bucket)/against/b.raw"])
        XCTAssertTrue(proxy.log().contains { $0.hasPrefix("KMS HEAD") }, "the proxy answered as KMS: \(proxy.log())")

        try flipByte(local + "/b.raw", at: 6 * MiB)
        let changed = try s3verify(["s3://\(bucket)/against/", "--against", local], endpoint: proxy.endpoint)
        XCTAssertEqual(changed.status, 1, changed.summary)
        XCTAssertEqual(changed.lines.last?.hasPrefix("FAILED s3://\(bucket)/against/b.raw: "), true, changed.out)
    }
}

/// A pass-through proxy in python3 that answers as AWS does for a bucket encrypting with KMS by default, which
/// no local server can: `x-amz-server-side-encryption: aws:kms` on every object's answer, and the object's ETag
/// (PutObject, CompleteMultipartUpload, HEAD, GET) no MD5 of its bytes (here the real one reversed: each object
/// keeps an ETag of its own, the part count kept). A part's ETag is passed as the server gave it, since the
/// completion, which the client signs, must name the part by it. `kms-wrong-checksum` also answers HEAD with a
/// CRC64NVME other than the one stored.
final class BucketKMSProxy {
    private let running: RunningProxy
    var endpoint: String { running.endpoint }

    static let script = #"""
import html, http.client, http.server, re, sys, threading, urllib.parse, os

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_file, mode = sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()

def note(line):
    with lock:
        with open(log_file, "a") as f:
            f.write(line + "\n")

def fake(etag):
    bare = html.unescape(etag).strip('"')
    digest, dash, count = bare.partition("-")
    return '"' + digest[::-1] + dash + count + '"'

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        query = [q.split("=")[0] for q in split.query.split("&") if q]
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() in ("expect", "connection", "keep-alive", "proxy-connection", "if-match"):
                continue
            conn.putheader(name, value)
        conn.endheaders(body if body else None)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        has_key = len(split.path.strip("/").split("/", 1)) == 2
        ok = response.status in (200, 206)
        part = self.command == "PUT" and "partNumber" in query
        put = self.command == "PUT" and not query
        complete = self.command == "POST" and "uploadId" in query
        read = self.command in ("GET", "HEAD") and "uploadId" not in query and "list-type" not in query
        kms = ok and has_key and (part or put or complete or read or (self.command == "POST" and "uploads" in query))
        rewrite = kms and not part
        if complete and kms:
            data = re.sub(rb"<ETag>(.*?)</ETag>", lambda m: b"<ETag>" + fake(m.group(1).decode()).encode() + b"</ETag>", data)
        if kms:
            note("KMS %s %s" % (self.command, self.path))
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                continue
            if rewrite and lower == "etag":
                value = fake(value)
            if kms and mode == "kms-wrong-checksum" and self.command == "HEAD" and lower == "x-amz-checksum-crc64nvme":
                value = "AAAAAAAAAAE="
            self.send_header(name, value)
        if kms:
            self.send_header("x-amz-server-side-encryption", "aws:kms")
        if self.command == "HEAD":
            self.send_header("Content-Length", response.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

\#(proxyServe)
"""#

    init(upstream: String, directory: String, environment: [String: String], mode: String = "kms") throws {
        running = try RunningProxy(script: Self.script, upstream: upstream, arguments: [mode], directory: directory,
                                   file: "kms-proxy", name: "the bucket-KMS proxy", environment: environment)
    }

    /// All the proxy noted: `KMS METHOD PATH` for each answer it made a KMS one.
    func log() -> [String] { running.logLines }

    func stop() { running.stop() }
}
