// Helpers for RestoreTests and VerifyTests: running s3-archive | s3-put, s3-restore and s3-verify; reading the
// restore's status report; a session tree to restore; and a counting proxy.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Counting proxy

/// One request that went through the counting proxy.
struct ProxiedRequest: Decodable {
    let method: String
    /// The path with its query, as sent: `/bucket/key?restore`.
    let path: String
    let range: String?
    let status: Int
    /// Bytes of the response body sent back to the client.
    let bytes: Int

    var query: String { path.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? "" }
    /// The path without its query.
    var resource: String { String(path.split(separator: "?", maxSplits: 1).first ?? "") }
    var isRestoreRequest: Bool { method == "POST" && query.split(separator: "&").contains { $0 == "restore" || $0.hasPrefix("restore=") } }
}

/// A pass-through HTTP proxy in python3 that exists only to count: it logs each request's method, path, Range header,
/// status and the size of the body it returned, and the most requests it ever held at once. It changes nothing
/// but, when asked, the pace: `delay` seconds before passing on each request `delayed` selects (methods separated
/// by commas, "GET,HEAD"; "PART" for part uploads), so that requests a client sends side by side are seen overlapping. The real
/// server behind it (SeaweedFS or moto) does all the work, and the signed Host header is passed on as it came,
/// so signatures stay valid.
final class CountingProxy {
    private let running: RunningProxy
    var endpoint: String { running.endpoint }
    private var logPath: String { running.logPath }

    static let script = #"""
import http.client, http.server, json, os, sys, threading, time, urllib.parse

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_file = sys.argv[2], sys.argv[3]
delay, delayed = float(sys.argv[4]), sys.argv[5]
lock = threading.Lock()
in_flight = [0, 0]  # now, most ever

def enter():
    with lock:
        in_flight[0] += 1
        if in_flight[0] > in_flight[1] or not os.path.exists(log_file + ".max"):
            in_flight[1] = in_flight[0]
            with open(log_file + ".max", "w") as f:
                f.write(str(in_flight[1]))

def leave():
    with lock:
        in_flight[0] -= 1

def slowed(handler):
    kinds = delayed.split(",")
    if handler.command in kinds:
        return True
    return handler.command == "PUT" and "PART" in kinds and "partNumber=" in handler.path

def log(entry):
    with lock:
        with open(log_file, "a") as f:
            f.write(json.dumps(entry) + "\n")

\#(proxyRelay)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        enter()
        try:
            if delay > 0 and slowed(self):
                time.sleep(delay)
            # Logged before the body goes out: once the client has its answer, the log already holds it.
            relay(self, body, lambda status, size: log({"method": self.command, "path": self.path,
                                                        "range": self.headers.get("Range"), "status": status, "bytes": size}))
        finally:
            leave()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

class Server(http.server.ThreadingHTTPServer):
    # A client opening many connections at once must not find the listen queue full (5 by default): a dropped
    # connection attempt is retried a second later and would hide the overlap being counted.
    request_queue_size = 128

server = Server(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"""#

    init(upstream: String, directory: String, environment: [String: String], delay: Double = 0,
         delayed: String = "GET") throws {
        running = try RunningProxy(script: Self.script, upstream: upstream, arguments: [String(delay), delayed],
                                   directory: directory, file: "counting-proxy", name: "the counting proxy",
                                   environment: environment)
    }

    /// The most requests the proxy held at the same time (0 before the first).
    func maxInFlight() -> Int {
        Int((try? String(contentsOfFile: logPath + ".max", encoding: .utf8)) ?? "") ?? 0
    }

    /// Every request so far, in the order they finished.
    func requests() -> [ProxiedRequest] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(ProxiedRequest.self, from: Data($0.utf8)) }
    }

    /// Forgets the requests so far.
    func reset() {
        try? FileManager.default.removeItem(atPath: logPath)
        try? FileManager.default.removeItem(atPath: logPath + ".max")
    }

    /// Body bytes of the GETs of exactly `/bucket/key` (not of `key.index.json`).
    func bytesFetched(bucket: String, key: String) -> Int {
        gets(bucket: bucket, key: key).reduce(0) { $0 + $1.bytes }
    }

    func gets(bucket: String, key: String) -> [ProxiedRequest] {
        let resource = "/\(bucket)/\(key)"
        return requests().filter { $0.method == "GET" && decodedPath($0.resource) == resource }
    }

    func restoreRequests() -> [ProxiedRequest] { requests().filter(\.isRestoreRequest) }

    private func decodedPath(_ path: String) -> String { path.removingPercentEncoding ?? path }

    func stop() { running.stop() }
}

// MARK: - The status report

/// A `_download_status_<id>_<YYYYmmdd_HHMMSS>.txt` report, read as lines.
struct StatusReportFile {
    let path: String
    let name: String
    let lines: [String]

    init(path: String) throws {
        self.path = path
        name = (path as NSString).lastPathComponent
        // Lossy: file names that are not UTF-8 are written as their bytes.
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TreeError(description: "\(path): cannot read the report")
        }
        let text = String(decoding: data, as: UTF8.self)
        var all = text.components(separatedBy: "\n")
        if all.last == "" { all.removeLast() }
        lines = all
    }

    /// The lines between "Files:" (and its "------") and the blank line before "Summary:".
    var fileLines: [String] {
        guard let start = lines.firstIndex(of: "Files:") else { return [] }
        var rest = lines[(start + 1)...]
        if rest.first == "------" { rest = rest.dropFirst() }
        return Array(rest.prefix { !$0.isEmpty })
    }

    /// Each file's outcome text ("OK - Skipped (already exists)"), by path.
    var outcomes: [String: String] {
        var result: [String: String] = [:]
        for line in fileLines {
            // Paths may contain ": " themselves; the outcome starts at the last ": OK - " or ": FAILURE - ".
            if let range = line.range(of: ": OK - ", options: .backwards) ?? line.range(of: ": FAILURE - ", options: .backwards) {
                result[String(line[..<range.lowerBound])] = String(line[line.index(range.lowerBound, offsetBy: 2)...])
            }
        }
        return result
    }

    /// The value of "Name: value" in the header or summary.
    func value(_ field: String) -> String? {
        lines.first { $0.hasPrefix(field + ": ") }.map { String($0.dropFirst(field.count + 2)) }
    }
}

/// The reports in `directory`, oldest name first.
func statusReports(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        .filter { $0.hasPrefix("_download_status_") && $0.hasSuffix(".txt") }
        .sorted()
        .map { directory + "/" + $0 }
}

/// Every path under `root` (relative), files, links and directories.
func allPaths(under root: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
    var paths: [String] = []
    while let relative = walker.nextObject() as? String { paths.append(relative) }
    return paths.sorted()
}

/// Temporary files an atomic writer could have left behind (`.NAME.tmp-PID-RANDOM`).
func leftoverTemporaryFiles(under root: String) -> [String] {
    allPaths(under: root).filter { ($0 as NSString).lastPathComponent.contains(".tmp-") }
}

/// Flips one byte of `path` in place, at `offset`.
func flipByte(_ path: String, at offset: Int) throws {
    guard let handle = FileHandle(forUpdatingAtPath: path) else { throw TreeError(description: "cannot open \(path)") }
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    guard let byte = try handle.read(upToCount: 1)?.first else { throw TreeError(description: "\(path): no byte at \(offset)") }
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data([byte ^ 0xFF]))
}

// MARK: - The tools

extension EndToEndCase {
    /// Runs `s3-archive --index INDEX SESSIONDIR | s3-put --endpoint-url E --index INDEX URL [extra]` in one shell
    /// pipeline, as a user would; returns s3-put's record (the pipeline must succeed).
    func archiveAndPut(_ sessionDirectory: String, to url: String, endpoint: String? = nil, extra: [String] = [],
                       file: StaticString = #filePath, line: UInt = #line) throws -> (record: [String: Any], line: String, index: String)? {
        let index = temp.file("index-\(UUID().uuidString.prefix(8)).json")
        let script = #"set -o pipefail; a="$1"; p="$2"; i="$3"; d="$4"; e="$5"; u="$6"; shift 6; "$a" --index "$i" "$d" | "$p" --endpoint-url "$e" --index "$i" "$@" "$u""#
        let result = try runProcess("/bin/bash", ["-c", script, "bash", env.tool("s3-archive"), env.tool("s3-put"), index,
                                                  sessionDirectory, endpoint ?? env.endpoint, url] + extra,
                                    environment: s3putEnvironment(), timeout: 120)
        XCTAssertEqual(result.status, 0, "s3-archive | s3-put: \(result.summary)", file: file, line: line)
        guard result.status == 0, let first = result.lines.first,
              let object = try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any] else {
            return nil
        }
        return (object, first, index)
    }

    /// Runs s3-restore against SeaweedFS (or `endpoint`), with the test's own catalog and configuration.
    func s3restore(_ arguments: [String], endpoint: String? = nil, input: ProcessInput = .none,
                   timeout: TimeInterval = 120, prefix: [String] = [],
                   file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let args = ["--endpoint-url", endpoint ?? env.endpoint] + arguments
        let result: ProcessResult
        if prefix.isEmpty {
            result = try runProcess(env.tool("s3-restore"), args, input: input, environment: s3putEnvironment(), timeout: timeout)
        } else {
            // Run as another user: a copy in the (world-traversable) temporary folder, since the checkout's
            // folders may be closed to others.
            let copy = temp.path + "/s3-restore-copy"
            if !FileManager.default.fileExists(atPath: copy) {
                try FileManager.default.copyItem(atPath: env.tool("s3-restore"), toPath: copy)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy)
            }
            result = try runProcess(prefix[0], Array(prefix.dropFirst()) + [copy] + args, input: input,
                                    environment: s3putEnvironment(), timeout: timeout)
        }
        assertNoSecret(result, env.secretKey, file: file, line: line)
        XCTAssertFalse(result.timedOut, "s3-restore timed out: \(result.summary)", file: file, line: line)
        return result
    }

    /// Runs s3-verify against SeaweedFS (or `endpoint`), with the test's own catalog.
    func s3verify(_ arguments: [String], endpoint: String? = nil, input: ProcessInput = .none,
                  file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let result = try runProcess(env.tool("s3-verify"), ["--endpoint-url", endpoint ?? env.endpoint] + arguments,
                                    input: input, environment: s3putEnvironment(), timeout: 120)
        assertNoSecret(result, env.secretKey, file: file, line: line)
        XCTAssertFalse(result.timedOut, "s3-verify timed out: \(result.summary)", file: file, line: line)
        return result
    }

    /// The one report s3-restore left in `directory`.
    func onlyReport(in directory: String, file: StaticString = #filePath, line: UInt = #line) throws -> StatusReportFile? {
        let reports = statusReports(in: directory)
        XCTAssertEqual(reports.count, 1, "expected one report in \(directory), found \(reports)", file: file, line: line)
        guard let path = reports.last else { return nil }
        return try StatusReportFile(path: path)
    }

    /// A new empty directory under the test's temporary directory.
    func makeDirectory(_ name: String) throws -> String {
        let path = temp.file(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

// MARK: - A session to restore

enum RestoreTree {
    /// A session at `root` (created): nested folders, a symlink, a hard link, an empty file, an empty folder, files of
    /// 1–5 MiB, non-ASCII names, several modes, and an mtime of its own for every entry.
    static func make(at root: String, bigSizes: [Int] = [MiB + 3, 2 * MiB + 100, 5 * MiB]) throws {
        let fm = FileManager.default
        func dir(_ relative: String, mode: Int = 0o755) throws {
            try fm.createDirectory(atPath: root + "/" + relative, withIntermediateDirectories: true)
            try chmodOrThrow(root + "/" + relative, mode)
        }
        func write(_ relative: String, _ text: String, mode: Int = 0o644) throws {
            guard fm.createFile(atPath: root + "/" + relative, contents: Data(text.utf8)) else {
                throw TreeError(description: "cannot create \(root)/\(relative)")
            }
            try chmodOrThrow(root + "/" + relative, mode)
        }
        func random(_ relative: String, _ size: Int, mode: Int = 0o644) throws {
            try makeRandomFile(root + "/" + relative, size: size)
            try chmodOrThrow(root + "/" + relative, mode)
        }
        try dir("")
        try write("notes.txt", "session notes\n")
        try write("empty.dat", "")
        try dir("empty dir")
        try dir("data/raw", mode: 0o750)
        for (index, size) in bigSizes.enumerated() { try random("data/raw/frame\(index + 1).fits", size) }
        try write("data/raw/reduce.sh", "#!/bin/sh\necho reduce\n", mode: 0o755)
        try random("data/private.key", 64, mode: 0o600)
        try dir("sub/deeper")
        try write("sub/a.txt", "a\n")
        try random("sub/deeper/b.bin", 10_000)
        try dir("日本/観測")
        try random("日本/観測/データ.fits", 4_321)
        try write("caf\u{E9} 🔭.txt", "non-ASCII\n")
        guard symlink("data/raw/frame1.fits", root + "/latest") == 0 else {
            throw TreeError(description: "symlink: \(String(cString: strerror(errno)))")
        }
        guard link(root + "/sub/a.txt", root + "/sub/a-hardlink.txt") == 0 else {
            throw TreeError(description: "link: \(String(cString: strerror(errno)))")
        }
        try setMtimes(root)
    }

    /// Gives every entry (children first) a distinct mtime with a fraction of a second, links included.
    static func setMtimes(_ root: String, base: Int = 1_600_000_000) throws {
        let snapshot = try TreeSnapshot(root)
        for (position, relative) in snapshot.order.enumerated().reversed() {
            try setMtime(snapshot.absolute(relative), seconds: base + position * 3_600 + 7,
                         nanoseconds: (position * 123_456_789 + 250_000_000) % 1_000_000_000)
        }
    }
}
