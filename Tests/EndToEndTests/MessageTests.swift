import Foundation
import XCTest

/// Messages name the thing and the fix, on one line, with the exit status that fits: usage errors start with the
/// tool's name; every lifecycle problem is listed in the rule's words; a wrong secret, a missing bucket and a
/// file given as --to are said as such by every tool; what retrying cannot fix (an untrusted certificate, an
/// unreadable CA bundle, 501, a configured endpoint that does not resolve) is said at once, not retried.
final class MessageTests: EndToEndCase {
    /// Runs one of the tools with the test's catalog and the environment changed by `environment`.
    private func run(_ tool: String, _ arguments: [String], environment: [String: String?] = [:],
                     input: ProcessInput = .none, file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let result = try runProcess(env.tool(tool), arguments, input: input,
                                    environment: s3putEnvironment(environment), timeout: 120)
        assertNoSecret(result, env.secretKey, file: file, line: line)
        XCTAssertFalse(result.timedOut, "\(tool) timed out: \(result.summary)", file: file, line: line)
        return result
    }

    private func assertOneLine(_ result: ProcessResult, status: Int32, startsWith prefix: String, contains words: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, status, result.summary, file: file, line: line)
        let lines = result.err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line: \(result.err)", file: file, line: line)
        XCTAssertTrue(result.err.hasPrefix(prefix), "starts with '\(prefix)': \(result.err)", file: file, line: line)
        for word in words {
            XCTAssertTrue(result.err.contains(word), "'\(word)' in: \(result.err)", file: file, line: line)
        }
    }

    // MARK: usage

    func testUsageErrorsAreOneLineStartingWithTheToolsName() throws {
        let lifecycle = try run("s3-lifecycle", ["validate", "x.json"])
        assertOneLine(lifecycle, status: 64, startsWith: "s3-lifecycle: unknown subcommand 'validate'",
                      contains: ["check, apply, show, lock", "s3-lifecycle --help"])
        let report = try run("s3-report", ["bogus"])
        assertOneLine(report, status: 64, startsWith: "s3-report: unknown subcommand 'bogus'",
                      contains: ["status, sessions, log, cost, analyze"])
        let partSize = try run("s3-put", ["--part-size", "1KiB", "s3://bucket/key"])
        assertOneLine(partSize, status: 64, startsWith: "s3-put: --part-size must be between 5MiB and 5GiB",
                      contains: ["s3-put --help"])
        let option = try run("s3-verify", ["--no-such-option"])
        assertOneLine(option, status: 64, startsWith: "s3-verify: unknown option '--no-such-option'", contains: [])
        let subcommandOption = try run("s3-report", ["status", "--bogus"])
        assertOneLine(subcommandOption, status: 64, startsWith: "s3-report: ", contains: ["s3-report status --help"])
        for tool in ["s3-archive", "s3-put", "s3-etag", "s3-verify", "s3-restore", "s3-report", "s3-lifecycle"] {
            let help = try run(tool, ["--help"])
            XCTAssertEqual(help.status, 0, help.summary)
            XCTAssertTrue(help.out.contains("USAGE:"), "\(tool) --help still prints its help: \(help.out)")
        }
    }

    // MARK: lifecycle

    func testLifecycleTypeErrorsAreAllListedByRule() throws {
        let path = temp.file("typed.json")
        try #"""
            {"Rules": [
              {"ID": "fine", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 3}},
              {"ID": "typed", "Status": "Enabled", "Filter": {"Tag": {"Key": "k"}},
               "Transitions": [{"Days": "30", "StorageClass": "GLACIER"}, {"Day": 90, "StorageClass": "DEEP_ARCHIVE"}],
               "Expiration": {"Days": 2.5}},
              {"Status": "Enabled", "Filter": {}, "Transitions": {"Days": 30, "StorageClass": "GLACIER"}},
              {"ID": "status", "Status": "Maybe", "Filter": {}, "Expiration": {"Days": 3}}
            ]}
            """#.write(toFile: path, atomically: true, encoding: .utf8)
        let check = try run("s3-lifecycle", ["check", path])
        XCTAssertEqual(check.status, 65, check.summary)
        XCTAssertEqual(check.out, "")
        let expected = [
            "s3-lifecycle: \(path): rule 2 (typed): Filter: Tag: Value is missing",
            "s3-lifecycle: \(path): rule 2 (typed): Transitions 1: Days: expected a whole number, found the text \"30\"",
            "s3-lifecycle: \(path): rule 2 (typed): Transitions 2: Day: not a field here (expected one of Days, Date, StorageClass)",
            "s3-lifecycle: \(path): rule 2 (typed): Expiration: Days: expected a whole number, found 2.5",
            "s3-lifecycle: \(path): rule 3: Transitions: expected a list [...], found an object {...}",
            "s3-lifecycle: \(path): rule 4 (status): Status 'Maybe' is not Enabled or Disabled",
        ]
        XCTAssertEqual(check.err.split(separator: "\n").map(String.init), expected, check.summary)
        XCTAssertFalse(check.err.contains("Index"), "no decoder path: \(check.err)")
    }

    // MARK: credentials and buckets

    func testWrongSecretIsNamedAlikeByEveryTool() throws {
        let bucket = try bucket
        let source = temp.file("w.bin")
        try makeRandomFile(source, size: 1_000)
        let put = try s3put([source, "s3://\(bucket)/w.bin"])
        XCTAssertEqual(put.status, 0, put.summary)

        let wrong: [String: String?] = ["AWS_SECRET_ACCESS_KEY": "wrong-\(UUID().uuidString)"]
        let endpoint = ["--endpoint-url", env.endpoint]
        let results = [
            try run("s3-put", endpoint + [source, "s3://\(bucket)/w2.bin"], environment: wrong),
            try run("s3-verify", endpoint + ["--no-catalog", "--against", source, "s3://\(bucket)/w.bin"], environment: wrong),
            try run("s3-restore", endpoint + ["--to", temp.file("out"), "s3://\(bucket)/w.bin"], environment: wrong),
        ]
        for result in results {
            XCTAssertEqual(result.status, 77, result.summary)
            XCTAssertTrue(result.err.contains("SignatureDoesNotMatch"), result.summary)
            XCTAssertFalse(result.err.contains("access denied"), result.summary)
        }
        let unknownKey = try run("s3-verify", endpoint + ["--no-catalog", "--against", source, "s3://\(bucket)/w.bin"],
                                 environment: ["AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000"])
        XCTAssertEqual(unknownKey.status, 77, unknownKey.summary)
        XCTAssertTrue(unknownKey.err.contains("InvalidAccessKeyId"), unknownKey.summary)
    }

    func testMissingBucketAndFileAsDestinationAreNamed() throws {
        let source = temp.file("m.bin")
        try makeRandomFile(source, size: 1_000)
        let missing = uniqueBucketName("messages-missing")
        let verify = try run("s3-verify", ["--endpoint-url", env.endpoint, "--no-catalog", "--against", source,
                                           "s3://\(missing)/k.bin"])
        XCTAssertEqual(verify.status, 66, verify.summary)
        XCTAssertTrue(verify.err.contains("bucket '\(missing)' does not exist"), verify.summary)
        XCTAssertFalse(verify.err.contains("no such object"), verify.summary)

        let plainFile = temp.file("not-a-folder")
        try Data("x".utf8).write(to: URL(fileURLWithPath: plainFile))
        let restore = try run("s3-restore", ["--endpoint-url", env.endpoint, "--to", plainFile, "s3://\(try bucket)/k.tar"])
        assertOneLine(restore, status: 74, startsWith: "s3-restore: \(plainFile): is a file, not a folder",
                      contains: ["--to"])
        XCTAssertFalse(restore.err.contains("mkdir"), restore.summary)
    }

    /// aws-cli takes key, secret and token from one provider: a stale token left in the credentials file is not
    /// sent with keys from the environment (SeaweedFS refuses a token it never issued, so the upload shows it).
    func testEnvironmentKeysAreNotMixedWithTheFilesToken() throws {
        let bucket = try bucket
        let credentials = temp.file("credentials")
        try """
            [default]
            aws_access_key_id = AKIASTALEFILEKEY0000
            aws_secret_access_key = stale-file-secret
            aws_session_token = stale-token-\(UUID().uuidString)

            """.write(toFile: credentials, atomically: true, encoding: .utf8)
        let source = temp.file("c.bin")
        try makeRandomFile(source, size: 1_000)
        let put = try s3put([source, "s3://\(bucket)/c.bin"], environment: ["AWS_SHARED_CREDENTIALS_FILE": credentials])
        XCTAssertEqual(put.status, 0, "signed with the environment's keys and no token: \(put.summary)")

        let half = try s3put([source, "s3://\(bucket)/c2.bin"],
                             environment: ["AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_SECRET_ACCESS_KEY": nil])
        assertOneLine(half, status: 77, startsWith: "s3-put: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
                      contains: [])
    }

    // MARK: what retrying cannot fix

    /// A TLS relay to SeaweedFS on loopback with a certificate made here: not trusted by default (said at once,
    /// exit 69), trusted through `ca_bundle` in the profile (as aws-cli reads it), and a CA bundle that is not
    /// there is said before any request.
    func testUntrustedCertificateAndCABundle() throws {
        let bucket = try bucket
        guard let openssl = which("openssl") else { XCTFail("openssl is not on PATH"); return }
        let cert = temp.file("cert.pem"), key = temp.file("key.pem")
        let made = try runProcess(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                                  environment: env.processEnvironment(), timeout: 60)
        XCTAssertEqual(made.status, 0, made.summary)
        let relay = try RunningProxy(script: Self.tlsRelay, upstream: env.endpoint, arguments: [cert, key],
                                     directory: temp.file("tls"), file: "tls", name: "the TLS relay",
                                     environment: env.processEnvironment())
        defer { relay.stop() }
        let https = relay.endpoint.replacingOccurrences(of: "http://", with: "https://")
        let source = temp.file("t.bin")
        try makeRandomFile(source, size: 1_000)

        let started = Date()
        let untrusted = try s3put(["--endpoint-url", https, source, "s3://\(bucket)/tls.bin"], endpoint: false)
        assertOneLine(untrusted, status: 69, startsWith: "s3-put: \(https): the server's TLS certificate is not trusted",
                      contains: ["AWS_CA_BUNDLE", "ca_bundle", "not retried"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "not retried with backoff: \(untrusted.summary)")

        let config = temp.file("config")
        try "[default]\nca_bundle = \(cert)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let trusted = try s3put(["--endpoint-url", https, source, "s3://\(bucket)/tls.bin"], endpoint: false,
                                environment: ["AWS_CONFIG_FILE": config])
        XCTAssertEqual(trusted.status, 0, "ca_bundle from the profile: \(trusted.summary)")

        let absent = temp.file("no-such-bundle.pem")
        let unreadable = try s3put(["--endpoint-url", https, source, "s3://\(bucket)/tls2.bin"], endpoint: false,
                                   environment: ["AWS_CA_BUNDLE": absent])
        assertOneLine(unreadable, status: 69, startsWith: "s3-put: the CA bundle \(absent) (AWS_CA_BUNDLE) does not exist",
                      contains: [])
        let garbage = temp.file("garbage.pem")
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let badFile = try s3put(["--endpoint-url", https, source, "s3://\(bucket)/tls3.bin"], endpoint: false,
                                environment: ["AWS_CA_BUNDLE": garbage])
        XCTAssertEqual(badFile.status, 69, badFile.summary)
        XCTAssertEqual(badFile.err.split(separator: "\n").count, 1, badFile.summary)
        XCTAssertTrue(badFile.err.contains("not retried"), badFile.summary)
        XCTAssertEqual(relay.logLines.filter { $0.contains("tls2.bin") || $0.contains("tls3.bin") }, [])
    }

    func testUnresolvableEndpointIsNotRetried() throws {
        let source = temp.file("d.bin")
        try makeRandomFile(source, size: 1_000)
        let started = Date()
        let result = try s3put(["--endpoint-url", "http://no-such-host.invalid:8333", source, "s3://bucket-x/d.bin"],
                               endpoint: false)
        assertOneLine(result, status: 69, startsWith: "s3-put: http://no-such-host.invalid:8333: the endpoint's host name does not resolve",
                      contains: ["--endpoint-url", "not retried"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, result.summary)
    }

    /// 501 through the fault proxy (SeaweedFS itself answers 501 to none of the requests s3-put sends): one
    /// attempt, exit 69, the message says the store lacks it.
    func testNotImplementedIsNotRetried() throws {
        let bucket = try bucket
        let proxy = try FaultProxy(upstream: env.endpoint, directory: temp.path, environment: env.processEnvironment(),
                                   failPart: 1, status: 501, code: "NotImplemented", times: -1)
        defer { proxy.stop() }
        let source = temp.file("n.bin")
        try makeRandomFile(source, size: 6 * MiB)
        let result = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", source, "s3://\(bucket)/n.bin"],
                               endpoint: false)
        XCTAssertEqual(result.status, 69, result.summary)
        XCTAssertTrue(result.err.contains("does not support this request (NotImplemented, HTTP 501"), result.summary)
        XCTAssertEqual(proxy.requestLog().filter { $0.hasPrefix("FAILED") }.count, 1, "one attempt: \(proxy.requestLog())")
    }

    /// The relay of FaultProxy behind TLS: `upstream PORTFILE LOGFILE CERT KEY`.
    static let tlsRelay = #"""
import http.client, http.server, ssl, sys, threading, urllib.parse, os

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_file, cert, key = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
lock = threading.Lock()

def log(line):
    with lock:
        with open(log_file, "a") as f:
            f.write(line + "\n")

\#(proxyRelay)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        log(self.command + " " + self.path)
        relay(self, body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"""#
}
