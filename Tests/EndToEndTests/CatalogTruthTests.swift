// The catalog tells the truth about multipart uploads: `aborted` only when the store agreed, an upload left
// in progress settled (resumed or aborted) by the next run of the same command, two runs of one upload kept
// apart, and a catalog locked by another program reported in one line, exit 74, with nothing half-recorded.
// The catalog is read with python3's sqlite3, independently of the code under test.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class CatalogTruthTests: EndToEndCase {
    private var seaweed: PrivateSeaweed?

    override func tearDownWithError() throws {
        seaweed?.stop()
        seaweed = nil
        try super.tearDownWithError()
    }

    // MARK: a server killed mid-upload

    /// SeaweedFS is killed while a file and a stream are being uploaded: both runs fail, neither upload can be
    /// aborted, and the catalog says so (still in progress, not aborted). Once the server is back, the same two
    /// commands leave nothing behind: the file's upload is resumed, the stream's old upload aborted.
    func testServerKilledMidUploadIsResumedOrAbortedByTheRerun() throws {
        let server = try PrivateSeaweed(directory: temp.file("weed"), environment: env.processEnvironment())
        seaweed = server
        let bucket = "s3a-e2e-killed"
        XCTAssertEqual(try aws(["s3", "mb", "s3://\(bucket)"], endpoint: server.endpoint).status, 0)
        let source = temp.file("killed.bin")
        try makeRandomFile(source, size: 30 * MiB)
        let catalog = temp.file("catalog.sqlite")
        // The killed runs are slow (30 s each at 1 MiB/s), so that both uploads are still under way when the server
        // is killed even on a loaded machine; the reruns are the same commands at full speed (the rate is no part
        // of what makes an upload resumable).
        let common = ["--endpoint-url", server.endpoint, "--catalog", catalog, "--part-size", "5MiB"]
        let fileRun = common + [source, "s3://\(bucket)/killed/file.bin"]
        let streamRun = common + ["s3://\(bucket)/killed/stream.bin"]
        let slow = ["--limit-rate", "1MiB"]
        let quick: [String: String?] = ["AWS_MAX_ATTEMPTS": "2"]

        let file = startPut(slow + fileRun, environment: quick)
        let stream = startPut(slow + streamRun, input: .pipedFile(source), environment: quick)
        try waitForUploads(["killed/file.bin", "killed/stream.bin"], bucket: bucket, endpoint: server.endpoint)
        server.kill()
        for (label, run) in [("file", try file.result()), ("stream", try stream.result())] {
            XCTAssertNotEqual(run.status, 0, "\(label): the server died mid-upload: \(run.summary)")
            XCTAssertEqual(run.out, "", "\(label): no record")
        }
        let left = try sql(catalog, "SELECT url, state FROM uploads ORDER BY url")
        XCTAssertEqual(left, ["s3://\(bucket)/killed/file.bin|in_progress", "s3://\(bucket)/killed/stream.bin|in_progress"],
                       "an abort that could not reach the server is not recorded as aborted")
        XCTAssertEqual(try sql(catalog, "SELECT COUNT(*) FROM operations WHERE outcome = 'abort_failed'"), ["2"])

        try server.restart()
        XCTAssertEqual(Set(try openUploads(bucket, endpoint: server.endpoint)), ["killed/file.bin", "killed/stream.bin"],
                       "control: the restarted server still holds both uploads")
        let fileAgain = try s3put(fileRun, endpoint: false)
        XCTAssertEqual(singleRecord(fileAgain)?.etag, try etagOf(source, partSize: "5MiB"))
        let streamAgain = try s3put(streamRun, input: .pipedFile(source), endpoint: false)
        XCTAssertEqual(singleRecord(streamAgain)?.etag, try etagOf(source, partSize: "5MiB"))
        XCTAssertEqual(try openUploads(bucket, endpoint: server.endpoint), [], "no upload left behind, listed or not")
        XCTAssertEqual(try sql(catalog, "SELECT COUNT(*) FROM uploads WHERE state = 'in_progress'"), ["0"])
        let states = try sql(catalog, "SELECT url, state FROM uploads ORDER BY url, started_at")
        XCTAssertEqual(states, ["s3://\(bucket)/killed/file.bin|completed",
                                "s3://\(bucket)/killed/stream.bin|aborted", "s3://\(bucket)/killed/stream.bin|completed"],
                       "the file's upload was resumed (one upload), the stream's left-over aborted")
    }

    // MARK: two runs at once

    /// Two runs of the same upload at once: the second waits for the first, then finds the object and skips it.
    func testTwoRunsOfOneUploadAtOnce() throws {
        let bucket = try bucket
        let source = temp.file("twice.bin")
        try makeRandomFile(source, size: 40 * MiB)
        let arguments = ["--part-size", "5MiB", "--limit-rate", "8MiB", source, "s3://\(bucket)/twice.bin"]
        let first = startPut(["--endpoint-url", env.endpoint] + arguments)
        let second = startPut(["--endpoint-url", env.endpoint] + arguments)
        let runs = [try first.result(), try second.result()]
        let records = runs.compactMap { singleRecord($0) }
        XCTAssertEqual(records.count, 2, "both runs succeed with one record each")
        XCTAssertEqual(records.filter { $0.skipped == true }.count, 1, "one stored it, the other found it there: \(records)")
        XCTAssertEqual(Set(records.map(\.etag)), [try etagOf(source, partSize: "5MiB")])
        XCTAssertTrue(runs.contains { $0.err.contains("another s3-put is writing it") },
                      "the second run said it waits: \(runs.map(\.err))")
        XCTAssertEqual(try headObject(bucket, "twice.bin")?.size, 40 * MiB)
        XCTAssertEqual(try multipartUploads(bucket), [])
        XCTAssertEqual(try sql(temp.file("catalog.sqlite"), "SELECT state FROM uploads"), ["completed"], "one upload")
    }

    // MARK: a busy catalog

    /// A catalog another program keeps locked: s3-put and s3-report wait as long as S3_ARCHIVE_CATALOG_TIMEOUT says,
    /// then exit 74 with one line naming the catalog, and nothing is sent.
    func testBusyCatalogIsExit74InOneLine() throws {
        let bucket = try bucket
        let catalog = temp.file("catalog.sqlite")
        let small = temp.file("small.bin")
        try makeRandomFile(small, size: 3000)
        XCTAssertEqual(try s3put([small, "s3://\(bucket)/busy/first.bin"]).status, 0, "makes the catalog")
        let locker = try CatalogLocker(catalog)
        defer { locker.release() }

        let put = try s3put([small, "s3://\(bucket)/busy/second.bin"], environment: ["S3_ARCHIVE_CATALOG_TIMEOUT": "1"])
        let report = try runProcess(env.tool("s3-report"), ["status", "--catalog", catalog],
                                    environment: s3putEnvironment(["S3_ARCHIVE_CATALOG_TIMEOUT": "1"]), timeout: 60)
        for result in [put, report] {
            XCTAssertEqual(result.status, 74, result.summary)
            XCTAssertEqual(result.err.split(separator: "\n").count, 1, "one line: \(result.err)")
            XCTAssertTrue(result.err.contains(catalog) && result.err.contains("S3_ARCHIVE_CATALOG_TIMEOUT"), result.err)
            XCTAssertFalse(result.err.contains("SQLite"), "the tool's words, not SQLite's: \(result.err)")
            XCTAssertLessThan(result.duration, 20)
        }
        XCTAssertNil(try headObject(bucket, "busy/second.bin"), "nothing sent with no catalog to record it")
        let wrong = try s3put([small, "s3://\(bucket)/busy/second.bin"], environment: ["S3_ARCHIVE_CATALOG_TIMEOUT": "soon"])
        XCTAssertEqual(wrong.status, 64, wrong.summary)
    }

    /// The catalog is locked by another program in the middle of an upload: the run fails with 74 and one line,
    /// the upload is aborted at the store and never recorded as stored; the next run leaves nothing in progress.
    func testCatalogLockedMidUploadLeavesNothingHalfRecorded() throws {
        let bucket = try bucket
        let catalog = temp.file("catalog.sqlite")
        let source = temp.file("locked.bin")
        try makeRandomFile(source, size: 30 * MiB)
        let arguments = ["--part-size", "5MiB", source, "s3://\(bucket)/locked.bin"]
        // Slow enough (10 s) that the catalog is locked before the first part is stored.
        let run = startPut(["--endpoint-url", env.endpoint, "--limit-rate", "3MiB"] + arguments,
                           environment: ["S3_ARCHIVE_CATALOG_TIMEOUT": "1"])
        try waitForUploads(["locked.bin"], bucket: bucket, endpoint: env.endpoint)
        let locker = try CatalogLocker(catalog)
        let failed = try run.result()
        locker.release()
        XCTAssertEqual(failed.status, 74, failed.summary)
        XCTAssertEqual(failed.err.split(separator: "\n").count, 1, "one line: \(failed.err)")
        XCTAssertTrue(failed.err.contains(catalog), failed.err)
        XCTAssertEqual(failed.out, "")
        XCTAssertEqual(try multipartUploads(bucket), [], "the failed upload is aborted at the store")
        XCTAssertNil(try headObject(bucket, "locked.bin"))
        XCTAssertEqual(try sql(catalog, "SELECT COUNT(*) FROM objects WHERE url = 's3://\(bucket)/locked.bin'"), ["0"])

        let again = try s3put(arguments)
        XCTAssertEqual(singleRecord(again)?.etag, try etagOf(source, partSize: "5MiB"))
        XCTAssertEqual(try sql(catalog, "SELECT state FROM uploads ORDER BY started_at"), ["ended", "completed"],
                       "the first upload, aborted while the catalog could not say so, is recorded ended by the next run")
    }

    /// The catalog is locked by another program once s3-verify has opened it (and before it reads its records):
    /// every check is still printed, the first that cannot be recorded ends the recording (no wait per check), and
    /// one line at the end names the catalog and how many checks it misses, exit 74, not 0.
    func testVerifyWhoseChecksCannotBeRecordedSaysSoAndExits74() throws {
        let bucket = try bucket
        let catalog = temp.file("catalog.sqlite")
        var records = ""
        for n in 1...3 {
            let source = temp.file("v\(n).bin")
            try makeRandomFile(source, size: 1000 * n)
            let put = try s3put([source, "s3://\(bucket)/verify-locked/v\(n).bin"])
            XCTAssertEqual(put.status, 0, put.summary)
            records += put.out
        }
        let recordsFile = temp.file("records.jsonl")
        try records.write(toFile: recordsFile, atomically: true, encoding: .utf8)
        // python3 starts s3-verify on a pipe, waits until it has opened the catalog and sits reading its records
        // from standard input (its main thread in read(0, …), from /proc), locks the catalog, and only then hands
        // it the records.
        let driver = """
            import os, platform, sqlite3, subprocess, sys, time
            tool, catalog, records, endpoint = sys.argv[1:5]
            run = subprocess.Popen([tool, "--endpoint-url", endpoint, "--catalog", catalog], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            read = {"x86_64": "0", "aarch64": "63"}[platform.machine()]
            for _ in range(800):
                with open("/proc/%d/syscall" % run.pid) as f: now = f.read().split()
                if now[:2] == [read, "0x0"]: break
                time.sleep(0.025)
            else:
                sys.exit("s3-verify never waited for its records")
            db = sqlite3.connect(catalog, isolation_level=None, timeout=30)
            db.execute("BEGIN EXCLUSIVE")
            out, err = run.communicate(open(records, "rb").read())
            db.execute("ROLLBACK")
            sys.stdout.write("status %d\\n" % run.returncode + out.decode())
            sys.stderr.write(err.decode())
            """
        let result = try runProcess(try XCTUnwrap(which("python3")), ["-c", driver, env.tool("s3-verify"), catalog, recordsFile, env.endpoint],
                                    environment: s3putEnvironment(["S3_ARCHIVE_CATALOG_TIMEOUT": "1"]), timeout: 60)
        XCTAssertEqual(result.lines.first, "status 74", result.summary)
        XCTAssertEqual(result.lines.dropFirst().filter { $0.hasPrefix("OK s3://") }.count, 3, "every check printed: \(result.out)")
        XCTAssertEqual(result.err.split(separator: "\n").count, 1, "one line: \(result.err)")
        XCTAssertTrue(result.err.contains(catalog) && result.err.contains("3 checks not recorded"), result.err)
        XCTAssertLessThan(result.duration, 20, "one wait for the lock, not one per check")
        XCTAssertEqual(try sql(catalog, "SELECT COUNT(*) FROM verifications"), ["0"])
    }

    /// Completion is recorded with the catalog busy and the write lost (here: the row put back in progress, as a
    /// lost write leaves it): the next run finds the upload gone from the store and the object there, and records
    /// it completed, instead of showing it in progress for ever.
    func testLostCompletionIsSettledByTheNextRun() throws {
        let bucket = try bucket
        let catalog = temp.file("catalog.sqlite")
        let source = temp.file("settled.bin")
        try makeRandomFile(source, size: 12 * MiB)
        let arguments = ["--part-size", "5MiB", source, "s3://\(bucket)/settled.bin"]
        XCTAssertEqual(try s3put(arguments).status, 0)
        _ = try sql(catalog, "UPDATE uploads SET state = 'in_progress', ended_at = NULL")
        let status = try runProcess(env.tool("s3-report"), ["status", "--catalog", catalog, "--format", "tsv"],
                                    environment: s3putEnvironment(), timeout: 60)
        XCTAssertTrue(status.out.contains("s3://\(bucket)/settled.bin"), "control: shown in progress: \(status.out)")

        let again = try s3put(arguments)
        XCTAssertEqual(singleRecord(again)?.skipped, true)
        XCTAssertEqual(try sql(catalog, "SELECT state FROM uploads"), ["completed"])
        let after = try runProcess(env.tool("s3-report"), ["status", "--catalog", catalog, "--format", "tsv"],
                                   environment: s3putEnvironment(), timeout: 60)
        XCTAssertFalse(after.out.contains("s3://\(bucket)/settled.bin"), "no longer in progress: \(after.out)")
    }

    // MARK: helpers

    /// Rows of a query on the catalog, by python3's sqlite3, columns joined with `|`.
    private func sql(_ catalog: String, _ query: String) throws -> [String] {
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            for row in db.execute(sys.argv[2]):
                print("|".join("" if v is None else str(v) for v in row))
            """
        let result = try runProcess(try python(), ["-c", script, catalog, query], environment: env.processEnvironment(),
                                    timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        return result.lines
    }

    private func python() throws -> String {
        guard let python = which("python3") else {
            XCTFail("python3 is not on PATH")
            throw TestEnvironment.Missing()
        }
        return python
    }

    private func openUploads(_ bucket: String, endpoint: String) throws -> [String] {
        let result = try aws(["s3api", "list-multipart-uploads", "--bucket", bucket, "--output", "json"], endpoint: endpoint)
        XCTAssertEqual(result.status, 0, result.summary)
        guard !result.stdout.isEmpty, let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        else { return [] }
        return (object["Uploads"] as? [[String: Any]] ?? []).map { ($0["Key"] as? String) ?? "?" }
    }

    /// Waits (up to 30 s) until each key has been seen with a multipart upload open.
    private func waitForUploads(_ keys: Set<String>, bucket: String, endpoint: String) throws {
        let deadline = Date().addingTimeInterval(30)
        var seen: Set<String> = []
        while Date() < deadline {
            seen.formUnion(try openUploads(bucket, endpoint: endpoint))
            if keys.isSubset(of: seen) { return }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTFail("the uploads of \(keys.sorted()) never showed up")
    }

    /// Starts s3-put (with its endpoint among `arguments`) on another thread.
    private func startPut(_ arguments: [String], input: ProcessInput = .none,
                          environment: [String: String?] = [:]) -> Pending {
        let pending = Pending()
        let (tool, processEnvironment) = (env.tool("s3-put"), s3putEnvironment(environment))
        DispatchQueue.global().async(group: pending.group) {
            let result = Result { try runProcess(tool, arguments, input: input, environment: processEnvironment) }
            pending.value.withLock { $0 = result }
        }
        return pending
    }

    /// A run under way on another thread.
    private final class Pending: Sendable {
        let group = DispatchGroup()
        let value = Locked<Result<ProcessResult, Error>?>(nil)

        func result() throws -> ProcessResult {
            group.wait()
            return try value.current!.get()
        }
    }
}

/// Another program holding the catalog's write lock (`BEGIN EXCLUSIVE` in python3's sqlite3) until released.
private final class CatalogLocker {
    private let process = Process()
    private let input = Pipe()

    init(_ catalog: String) throws {
        guard let python = which("python3") else {
            XCTFail("python3 is not on PATH")
            throw TestEnvironment.Missing()
        }
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
            db.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            sys.stdin.read()
            db.execute("ROLLBACK")
            """
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, catalog]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let line = output.fileHandleForReading.readData(ofLength: 7)
        XCTAssertEqual(String(decoding: line, as: UTF8.self), "locked\n", "the catalog could not be locked")
    }

    func release() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// A SeaweedFS of the test's own, started by bin/test-servers in `directory`, that can be killed (SIGKILL, as a
/// crash) and started again with the same command line: the same ports and data, so uploads survive. The server
/// is started through python3 with every descriptor but 0-2 closed: one inherited from Foundation's Process
/// would keep it from ever seeing bin/test-servers end.
private final class PrivateSeaweed {
    let endpoint: String
    private let directory: String
    private let python: String
    private let environment: [String: String]
    private let commandLine: [String]

    init(directory: String, environment: [String: String]) throws {
        guard let python = which("python3") else {
            XCTFail("python3 is not on PATH")
            throw TestEnvironment.Missing()
        }
        self.python = python
        self.directory = directory
        self.environment = environment
        let start = try runProcess(python, [
            "-c", "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:], close_fds=True))",
            reportPackageRoot + "/bin/test-servers", "start", directory, "seaweedfs",
        ], environment: environment, timeout: 90)
        guard start.status == 0,
              let env = try? String(contentsOfFile: directory + "/env", encoding: .utf8),
              let line = env.split(separator: "\n").first(where: { $0.contains("S3A_TEST_S3_ENDPOINT=") }),
              let pid = Self.pid(directory),
              let arguments = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else {
            XCTFail("the private SeaweedFS did not start: \(start.summary)")
            throw TestEnvironment.Missing()
        }
        endpoint = String(line.split(separator: "=", maxSplits: 1)[1])
        commandLine = arguments.split(separator: "\0").map(String.init)
    }

    private static func pid(_ directory: String) -> pid_t? {
        (try? String(contentsOfFile: directory + "/seaweedfs.pid", encoding: .utf8))
            .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// SIGKILL, as a crash or a power cut would end it.
    func kill() {
        guard let pid = Self.pid(directory) else { return }
        Glibc.kill(pid, SIGKILL)
        while Self.isRunning(pid) { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// Alive and not a zombie (a killed process nobody has reaped yet still answers kill(pid, 0)).
    private static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].hasPrefix(") Z") && !stat[close...].hasPrefix(") X")
    }

    /// The same command line again, in a session of its own as bin/test-servers starts it, without the AWS keys
    /// (weed would make them an identity); its pid goes where bin/test-servers looks, so that `stop` ends it.
    func restart() throws {
        let script = """
            import os, subprocess, sys
            log = open(sys.argv[1] + "/seaweedfs.log", "ab")
            env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
            p = subprocess.Popen(sys.argv[2:], cwd=sys.argv[1], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log, close_fds=True, start_new_session=True)
            open(sys.argv[1] + "/seaweedfs.pid", "w").write(str(p.pid))
            """
        let started = try runProcess(python, ["-c", script, directory] + commandLine, environment: environment, timeout: 30)
        XCTAssertEqual(started.status, 0, started.summary)
        guard let aws = which("aws") else { throw TestEnvironment.Missing() }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let probe = try runProcess(aws, ["--endpoint-url", endpoint, "--cli-connect-timeout", "2", "s3api", "list-buckets"],
                                       environment: environment, timeout: 10)
            if probe.status == 0 { return }
            Thread.sleep(forTimeInterval: 0.5)
        }
        XCTFail("the private SeaweedFS did not come back")
        throw TestEnvironment.Missing()
    }

    func stop() {
        _ = try? runProcess(reportPackageRoot + "/bin/test-servers", ["stop", directory], environment: environment, timeout: 60)
    }
}
