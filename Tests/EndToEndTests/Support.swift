// Shared helpers for the end-to-end tests: they run the built executables (s3-put, s3-etag) as
// subprocesses against the real servers bin/test starts, and use aws-cli as the independent peer.
//
// The tests find what they need in the environment bin/test exports:
//   S3A_TEST_S3_ENDPOINT   SeaweedFS (SigV4 enforced, missing buckets refused)
//   S3A_TEST_BIN           the directory holding the built executables
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
// Without them every test fails (never skips): end-to-end tests always run.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

let missingServersMessage = "end-to-end tests need the servers: run bin/test"

let MiB = 1 << 20

// MARK: - Environment

/// Where the servers and the executables are, from the environment bin/test sets up.
struct TestEnvironment: Sendable {
    let endpoint: String
    /// moto, for what SeaweedFS lacks (storage classes); S3A_TEST_MOTO_ENDPOINT.
    let motoEndpoint: String?
    let binDirectory: String
    let accessKey: String
    let secretKey: String
    let region: String

    struct Missing: Error, CustomStringConvertible {
        var description: String { missingServersMessage }
    }

    /// The environment, or a test failure with `missingServersMessage` (and a thrown error that stops the test).
    static func require(file: StaticString = #filePath, line: UInt = #line) throws -> TestEnvironment {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["S3A_TEST_S3_ENDPOINT"], !endpoint.isEmpty,
              let bin = env["S3A_TEST_BIN"], !bin.isEmpty else {
            XCTFail(missingServersMessage, file: file, line: line)
            throw Missing()
        }
        for tool in ["s3-put", "s3-etag"] where !FileManager.default.isExecutableFile(atPath: bin + "/" + tool) {
            XCTFail("\(bin)/\(tool) is not an executable: build first (bin/test does)", file: file, line: line)
            throw Missing()
        }
        return TestEnvironment(endpoint: endpoint, motoEndpoint: env["S3A_TEST_MOTO_ENDPOINT"], binDirectory: bin,
                               accessKey: env["AWS_ACCESS_KEY_ID"] ?? "",
                               secretKey: env["AWS_SECRET_ACCESS_KEY"] ?? "",
                               region: env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1")
    }

    func tool(_ name: String) -> String { binDirectory + "/" + name }

    /// moto's endpoint, or a test failure like a missing SeaweedFS.
    func requireMoto(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard let moto = motoEndpoint, !moto.isEmpty else {
            XCTFail(missingServersMessage + " (S3A_TEST_MOTO_ENDPOINT is not set)", file: file, line: line)
            throw Missing()
        }
        return moto
    }

    /// The environment every subprocess gets: ours, with the AWS settings made deterministic (no profile,
    /// no user configuration file that could change aws-cli's part size or the endpoint).
    func processEnvironment(_ overrides: [String: String?] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for name in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                     "AWS_CA_BUNDLE", "AWS_MAX_ATTEMPTS"] {
            env[name] = nil
        }
        env["AWS_CONFIG_FILE"] = "/nonexistent/s3a-e2e/config"
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/s3a-e2e/credentials"
        env["AWS_ACCESS_KEY_ID"] = accessKey
        env["AWS_SECRET_ACCESS_KEY"] = secretKey
        env["AWS_REGION"] = region
        env["AWS_DEFAULT_REGION"] = region
        env["AWS_PAGER"] = ""
        env["S3_ARCHIVE_CATALOG"] = nil
        for (name, value) in overrides { env[name] = value }
        return env
    }
}

// MARK: - Running processes

/// What a subprocess reads on its standard input.
enum ProcessInput: Sendable {
    /// /dev/null.
    case none
    /// These bytes, through a pipe.
    case data(Data)
    /// The contents of this file, copied through a pipe: the child sees a stream of unknown length.
    case pipedFile(String)
    /// This file itself as standard input (`< FILE`): a regular file, its length known.
    case redirectedFile(String)
}

/// How a subprocess ended, and everything it wrote.
struct ProcessResult: Sendable {
    let arguments: [String]
    let status: Int32
    let stdout: Data
    let stderr: Data
    let duration: TimeInterval
    let timedOut: Bool

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
    /// The non-empty lines of stdout.
    var lines: [String] { out.split(separator: "\n").map(String.init) }

    /// For assertion messages: the command, its status and its stderr.
    var summary: String {
        "`\(arguments.joined(separator: " "))` exited \(status)\(timedOut ? " (killed: timeout)" : "") after "
            + String(format: "%.1f s", duration) + "; stderr: \(err.isEmpty ? "(empty)" : err)"
    }
}

/// A value shared between threads under a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    var current: Value { withLock { $0 } }
}

private let ignoreSIGPIPE: Void = {
    // A child that exits before reading all its input must not kill the test runner.
    signal(SIGPIPE, SIG_IGN)
}()

/// Writes all of `bytes` to `fd`; false when the reader went away.
@discardableResult
private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += n
    }
    return true
}

/// Runs `executable` with `arguments`, feeding `input`, capturing stdout (or sending it to the file
/// `stdoutPath`) and stderr, and killing it after `timeout` seconds.
func runProcess(_ executable: String, _ arguments: [String], input: ProcessInput = .none,
                environment: [String: String], stdoutPath: String? = nil, directory: String? = nil,
                timeout: TimeInterval = 120) throws -> ProcessResult {
    _ = ignoreSIGPIPE
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }

    let stdinPipe: Pipe?
    switch input {
    case .none:
        stdinPipe = nil
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    case .redirectedFile(let path):
        stdinPipe = nil
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw NSError(domain: "EndToEndTests", code: 5, userInfo: [NSLocalizedDescriptionKey: "cannot open \(path)"])
        }
        process.standardInput = handle
    case .data, .pipedFile:
        let pipe = Pipe()
        stdinPipe = pipe
        process.standardInput = pipe
    }
    let outPipe = Pipe()
    var outFile: FileHandle?
    if let stdoutPath {
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        outFile = FileHandle(forWritingAtPath: stdoutPath)
        process.standardOutput = outFile
    } else {
        process.standardOutput = outPipe
    }
    let errPipe = Pipe()
    process.standardError = errPipe

    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    let started = Date()
    try process.run()
    try? outFile?.close()

    let group = DispatchGroup()
    let captured = Locked((out: Data(), err: Data()))
    if stdoutPath == nil {
        let handle = outPipe.fileHandleForReading
        DispatchQueue.global().async(group: group) {
            let data = handle.readDataToEndOfFile()
            captured.withLock { $0.out = data }
        }
    }
    let errHandle = errPipe.fileHandleForReading
    DispatchQueue.global().async(group: group) {
        let data = errHandle.readDataToEndOfFile()
        captured.withLock { $0.err = data }
    }
    if let stdinPipe {
        let writer = stdinPipe.fileHandleForWriting
        // Our copy of the pipe's read end must go, or the child never sees a broken pipe.
        try? stdinPipe.fileHandleForReading.close()
        DispatchQueue.global().async(group: group) {
            let fd = writer.fileDescriptor
            switch input {
            case .data(let data):
                data.withUnsafeBytes { _ = writeAll(fd, $0) }
            case .pipedFile(let path):
                if let source = FileHandle(forReadingAtPath: path) {
                    while true {
                        let chunk = source.readData(ofLength: 1 << 20)
                        if chunk.isEmpty { break }
                        if !chunk.withUnsafeBytes({ writeAll(fd, $0) }) { break }
                    }
                    try? source.close()
                }
            case .none, .redirectedFile:
                break
            }
            try? writer.close()
        }
    }

    var timedOut = false
    if exited.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        process.terminate()
        if exited.wait(timeout: .now() + 5) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
    }
    // The pipes close when the child (and anything it forked that kept them) is gone.
    if group.wait(timeout: .now() + 30) == .timedOut {
        throw NSError(domain: "EndToEndTests", code: 1,
                      userInfo: [NSLocalizedDescriptionKey: "\(executable): output pipes never closed"])
    }
    let result = captured.current
    return ProcessResult(arguments: [(executable as NSString).lastPathComponent] + arguments,
                         status: process.terminationStatus, stdout: result.out, stderr: result.err,
                         duration: Date().timeIntervalSince(started), timedOut: timedOut)
}

/// The full path of `name` on PATH.
func which(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

// MARK: - Files and hashes

/// Writes `size` random bytes to `path` (from /dev/urandom, 1 MiB at a time).
func makeRandomFile(_ path: String, size: Int) throws {
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    guard let out = FileHandle(forWritingAtPath: path), let random = FileHandle(forReadingAtPath: "/dev/urandom") else {
        throw NSError(domain: "EndToEndTests", code: 2, userInfo: [NSLocalizedDescriptionKey: "cannot create \(path)"])
    }
    defer { try? out.close(); try? random.close() }
    var remaining = size
    while remaining > 0 {
        let chunk = random.readData(ofLength: min(remaining, 1 << 20))
        try out.write(contentsOf: chunk)
        remaining -= chunk.count
    }
}

/// Hex SHA-256 of a file, by coreutils' sha256sum: independent of the code under test.
func sha256(ofFile path: String) throws -> String {
    try hashTool("sha256sum", path)
}

/// Hex MD5 of a file, by coreutils' md5sum.
func md5(ofFile path: String) throws -> String {
    try hashTool("md5sum", path)
}

private func hashTool(_ tool: String, _ path: String) throws -> String {
    guard let executable = which(tool) ?? ["/usr/bin/\(tool)", "/bin/\(tool)"].first(where: {
        FileManager.default.isExecutableFile(atPath: $0)
    }) else {
        throw NSError(domain: "EndToEndTests", code: 3, userInfo: [NSLocalizedDescriptionKey: "\(tool) not found"])
    }
    let result = try runProcess(executable, [path], environment: ProcessInfo.processInfo.environment, timeout: 60)
    guard result.status == 0, let digest = result.out.split(separator: " ").first else {
        throw NSError(domain: "EndToEndTests", code: 4, userInfo: [NSLocalizedDescriptionKey: result.summary])
    }
    return String(digest)
}

/// A temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ label: String) throws {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/s3a-e2e-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A bucket name nobody else uses: lowercase, 3-63 characters.
func uniqueBucketName(_ label: String) -> String {
    let clean = String(label.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(30))
    return "s3a-e2e-\(clean)-\(UUID().uuidString.prefix(8).lowercased())"
}

// MARK: - Records

/// One record of s3-put, decoded independently of ArchiveCore's own type: the fields every record must have.
struct PutRecord: Decodable, Equatable {
    let url: String
    let bucket: String?
    let key: String
    let size: Int
    let etag: String
    let partSize: Int
    let parts: Int
    let storageClass: String?
    /// True when an identical object was already there and nothing was sent.
    let skipped: Bool?

    enum CodingKeys: String, CodingKey {
        case url, bucket, key, size, etag, parts, skipped
        case partSize = "part_size"
        case storageClass = "storage_class"
    }
}

/// The ETag S3 gives an object of `size` bytes uploaded in parts of `partSize`: its "-N" suffix.
func expectedPartCount(size: Int, partSize: Int) -> Int {
    max(1, (size + partSize - 1) / partSize)
}

// MARK: - The base class

/// A test case that needs the servers and the executables, with a temporary directory per test, helpers
/// to run the tools and aws-cli, and a bucket of its own per class, created when a test first asks for it.
class EndToEndCase: XCTestCase {
    /// Set in setUp; every test can rely on it.
    var env: TestEnvironment!
    var temp: TemporaryDirectory!

    /// Buckets created so far, one per test class, by class name.
    private static let buckets = Locked<[String: String]>([:])

    /// This class's own bucket, created the first time a test of the class needs it.
    var bucket: String {
        get throws {
            let name = String(describing: type(of: self))
            if let existing = Self.buckets.current[name] { return existing }
            let created = uniqueBucketName(name.replacingOccurrences(of: "Tests", with: ""))
            let result = try aws(["s3", "mb", "s3://\(created)"])
            guard result.status == 0 else {
                XCTFail("cannot create bucket \(created): \(result.summary)")
                throw TestEnvironment.Missing()
            }
            Self.buckets.withLock { $0[name] = created }
            return created
        }
    }

    /// Without the servers the test fails (with `missingServersMessage`), and its body does not run. This is
    /// checked here rather than by throwing from setUp, which XCTest would also count as a skip.
    override func invokeTest() {
        do {
            env = try TestEnvironment.require()
        } catch {
            return
        }
        super.invokeTest()
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        continueAfterFailure = true
        temp = try TemporaryDirectory(String(describing: type(of: self)).lowercased())
    }

    override func tearDownWithError() throws {
        temp?.remove()
        // Whatever the test did, successful or failed uploads, it must leave no multipart upload behind.
        if env != nil, let bucket = Self.buckets.current[String(describing: type(of: self))] {
            assertNoMultipartUploads(bucket)
        }
        try super.tearDownWithError()
    }

    override class func tearDown() {
        // Remove this class's bucket and everything in it; the servers are thrown away anyway by bin/test.
        let name = String(describing: self)
        if let bucket = buckets.withLock({ $0.removeValue(forKey: name) }),
           let env = try? TestEnvironment.peek(), let aws = which("aws") {
            _ = try? runProcess(aws, ["--endpoint-url", env.endpoint, "s3", "rb", "--force", "s3://\(bucket)"],
                                environment: env.processEnvironment(), timeout: 60)
        }
        super.tearDown()
    }

    // MARK: Tools

    /// Runs s3-put with `--endpoint-url` set to SeaweedFS (unless `endpoint` is false), and checks that the
    /// secret key never shows in its output, whatever happened.
    func s3put(_ arguments: [String], input: ProcessInput = .none, endpoint: Bool = true,
               environment: [String: String?] = [:], timeout: TimeInterval = 120,
               file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let args = (endpoint ? ["--endpoint-url", env.endpoint] : []) + arguments
        let result = try runProcess(env.tool("s3-put"), args, input: input,
                                    environment: s3putEnvironment(environment), timeout: timeout)
        assertNoSecret(result, env.secretKey, file: file, line: line)
        XCTAssertFalse(result.timedOut, "s3-put timed out: \(result.summary)", file: file, line: line)
        return result
    }

    /// The environment of s3-put: the test's own catalog (never the user's), in its temporary directory.
    func s3putEnvironment(_ overrides: [String: String?] = [:]) -> [String: String] {
        var all: [String: String?] = ["S3_ARCHIVE_CATALOG": temp.file("catalog.sqlite"), "XDG_DATA_HOME": temp.path]
        for (name, value) in overrides { all[name] = value }
        return env.processEnvironment(all)
    }

    /// Runs s3-etag (no servers involved).
    func s3etag(_ arguments: [String], input: ProcessInput = .none, directory: String? = nil,
                file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let result = try runProcess(env.tool("s3-etag"), arguments, input: input,
                                    environment: env.processEnvironment(), directory: directory, timeout: 120)
        XCTAssertFalse(result.timedOut, "s3-etag timed out: \(result.summary)", file: file, line: line)
        return result
    }

    /// Runs aws-cli against SeaweedFS, or against `endpoint`.
    func aws(_ arguments: [String], input: ProcessInput = .none, stdoutPath: String? = nil, endpoint: String? = nil,
             timeout: TimeInterval = 120) throws -> ProcessResult {
        guard let aws = which("aws") else {
            XCTFail("aws (aws-cli) is not on PATH: run bin/setup")
            throw TestEnvironment.Missing()
        }
        return try runProcess(aws, ["--endpoint-url", endpoint ?? env.endpoint] + arguments, input: input,
                              environment: env.processEnvironment(), stdoutPath: stdoutPath, timeout: timeout)
    }

    /// `aws s3api head-object`: the object's ETag (without quotes) and size, or nil when it is not there.
    func headObject(_ bucket: String, _ key: String, endpoint: String? = nil,
                    file: StaticString = #filePath, line: UInt = #line) throws -> (etag: String, size: Int)? {
        try headObjectFields(bucket, key, endpoint: endpoint, file: file, line: line).map {
            (($0["ETag"] as? String ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\"")),
             ($0["ContentLength"] as? NSNumber)?.intValue ?? -1)
        }
    }

    /// `aws s3api head-object` as JSON, or nil when the object is not there.
    func headObjectFields(_ bucket: String, _ key: String, endpoint: String? = nil,
                          file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any]? {
        let result = try aws(["s3api", "head-object", "--bucket", bucket, "--key", key, "--output", "json"],
                             endpoint: endpoint)
        if result.status != 0 {
            XCTAssertTrue(result.err.contains("404") || result.err.contains("Not Found"),
                          "head-object failed other than by a 404: \(result.summary)", file: file, line: line)
            return nil
        }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        XCTAssertNotNil(object, "head-object printed no JSON object: \(result.out)", file: file, line: line)
        return object
    }

    /// Reads an object back with `aws s3 cp s3://… -` into a file, and returns the file's SHA-256.
    func readBackSHA256(_ bucket: String, _ key: String,
                        file: StaticString = #filePath, line: UInt = #line) throws -> String? {
        let path = temp.file("readback-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try aws(["s3", "cp", "s3://\(bucket)/\(key)", "-"], stdoutPath: path)
        guard result.status == 0 else {
            XCTFail("aws s3 cp s3://\(bucket)/\(key) - failed: \(result.summary)", file: file, line: line)
            return nil
        }
        return try sha256(ofFile: path)
    }

    /// The keys of the multipart uploads still open in `bucket`.
    func multipartUploads(_ bucket: String) throws -> [String] {
        let result = try aws(["s3api", "list-multipart-uploads", "--bucket", bucket, "--output", "json"])
        guard result.status == 0 else {
            XCTFail("list-multipart-uploads failed: \(result.summary)")
            return []
        }
        if result.stdout.isEmpty { return [] }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        let uploads = object?["Uploads"] as? [[String: Any]] ?? []
        return uploads.map { ($0["Key"] as? String) ?? "?" }
    }

    func assertNoMultipartUploads(_ bucket: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let open = try multipartUploads(bucket)
            XCTAssertEqual(open, [], "multipart uploads left behind in \(bucket)", file: file, line: line)
        } catch {
            XCTFail("cannot list multipart uploads of \(bucket): \(error)", file: file, line: line)
        }
    }

    // MARK: Assertions

    /// Decodes each stdout line as a record; fails the test on any line that is not one.
    func records(_ result: ProcessResult, file: StaticString = #filePath, line: UInt = #line) -> [PutRecord] {
        result.lines.compactMap { text in
            do {
                return try JSONDecoder().decode(PutRecord.self, from: Data(text.utf8))
            } catch {
                XCTFail("stdout line is not a record (\(error)): \(text)", file: file, line: line)
                return nil
            }
        }
    }

    /// The one record of a successful single-object s3-put.
    func singleRecord(_ result: ProcessResult, file: StaticString = #filePath, line: UInt = #line) -> PutRecord? {
        XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
        let all = records(result, file: file, line: line)
        XCTAssertEqual(all.count, 1, "expected one record, got: \(result.out)", file: file, line: line)
        return all.first
    }

    func assertNoSecret(_ result: ProcessResult, _ secret: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        guard !secret.isEmpty else { return }
        XCTAssertFalse(result.out.contains(secret), "the secret key appears on stdout", file: file, line: line)
        XCTAssertFalse(result.err.contains(secret), "the secret key appears on stderr", file: file, line: line)
    }

    /// The ETag s3-etag prints for `path` with `partSize`.
    func etagOf(_ path: String, partSize: String, file: StaticString = #filePath, line: UInt = #line) throws -> String? {
        let result = try s3etag(["--part-size", partSize, path], file: file, line: line)
        XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
        XCTAssertEqual(result.lines.count, 1, "s3-etag printed: \(result.out)", file: file, line: line)
        guard let first = result.lines.first else { return nil }
        let fields = first.components(separatedBy: "  ")
        XCTAssertEqual(fields.count, 2, "not 'ETAG  NAME': \(first)", file: file, line: line)
        XCTAssertEqual(fields.last, path, "s3-etag names the file as given", file: file, line: line)
        return fields.first
    }
}

extension TestEnvironment {
    /// The environment if it is complete, without recording a failure (for class teardown).
    static func peek() throws -> TestEnvironment {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["S3A_TEST_S3_ENDPOINT"], !endpoint.isEmpty,
              let bin = env["S3A_TEST_BIN"], !bin.isEmpty else { throw Missing() }
        return TestEnvironment(endpoint: endpoint, motoEndpoint: env["S3A_TEST_MOTO_ENDPOINT"], binDirectory: bin,
                               accessKey: env["AWS_ACCESS_KEY_ID"] ?? "",
                               secretKey: env["AWS_SECRET_ACCESS_KEY"] ?? "",
                               region: env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1")
    }
}

/// Regular expression match, for the few places where a shape matters more than a value.
func matches(_ text: String, _ pattern: String) -> Bool {
    text.range(of: pattern, options: .regularExpression) != nil
}

// MARK: - Fault injection

/// The python3 both test proxies use to pass a request on to the real server and its answer back, unchanged
/// (the signed Host header included); `before_body(status, size)` runs once the headers are out.
/// The end of every proxy script: serve `Handler` on a free loopback port, and publish the port by renaming a
/// file into place (RunningProxy waits for it), so that a half-written number is never read.
let proxyServe = #"""
import os
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"""#

let proxyRelay = #"""
def relay(handler, body, before_body=None):
    conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
    conn.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
    for name, value in handler.headers.items():
        if name.lower() in ("expect", "connection", "keep-alive", "proxy-connection"):
            continue
        conn.putheader(name, value)
    conn.endheaders(body if body else None)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    handler.send_response_only(response.status, response.reason)
    for name, value in response.getheaders():
        if name.lower() in ("connection", "keep-alive", "transfer-encoding", "content-length"):
            continue
        handler.send_header(name, value)
    if handler.command == "HEAD":
        handler.send_header("Content-Length", response.getheader("Content-Length") or "0")
    else:
        handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if before_body:
        before_body(response.status, 0 if handler.command == "HEAD" else len(data))
    if handler.command != "HEAD":
        handler.wfile.write(data)
"""#

/// A test's proxy script running under python3 on a free loopback port, in front of `upstream`: started with
/// `upstream PORTFILE LOGFILE ARGUMENTS...` (the files named `file` in `directory`), its log readable, stopped
/// when asked or when dropped.
final class RunningProxy {
    let endpoint: String
    let logPath: String
    private let process: Process

    init(script: String, upstream: String, arguments: [String], directory: String, file: String, name: String,
         environment: [String: String]) throws {
        guard let python = which("python3") else {
            XCTFail("python3 is not on PATH")
            throw TestEnvironment.Missing()
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let portFile = directory + "/" + file + ".port"
        logPath = directory + "/" + file + ".log"
        (process, endpoint) = try startPythonProxy(python: python, script: script,
                                                   arguments: [upstream, portFile, logPath] + arguments,
                                                   portFile: portFile, environment: environment, name: name)
    }

    /// The log's lines, as the script wrote them.
    var logLines: [String] {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Starts a python3 proxy script that writes its port to `portFile` once it listens; returns the process and
/// its http://127.0.0.1:PORT endpoint.
func startPythonProxy(python: String, script: String, arguments: [String], portFile: String,
                      environment: [String: String], name: String) throws -> (Process, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", script] + arguments
    process.environment = environment
    process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    let deadline = Date().addingTimeInterval(15)
    while Date() < deadline, process.isRunning {
        if let port = try? String(contentsOfFile: portFile, encoding: .utf8), !port.isEmpty {
            return (process, "http://127.0.0.1:\(port)")
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
    if process.isRunning { process.terminate() }
    XCTFail("\(name) did not start")
    throw TestEnvironment.Missing()
}

/// A pass-through HTTP proxy in python3 that fails the upload of one part number: with an S3 error of the given
/// HTTP status and code, or (status 0) by closing the connection without an answer; `times` times, -1 for always.
/// This is the one stand-in allowed here: no real server can be made to throttle, fail or drop exactly one
/// chosen request. SeaweedFS behind it still does all the real work, and every other request passes untouched.
final class FaultProxy {
    private let running: RunningProxy
    var endpoint: String { running.endpoint }
    private var logPath: String { running.logPath }

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

\#(proxyRelay)

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
        relay(self, body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

\#(proxyServe)
"""#

    init(upstream: String, directory: String, environment: [String: String],
         failPart: Int, status: Int, code: String, times: Int) throws {
        let rule = "{\"part\": \(failPart), \"status\": \(status), \"code\": \"\(code)\", \"times\": \(times)}"
        running = try RunningProxy(script: Self.script, upstream: upstream, arguments: [rule], directory: directory,
                                   file: "proxy", name: "the test proxy", environment: environment)
    }

    /// The requests seen, one per line: "METHOD /path?query", or "FAILED METHOD /path?query" for an injected error.
    func requestLog() -> [String] {
        running.logLines
    }

    func stop() { running.stop() }
}
