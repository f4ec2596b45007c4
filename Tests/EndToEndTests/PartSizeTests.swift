import Foundation
import XCTest

/// Objects other clients uploaded in parts of sizes no candidate list holds (aws-cli's `multipart_chunksize`,
/// s5cmd's `-p`, rclone's `--s3-chunk-size`), on SeaweedFS and moto: their part size is asked of the server
/// (`HEAD ?partNumber=1`), so that s3-restore, s3-verify, s3-put and s3-etag all recognise the bytes exactly,
/// and still catch a local copy with one byte changed.
final class PartSizeTests: EndToEndCase {
    /// An object uploaded by another client, and what it should be recognised as.
    struct Foreign {
        var endpoint: String
        var bucket: String
        var prefix: String
        var name: String
        var local: String
        var partSize: Int
        var parts: Int
        var url: String { "s3://\(bucket)/\(prefix)\(name)" }
    }

    func testAwsCli5500KBChunks() throws {
        try onBothServers("awscli5500") { endpoint, bucket in
            let local = temp.file("aws-5500k.bin")
            try makeRandomFile(local, size: 12_000_000)  // 5,632,000 × 2 + 736,000
            try awsCopy(local, to: "s3://\(bucket)/aws5500/aws-5500k.bin", chunk: "5500KB", endpoint: endpoint)
            try assertRecognised(Foreign(endpoint: endpoint, bucket: bucket, prefix: "aws5500/", name: "aws-5500k.bin",
                                         local: local, partSize: 5500 * 1024, parts: 3))
        }
    }

    func testAwsCli21MBChunks() throws {
        try onBothServers("awscli21") { endpoint, bucket in
            let local = temp.file("aws-21m.bin")
            try makeRandomFile(local, size: 45 * MiB + 12_345)
            try awsCopy(local, to: "s3://\(bucket)/aws21/aws-21m.bin", chunk: "21MB", endpoint: endpoint)
            try assertRecognised(Foreign(endpoint: endpoint, bucket: bucket, prefix: "aws21/", name: "aws-21m.bin",
                                         local: local, partSize: 21 * MiB, parts: 3))
        }
    }

    /// aws-cli's 150MB chunks (150 MiB), over a 160 MB file: two parts, the second short.
    func testAwsCli150MBChunks() throws {
        try onBothServers("awscli150") { endpoint, bucket in
            let local = temp.file("aws-150m.bin")
            try makeRandomFile(local, size: 160_000_000)
            try awsCopy(local, to: "s3://\(bucket)/aws150/aws-150m.bin", chunk: "150MB", endpoint: endpoint)
            try assertRecognised(Foreign(endpoint: endpoint, bucket: bucket, prefix: "aws150/", name: "aws-150m.bin",
                                         local: local, partSize: 150 * MiB, parts: 2))
        }
    }

    /// A file small enough for s3-put's one PUT, which aws-cli stored in two parts (5 MB chunks): s3-put sends its
    /// conditional PUT at once, and the refusal's object is then recognised as the same bytes in another layout
    /// (skipped, the server's part size in the record); a copy with one byte changed is refused (73). Nothing at
    /// the key changes either time.
    func testSmallFileAnotherClientStoredInPartsIsSkippedNotReplaced() throws {
        try onBothServers("awscli-small") { endpoint, bucket in
            let local = temp.file("aws-small.bin")
            try makeRandomFile(local, size: 6_000_000)
            let url = "s3://\(bucket)/awssmall/aws-small.bin"
            try awsCopy(local, to: url, chunk: "5MB", endpoint: endpoint)
            let before = try firstPart(endpoint: endpoint, bucket: bucket, key: "awssmall/aws-small.bin")
            XCTAssertEqual(before?.count, 2, "aws-cli stored two parts")
            let put = try s3put(["--endpoint-url", endpoint, local, url], endpoint: false)
            XCTAssertEqual(put.status, 0, put.summary)
            let record = singleRecord(put)
            XCTAssertEqual(record?.skipped, true, put.out)
            XCTAssertEqual(record?.partSize, 5 * 1024 * 1024)
            XCTAssertEqual(record?.parts, 2)

            var bytes = try Data(contentsOf: URL(fileURLWithPath: local))
            bytes[4_000_000] ^= 0x01
            let changed = temp.file("aws-small-changed.bin")
            try bytes.write(to: URL(fileURLWithPath: changed))
            let refused = try s3put(["--endpoint-url", endpoint, changed, url], endpoint: false)
            XCTAssertEqual(refused.status, 73, refused.summary)
            XCTAssertEqual(try firstPart(endpoint: endpoint, bucket: bucket, key: "awssmall/aws-small.bin")?.count, 2,
                           "aws-cli's object is still there, in its two parts")
            let against = try s3verify([url, "--against", local], endpoint: endpoint)
            XCTAssertEqual(against.out, "OK \(url)\n", against.summary)
        }
    }

    func testS5cmdPartSize() throws {
        let s5cmd = try requireTool("s5cmd")
        try onBothServers("s5cmd") { endpoint, bucket in
            let local = temp.file("s5cmd-7m.bin")
            try makeRandomFile(local, size: 15_000_000)
            // -p is in MiB.
            let upload = try runProcess(s5cmd, ["--endpoint-url", endpoint, "cp", "-p", "7", local,
                                                "s3://\(bucket)/s5/s5cmd-7m.bin"],
                                        environment: env.processEnvironment(), timeout: 120)
            XCTAssertEqual(upload.status, 0, "s5cmd: \(upload.summary)")
            try assertRecognised(Foreign(endpoint: endpoint, bucket: bucket, prefix: "s5/", name: "s5cmd-7m.bin",
                                         local: local, partSize: 7 * MiB, parts: 3))
        }
    }

    func testRcloneChunkSize() throws {
        let rclone = try requireTool("rclone")
        try onBothServers("rclone") { endpoint, bucket in
            let local = temp.file("rclone.bin")
            try makeRandomFile(local, size: 15_000_000)
            // rclone takes its remote from RCLONE_CONFIG_<NAME>_* variables: no configuration file is read.
            let remote: [String: String?] = [
                "RCLONE_CONFIG": "/nonexistent/s3a-e2e/rclone.conf",
                "RCLONE_CONFIG_PS_TYPE": "s3", "RCLONE_CONFIG_PS_PROVIDER": "Other",
                "RCLONE_CONFIG_PS_ENDPOINT": endpoint, "RCLONE_CONFIG_PS_REGION": env.region,
                "RCLONE_CONFIG_PS_ACCESS_KEY_ID": env.accessKey, "RCLONE_CONFIG_PS_SECRET_ACCESS_KEY": env.secretKey,
            ]
            let upload = try runProcess(rclone, ["copyto", local, "ps:\(bucket)/rc/rclone.bin", "--s3-chunk-size", "5500Ki",
                                                 "--s3-upload-cutoff", "5Mi", "--s3-no-check-bucket"],
                                        environment: env.processEnvironment(remote), timeout: 120)
            XCTAssertEqual(upload.status, 0, "rclone: \(upload.summary)")
            // rclone evens its parts out (5,631,901 bytes here, not 5500 KiB): what the server says is what counts.
            guard let first = try firstPart(endpoint: endpoint, bucket: bucket, key: "rc/rclone.bin") else {
                return XCTFail("rclone's object has no part 1")
            }
            XCTAssertEqual(first.count, 3)
            try assertRecognised(Foreign(endpoint: endpoint, bucket: bucket, prefix: "rc/", name: "rclone.bin",
                                         local: local, partSize: first.length, parts: 3))
        }
    }

    /// A store whose parts count disagrees with the ETag: every tool says so, and none guesses a part size.
    func testPartsCountThatContradictsTheETagIsReported() throws {
        let bucket = try bucket
        let local = temp.file("contradicted.bin")
        try makeRandomFile(local, size: 12_000_000)
        try awsCopy(local, to: "s3://\(bucket)/contra/contradicted.bin", chunk: "5500KB", endpoint: env.endpoint)
        let proxy = try PartsCountProxy(upstream: env.endpoint, directory: temp.path, mode: "lie", environment: env.processEnvironment())
        defer { proxy.stop() }
        let url = "s3://\(bucket)/contra/contradicted.bin"

        let destination = try makeDirectory("contra")
        let restore = try s3restore(["--to", destination, "s3://\(bucket)/contra/"], endpoint: proxy.endpoint)
        XCTAssertEqual(restore.status, 1, restore.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/contradicted.bin"))
        if let report = try onlyReport(in: destination) {
            let outcome = report.outcomes["contradicted.bin"] ?? ""
            XCTAssertTrue(outcome.hasPrefix("FAILURE - ") && outcome.contains("4 parts") && outcome.contains("the ETag has 3 parts"), outcome)
        }
        let against = try s3verify([url, "--against", local], endpoint: proxy.endpoint)
        XCTAssertEqual(against.status, 1, against.summary)
        XCTAssertTrue(against.out.contains("the ETag has 3 parts"), against.out)
        let match = try s3etag(["--endpoint-url", proxy.endpoint, "--match", url, local])
        XCTAssertEqual(match.status, 65, match.summary)
        XCTAssertTrue(String(decoding: match.stderr, as: UTF8.self).contains("part size is unknown"), match.summary)
    }

    /// A store that refuses part numbers (as older servers do): the common part sizes are tried, as before.
    func testStoreWithoutPartNumbersFallsBackToCommonPartSizes() throws {
        let bucket = try bucket
        let local = temp.file("common.bin")
        try makeRandomFile(local, size: 20 * MiB + 99)
        let upload = try aws(["s3", "cp", local, "s3://\(bucket)/common/common.bin"])  // aws-cli's default, 8 MiB
        XCTAssertEqual(upload.status, 0, upload.summary)
        let proxy = try PartsCountProxy(upstream: env.endpoint, directory: temp.path, mode: "refuse", environment: env.processEnvironment())
        defer { proxy.stop() }
        let url = "s3://\(bucket)/common/common.bin"
        let match = try s3etag(["--endpoint-url", proxy.endpoint, "--match", url, local])
        XCTAssertEqual(match.status, 0, match.summary)
        XCTAssertEqual(match.out, "\(local): OK (part size 8 MiB)\n")
        let against = try s3verify([url, "--against", local], endpoint: proxy.endpoint)
        XCTAssertEqual(against.status, 0, against.summary)
        let destination = try makeDirectory("common")
        let restore = try s3restore(["--to", destination, "s3://\(bucket)/common/"], endpoint: proxy.endpoint)
        XCTAssertEqual(restore.status, 0, restore.summary)
        XCTAssertEqual(try? sha256(ofFile: destination + "/common.bin"), try sha256(ofFile: local))
        XCTAssertGreaterThan(proxy.refusals(), 0, "the tools asked for part 1")
    }

    // MARK: - Helpers

    /// Runs `body` on SeaweedFS (this class's bucket) and on moto (a bucket of its own, removed after).
    private func onBothServers(_ label: String, _ body: (String, String) throws -> Void) throws {
        try body(env.endpoint, try bucket)
        let moto = try env.requireMoto()
        let motoBucket = uniqueBucketName("partsize" + label)
        let made = try aws(["s3", "mb", "s3://\(motoBucket)"], endpoint: moto)
        XCTAssertEqual(made.status, 0, made.summary)
        defer { _ = try? aws(["s3", "rb", "--force", "s3://\(motoBucket)"], endpoint: moto) }
        try body(moto, motoBucket)
    }

    private func requireTool(_ name: String) throws -> String {
        guard let path = which(name) else { throw XCTSkip("\(name) is not on PATH: bin/setup installs it") }
        return path
    }

    /// `aws s3 cp` with aws-cli's `multipart_chunksize` set to `chunk` in a configuration file of the test's own.
    private func awsCopy(_ local: String, to url: String, chunk: String, endpoint: String) throws {
        let config = temp.file("aws-config-\(chunk)")
        try "[default]\ns3 =\n  multipart_chunksize = \(chunk)\n  multipart_threshold = 5MB\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        guard let aws = which("aws") else { return XCTFail("aws (aws-cli) is not on PATH: run bin/setup") }
        let result = try runProcess(aws, ["--endpoint-url", endpoint, "s3", "cp", local, url],
                                    environment: env.processEnvironment(["AWS_CONFIG_FILE": config]), timeout: 300)
        XCTAssertEqual(result.status, 0, "aws s3 cp: \(result.summary)")
    }

    /// The server's own answer for part 1, read by aws-cli: its length and the parts count.
    private func firstPart(endpoint: String, bucket: String, key: String) throws -> (length: Int, count: Int)? {
        let result = try aws(["s3api", "head-object", "--bucket", bucket, "--key", key, "--part-number", "1",
                              "--query", "[ContentLength,PartsCount]", "--output", "text"], endpoint: endpoint)
        let fields = result.out.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        return result.status == 0 && fields.count == 2 ? (fields[0], fields[1]) : nil
    }

    /// Every tool recognises the object as the local file's bytes, exactly, and refuses a copy with one byte changed.
    private func assertRecognised(_ object: Foreign, file: StaticString = #filePath, line: UInt = #line) throws {
        let server = object.endpoint == env.endpoint ? "SeaweedFS" : "moto"
        let first = try firstPart(endpoint: object.endpoint, bucket: object.bucket, key: object.prefix + object.name)
        XCTAssertEqual(first?.length, object.partSize, "\(server): part 1", file: file, line: line)
        XCTAssertEqual(first?.count, object.parts, "\(server): parts", file: file, line: line)

        // s3-restore of the prefix: downloaded and verified, not thrown away.
        let destination = try makeDirectory("restore-\(server)-\(object.name)")
        let restore = try s3restore(["--to", destination, "s3://\(object.bucket)/\(object.prefix)"], endpoint: object.endpoint)
        XCTAssertEqual(restore.status, 0, "\(server): \(restore.summary)", file: file, line: line)
        let restored = destination + "/" + object.name
        XCTAssertEqual(try? sha256(ofFile: restored), try sha256(ofFile: object.local), "\(server)", file: file, line: line)
        if let report = try onlyReport(in: destination, file: file, line: line) {
            XCTAssertTrue(report.outcomes[object.name]?.hasPrefix("OK - Downloaded and verified") ?? false,
                          "\(server): \(report.lines.joined(separator: "\n"))", file: file, line: line)
        }

        // s3-verify against the local file, and s3-etag --match given the URL.
        let against = try s3verify([object.url, "--against", object.local], endpoint: object.endpoint)
        XCTAssertEqual(against.status, 0, "\(server): \(against.summary)", file: file, line: line)
        XCTAssertEqual(against.out, "OK \(object.url)\n", "\(server)", file: file, line: line)
        let match = try s3etag(["--endpoint-url", object.endpoint, "--match", object.url, object.local])
        XCTAssertEqual(match.status, 0, "\(server): \(match.summary)", file: file, line: line)
        XCTAssertTrue(match.out.hasPrefix("\(object.local): OK (part size "), "\(server): \(match.out)", file: file, line: line)

        // s3-put of the same file: identical, skipped, its record naming the part size the server gave.
        let put = try s3put(["--endpoint-url", object.endpoint, object.local, object.url], endpoint: false,
                            file: file, line: line)
        XCTAssertEqual(put.status, 0, "\(server): \(put.summary)", file: file, line: line)
        let record = singleRecord(put, file: file, line: line)
        XCTAssertEqual(record?.skipped, true, "\(server): \(put.out)", file: file, line: line)
        XCTAssertEqual(record?.partSize, object.partSize, "\(server)", file: file, line: line)
        XCTAssertEqual(record?.parts, object.parts, "\(server)", file: file, line: line)

        // s3-verify --deep of that record, and of one whose part size is wrong: the store's answer decides.
        guard let recordLine = put.lines.first else { return }
        let deep = try s3verify(["--deep"], endpoint: object.endpoint, input: .data(Data((recordLine + "\n").utf8)))
        XCTAssertEqual(deep.status, 0, "\(server): \(deep.summary)", file: file, line: line)
        XCTAssertEqual(deep.out, "OK \(object.url)\n", "\(server)", file: file, line: line)
        let misrecorded = recordLine.replacingOccurrences(of: "\"part_size\":\(object.partSize)", with: "\"part_size\":8388608")
        let deepMisrecorded = try s3verify(["--deep"], endpoint: object.endpoint, input: .data(Data((misrecorded + "\n").utf8)))
        XCTAssertEqual(deepMisrecorded.status, 0, "\(server): \(deepMisrecorded.summary)", file: file, line: line)

        try assertCorruptionCaught(object, server: server, restored: restored, destination: destination, file: file, line: line)
    }

    /// A local copy with one byte changed: FAILED for s3-verify and s3-etag, not identical for s3-put (exit 73),
    /// and healed by s3-restore.
    private func assertCorruptionCaught(_ object: Foreign, server: String, restored: String, destination: String,
                                        file: StaticString, line: UInt) throws {
        let damaged = temp.file("damaged-" + object.name)
        try? FileManager.default.removeItem(atPath: damaged)
        try FileManager.default.copyItem(atPath: object.local, toPath: damaged)
        try flipByte(damaged, at: object.partSize + 17)  // in part 2

        let against = try s3verify([object.url, "--against", damaged], endpoint: object.endpoint)
        XCTAssertEqual(against.status, 1, "\(server): \(against.summary)", file: file, line: line)
        XCTAssertTrue(against.out.hasPrefix("FAILED \(object.url): the local file \(damaged) differs"), "\(server): \(against.out)",
                      file: file, line: line)
        let match = try s3etag(["--endpoint-url", object.endpoint, "--match", object.url, damaged])
        XCTAssertEqual(match.status, 1, "\(server): \(match.summary)", file: file, line: line)
        XCTAssertEqual(match.out, "\(damaged): FAILED\n", "\(server)", file: file, line: line)
        let put = try s3put(["--endpoint-url", object.endpoint, damaged, object.url], endpoint: false,
                            file: file, line: line)
        XCTAssertEqual(put.status, 73, "\(server): \(put.summary)", file: file, line: line)

        // The restored file damaged in place: the next restore fetches it again.
        try flipByte(restored, at: object.partSize + 17)
        statusReports(in: destination).forEach { try? FileManager.default.removeItem(atPath: $0) }
        let restore = try s3restore(["--to", destination, "s3://\(object.bucket)/\(object.prefix)"], endpoint: object.endpoint)
        XCTAssertEqual(restore.status, 0, "\(server): \(restore.summary)", file: file, line: line)
        XCTAssertEqual(try? sha256(ofFile: restored), try sha256(ofFile: object.local), "\(server): healed", file: file, line: line)
        if let report = try onlyReport(in: destination, file: file, line: line) {
            XCTAssertTrue(report.outcomes[object.name]?.hasPrefix("OK - Self-healed") ?? false,
                          "\(server): \(report.lines.joined(separator: "\n"))", file: file, line: line)
        }
    }
}

/// A pass-through proxy to SeaweedFS that changes one answer: `HEAD ?partNumber=1` gets a parts count one too many
/// ("lie"), or a 400 refusal ("refuse", as from a server that does not know part numbers). The one stand-in here:
/// no real server can be made to contradict its own ETag; SeaweedFS behind it does all the rest.
final class PartsCountProxy {
    private let running: RunningProxy
    var endpoint: String { running.endpoint }
    private var logPath: String { running.logPath }

    static let script = #"""
import http.client, http.server, os, sys, threading, urllib.parse

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_file, mode = sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()

\#(proxyRelay)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.command == "HEAD" and query.get("partNumber") == ["1"]:
            with lock:
                with open(log_file, "a") as f:
                    f.write(self.path + "\n")
            if mode == "refuse":
                self.send_response_only(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            send_header = self.send_header
            def lying(name, value):
                if name.lower() == "x-amz-mp-parts-count":
                    value = str(int(value) + 1)
                send_header(name, value)
            self.send_header = lying
        relay(self, body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

\#(proxyServe)
"""#

    init(upstream: String, directory: String, mode: String, environment: [String: String]) throws {
        running = try RunningProxy(script: Self.script, upstream: upstream, arguments: [mode], directory: directory,
                                   file: "parts-proxy-\(mode)", name: "the parts-count proxy", environment: environment)
    }

    /// How many `HEAD ?partNumber=1` requests it answered.
    func refusals() -> Int {
        running.logLines.count
    }

    func stop() { running.stop() }
}
