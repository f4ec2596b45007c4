// Helpers for ProductionPutTests: a subprocess left running while the test watches the catalog and the server
// (to kill or interrupt it mid-upload), read-only queries of a catalog through python3's sqlite3 module (an
// independent reader: not the GRDB code under test), and aws-cli views of open multipart uploads and parts.
// Everything here is prefixed `Production` so it cannot clash with helpers other test files add.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A subprocess running in the background, its stdout and stderr going to files.
final class BackgroundProcess {
    let arguments: [String]
    private let process = Process()
    private let exited = DispatchSemaphore(value: 0)
    private let hasExited = Locked(false)
    private let outPath: String
    private let errPath: String

    init(_ executable: String, _ arguments: [String], environment: [String: String], directory: String,
         label: String = UUID().uuidString) throws {
        self.arguments = [(executable as NSString).lastPathComponent] + arguments
        outPath = directory + "/\(label).stdout"
        errPath = directory + "/\(label).stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        let out = FileHandle(forWritingAtPath: outPath), err = FileHandle(forWritingAtPath: errPath)
        process.standardOutput = out
        process.standardError = err
        let flag = hasExited, semaphore = exited
        process.terminationHandler = { _ in
            flag.withLock { $0 = true }
            semaphore.signal()
        }
        try process.run()
        try? out?.close()
        try? err?.close()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { !hasExited.current }

    func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// True when the process has ended within `timeout` seconds.
    @discardableResult
    func wait(timeout: TimeInterval) -> Bool {
        if hasExited.current { return true }
        if exited.wait(timeout: .now() + timeout) == .success {
            exited.signal() // let later waits return too
            return true
        }
        return false
    }

    /// Kills it if it still runs (for test cleanup).
    func stop() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        wait(timeout: 10)
    }

    /// The exit status, or the signal number when `reason` is `.uncaughtSignal`.
    var status: Int32 { process.terminationStatus }
    var reason: Process.TerminationReason { process.terminationReason }
    var out: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var err: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    var summary: String {
        "`\(arguments.joined(separator: " "))` " + (isRunning ? "still running" : "ended (\(reason == .exit ? "exit" : "signal") \(status))")
            + "; stderr: \(err.isEmpty ? "(empty)" : err)"
    }
}

/// Polls `condition` every `interval` seconds until it holds or `timeout` passes; returns whether it held.
func productionWait(timeout: TimeInterval, interval: TimeInterval = 0.1, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: interval)
    }
}

/// Rows of a read-only query on the SQLite file at `path`, each value as text ("NULL" for null), or nil when
/// the file cannot be read as a catalog yet (missing, or its tables not created). Opened with `mode=ro`, so
/// polling never creates the file or takes a write lock from the tool under test.
func productionSQLite(_ path: String, _ sql: String) -> [[String]]? {
    guard let python = which("python3") else { return nil }
    let script = """
        import json, sqlite3, sys, urllib.parse
        try:
            db = sqlite3.connect("file:" + urllib.parse.quote(sys.argv[1]) + "?mode=ro", uri=True, timeout=10)
            rows = db.execute(sys.argv[2]).fetchall()
        except sqlite3.Error as e:
            sys.stderr.write(str(e))
            sys.exit(3)
        print(json.dumps([["NULL" if v is None else str(v) for v in row] for row in rows]))
        """
    guard let result = try? runProcess(python, ["-c", script, path, sql], environment: ProcessInfo.processInfo.environment,
                                       timeout: 30),
          result.status == 0,
          let rows = try? JSONSerialization.jsonObject(with: result.stdout) as? [[String]] else { return nil }
    return rows
}

/// `'text'` for sh, whatever it holds.
func productionShellQuote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// An open multipart upload as aws-cli lists it.
struct ProductionOpenUpload: Equatable {
    let key: String
    let uploadID: String
}

extension EndToEndCase {
    /// Starts s3-put in the background (SeaweedFS's endpoint unless the arguments name one), with the test's
    /// own catalog environment.
    func productionStartPut(_ arguments: [String], environment: [String: String?] = [:]) throws -> BackgroundProcess {
        let args = arguments.contains("--endpoint-url") ? arguments : ["--endpoint-url", env.endpoint] + arguments
        return try BackgroundProcess(env.tool("s3-put"), args, environment: s3putEnvironment(environment),
                                               directory: temp.path, label: "s3-put-\(UUID().uuidString.prefix(8))")
    }

    /// The multipart uploads open in `bucket`, with their ids, by `aws s3api list-multipart-uploads`.
    func productionOpenUploads(_ bucket: String, endpoint: String? = nil) throws -> [ProductionOpenUpload] {
        let result = try aws(["s3api", "list-multipart-uploads", "--bucket", bucket, "--output", "json"], endpoint: endpoint)
        guard result.status == 0 else {
            XCTFail("list-multipart-uploads failed: \(result.summary)")
            return []
        }
        if result.stdout.isEmpty { return [] }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        return (object?["Uploads"] as? [[String: Any]] ?? []).map {
            ProductionOpenUpload(key: $0["Key"] as? String ?? "?", uploadID: $0["UploadId"] as? String ?? "?")
        }
    }

    /// The parts the server holds for an upload: number → (ETag without quotes, size), by `aws s3api list-parts`.
    func productionListParts(_ bucket: String, key: String, uploadID: String) throws -> [Int: (etag: String, size: Int)] {
        let result = try aws(["s3api", "list-parts", "--bucket", bucket, "--key", key, "--upload-id", uploadID,
                              "--output", "json"])
        guard result.status == 0 else {
            XCTFail("list-parts failed: \(result.summary)")
            return [:]
        }
        if result.stdout.isEmpty { return [:] }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        var parts: [Int: (etag: String, size: Int)] = [:]
        for part in object?["Parts"] as? [[String: Any]] ?? [] {
            guard let number = (part["PartNumber"] as? NSNumber)?.intValue else { continue }
            parts[number] = ((part["ETag"] as? String ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased(),
                             (part["Size"] as? NSNumber)?.intValue ?? -1)
        }
        return parts
    }

    /// The keys under `prefix` in `bucket`, by `aws s3api list-objects-v2`.
    func productionKeys(_ bucket: String, prefix: String, endpoint: String? = nil) throws -> [String] {
        let result = try aws(["s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix, "--output", "json"],
                             endpoint: endpoint)
        guard result.status == 0 else {
            XCTFail("list-objects-v2 failed: \(result.summary)")
            return []
        }
        if result.stdout.isEmpty { return [] }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        return (object?["Contents"] as? [[String: Any]] ?? []).compactMap { $0["Key"] as? String }.sorted()
    }

    /// Every stdout line of s3-put as a JSON object (all fields, including those PutRecord does not decode).
    func productionJSONRecords(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { row in
            guard let object = (try? JSONSerialization.jsonObject(with: Data(row.utf8))) as? [String: Any] else {
                XCTFail("stdout line is not a JSON object: \(row)", file: file, line: line)
                return nil
            }
            return object
        }
    }
}

extension Dictionary where Key == String, Value == Any {
    /// An integer field of a JSON record, nil when absent.
    func productionInt(_ name: String) -> Int? { (self[name] as? NSNumber)?.intValue }
    func productionString(_ name: String) -> String? { self[name] as? String }
}
