// Helpers for ReportTests, LifecycleTests and NightlyTests: running s3-report, s3-lifecycle and bin/s3-nightly,
// the s3-archive | s3-put pipeline, generated session trees, a process left running (to interrupt it), read and
// write access to a catalog through python3's sqlite3 (an independent peer, not the GRDB code under test), and
// parsers for the tables the tools print (tsv, JSON Lines, aligned). Everything is prefixed `report` / `Report`
// so that it cannot clash with helpers other test files add.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The package's root: the folder holding lifecycle/ and bin/.
let reportPackageRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

// MARK: - Tables

/// One table of a tsv output: its header and its rows, each row by column name.
struct ReportTSVTable {
    let columns: [String]
    var rows: [[String: String]] = []

    /// The rows whose `column` holds `value`.
    func rows(_ column: String, _ value: String) -> [[String: String]] {
        rows.filter { $0[column] == value }
    }

    /// The values of one column, in row order.
    func column(_ name: String) -> [String] { rows.map { $0[name] ?? "" } }
}

/// Splits a tsv output holding several tables one after the other at their header lines, which must be `headers`
/// in this order. Nil (and a test failure) when a header is missing or a row has the wrong number of fields.
func reportSplitTSV(_ text: String, headers: [[String]], file: StaticString = #filePath, line: UInt = #line) -> [ReportTSVTable]? {
    var tables: [ReportTSVTable] = []
    for row in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0) {
        let fields = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        if tables.count < headers.count, fields == headers[tables.count] {
            tables.append(ReportTSVTable(columns: fields))
            continue
        }
        guard var current = tables.popLast() else {
            XCTFail("tsv output does not start with the header \(headers.first ?? []): \(text)", file: file, line: line)
            return nil
        }
        guard fields.count == current.columns.count else {
            XCTFail("tsv row of \(fields.count) fields under a header of \(current.columns.count): \(row)\n\(text)", file: file, line: line)
            return nil
        }
        current.rows.append(Dictionary(uniqueKeysWithValues: zip(current.columns, fields)))
        tables.append(current)
    }
    guard tables.count == headers.count else {
        XCTFail("expected \(headers.count) tables (headers \(headers)), found \(tables.count) in:\n\(text)", file: file, line: line)
        return nil
    }
    return tables
}

/// The single table of a tsv output.
func reportTSV(_ text: String, header: [String], file: StaticString = #filePath, line: UInt = #line) -> ReportTSVTable? {
    reportSplitTSV(text, headers: [header], file: file, line: line)?.first
}

/// Each line of a JSON Lines output as an object; a test failure for any line that is not one.
func reportJSONLines(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { row in
        guard let object = (try? JSONSerialization.jsonObject(with: Data(row.utf8))) as? [String: Any] else {
            XCTFail("not a JSON object on one line: \(row)", file: file, line: line)
            return nil
        }
        return object
    }
}

/// The cells of each line of an aligned table (`--format table`): runs of two or more spaces separate cells.
func reportTableLines(_ text: String) -> [[String]] {
    text.split(separator: "\n").map { line in
        String(line).components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// A number from a JSON value, whatever its Foundation type.
func reportNumber(_ value: Any?) -> Double? {
    (value as? NSNumber)?.doubleValue
}

// MARK: - Files and session trees

/// Writes `text` to `path`, creating its folder.
func reportWrite(_ path: String, _ text: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// A file of `size` random bytes at `path`, creating its folder.
func reportRandomFile(_ path: String, size: Int) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    try makeRandomFile(path, size: size)
}

/// A sparse file claiming `size` bytes while using no disk: analyze only looks at sizes.
func reportSparseFile(_ path: String, size: Int) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    guard truncate(path, off_t(size)) == 0 else {
        throw NSError(domain: "EndToEndTests", code: 6, userInfo: [NSLocalizedDescriptionKey: "truncate \(path): errno \(errno)"])
    }
}

/// Appends bytes to a file (the size changes, and the modification time).
func reportAppend(_ path: String, _ text: String) throws {
    guard let handle = FileHandle(forWritingAtPath: path) else {
        throw NSError(domain: "EndToEndTests", code: 7, userInfo: [NSLocalizedDescriptionKey: "cannot open \(path)"])
    }
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(text.utf8))
}

/// Sets a file's modification time.
func reportSetMtime(_ path: String, _ date: Date) throws {
    try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: path)
}

/// The current year in UTC, as the catalog's report prints it.
func reportCurrentYear() -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    return String(calendar.component(.year, from: Date()))
}

// MARK: - The catalog, read and written by python3's sqlite3

/// Rows of a query on the SQLite file at `path`, each value as text ("NULL" for null); nil when it cannot be read.
/// Read-only (`mode=ro`) unless `write`, so polling never takes a write lock from the tool under test.
func reportSQLite(_ path: String, _ sql: String, write: Bool = false) -> [[String]]? {
    guard let python = which("python3") else { return nil }
    let script = """
        import json, sqlite3, sys, urllib.parse
        try:
            mode = "rw" if sys.argv[3] == "1" else "ro"
            db = sqlite3.connect("file:" + urllib.parse.quote(sys.argv[1]) + "?mode=" + mode, uri=True, timeout=10)
            rows = db.execute(sys.argv[2]).fetchall()
            db.commit()
        except sqlite3.Error as e:
            sys.stderr.write(str(e))
            sys.exit(3)
        print(json.dumps([["NULL" if v is None else str(v) for v in row] for row in rows]))
        """
    guard let result = try? runProcess(python, ["-c", script, path, sql, write ? "1" : "0"],
                                       environment: ProcessInfo.processInfo.environment, timeout: 30),
          result.status == 0,
          let rows = try? JSONSerialization.jsonObject(with: result.stdout) as? [[String]] else { return nil }
    return rows
}

/// The integer a `SELECT COUNT(*)` gives, 0 while the catalog cannot be read yet.
func reportSQLiteCount(_ path: String, _ sql: String) -> Int {
    reportSQLite(path, sql)?.first?.first.flatMap { Int($0) } ?? 0
}

/// Polls `condition` every 0.1 s until it holds or `timeout` passes; returns whether it held.
func reportWait(timeout: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: 0.1)
    }
}

// MARK: - A process left running


// MARK: - Running the tools

extension EndToEndCase {
    /// The environment of s3-report, s3-lifecycle and s3-nightly: ours, with the user's catalog, state and data
    /// folders moved into the test's temporary directory.
    func reportEnvironment(_ overrides: [String: String?] = [:]) -> [String: String] {
        var all: [String: String?] = ["XDG_DATA_HOME": temp.file("xdg-data"), "XDG_STATE_HOME": temp.file("xdg-state"),
                                      "S3_ARCHIVE_CATALOG": nil, "S3_ARCHIVE_PRICING": nil]
        for (name, value) in overrides { all[name] = value }
        return env.processEnvironment(all)
    }

    /// Runs s3-report (no server involved), in `directory` when given.
    func reportRun(_ arguments: [String], directory: String? = nil,
                   file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let result = try runProcess(env.tool("s3-report"), arguments, environment: reportEnvironment(),
                                    directory: directory, timeout: 60)
        XCTAssertFalse(result.timedOut, "s3-report timed out: \(result.summary)", file: file, line: line)
        return result
    }

    /// Runs s3-lifecycle; `endpoint` is added as --endpoint-url for apply and show.
    func reportLifecycle(_ arguments: [String], endpoint: String? = nil,
                         file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        var args = arguments
        if let endpoint { args.insert(contentsOf: ["--endpoint-url", endpoint], at: 1) }
        let result = try runProcess(env.tool("s3-lifecycle"), args, environment: reportEnvironment(), timeout: 60)
        XCTAssertFalse(result.timedOut, "s3-lifecycle timed out: \(result.summary)", file: file, line: line)
        assertNoSecret(result, env.secretKey, file: file, line: line)
        return result
    }

    /// Runs s3-verify against SeaweedFS.
    func reportVerify(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let result = try runProcess(env.tool("s3-verify"), ["--endpoint-url", env.endpoint] + arguments,
                                    environment: s3putEnvironment(), timeout: 60)
        XCTAssertFalse(result.timedOut, "s3-verify timed out: \(result.summary)", file: file, line: line)
        return result
    }

    /// `s3-archive --index INDEX SESSION | s3-put --index INDEX ARGS` as a shell runs it (pipefail), against SeaweedFS.
    func reportArchiveAndPut(_ session: String, index: String, _ putArguments: [String],
                             file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let script = #"set -o pipefail; "$0" --index "$1" "$2" | "$3" --endpoint-url "$4" --index "$1" "${@:5}""#
        let result = try runProcess("/bin/bash", ["-c", script, env.tool("s3-archive"), index, session, env.tool("s3-put"),
                                                  env.endpoint] + putArguments,
                                    environment: s3putEnvironment(), timeout: 120)
        XCTAssertFalse(result.timedOut, "the pipeline timed out: \(result.summary)", file: file, line: line)
        assertNoSecret(result, env.secretKey, file: file, line: line)
        return result
    }

    /// Runs bin/s3-nightly with `arguments`.
    func reportNightly(_ arguments: [String], timeout: TimeInterval = 120,
                       file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let result = try runProcess(reportPackageRoot + "/bin/s3-nightly", arguments, environment: reportEnvironment(),
                                    timeout: timeout)
        XCTAssertFalse(result.timedOut, "s3-nightly timed out: \(result.summary)", file: file, line: line)
        assertNoSecret(result, env.secretKey, file: file, line: line)
        return result
    }

    /// The objects under `prefix` by `aws s3api list-objects-v2`: key → (ETag, LastModified).
    func reportObjects(_ bucket: String, prefix: String, endpoint: String? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws -> [String: (etag: String, modified: String)] {
        let result = try aws(["s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix, "--output", "json"],
                             endpoint: endpoint)
        guard result.status == 0 else {
            XCTFail("list-objects-v2 failed: \(result.summary)", file: file, line: line)
            return [:]
        }
        if result.stdout.isEmpty { return [:] }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        var objects: [String: (etag: String, modified: String)] = [:]
        for item in object?["Contents"] as? [[String: Any]] ?? [] {
            guard let key = item["Key"] as? String else { continue }
            objects[key] = ((item["ETag"] as? String ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\"")),
                            item["LastModified"] as? String ?? "")
        }
        return objects
    }

    /// Creates a bucket on `endpoint` (SeaweedFS unless given); true when it was made.
    func reportMakeBucket(_ name: String, endpoint: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> Bool {
        let result = try aws(["s3api", "create-bucket", "--bucket", name], endpoint: endpoint)
        XCTAssertEqual(result.status, 0, "cannot create bucket \(name): \(result.summary)", file: file, line: line)
        return result.status == 0
    }

    /// Removes a bucket and everything in it (cleanup; failures ignored).
    func reportRemoveBucket(_ name: String, endpoint: String? = nil) {
        _ = try? aws(["s3", "rb", "--force", "s3://\(name)"], endpoint: endpoint, timeout: 60)
    }
}
