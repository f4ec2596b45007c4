import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// bin/s3-nightly end to end against SeaweedFS: quiet when all is well, nothing uploaded twice, a changed session
/// archived again as its next generation (and only it), failures summarised on stderr, one run at a time, the config file, --verbose.
final class NightlyTests: EndToEndCase {
    private var extraBuckets: [String] = []

    override func tearDownWithError() throws {
        for bucket in extraBuckets { reportRemoveBucket(bucket) }
        extraBuckets = []
        try super.tearDownWithError()
    }

    static let sessions = [("2023", "2023-05-01_a"), ("2023", "2023-06-02_b"), ("2024", "2024-01-10_c"), ("2024", "2024-03-03_d")]

    /// ROOT/YEAR/SESSION for `sessions`, a few small files each. Returns ROOT.
    private func makeRoot(_ sessions: [(String, String)] = NightlyTests.sessions) throws -> String {
        let root = temp.file("nightly-root")
        for (index, (year, session)) in sessions.enumerated() {
            let path = "\(root)/\(year)/\(session)"
            try reportRandomFile(path + "/raw/data.bin", size: 3000 + 100 * index)
            try reportWrite(path + "/meta.txt", "session \(session)\n")
        }
        return root
    }

    /// The keys a run stores for `sessions` under `prefix` (a tar and its index each).
    private func expectedKeys(_ prefix: String, _ sessions: [(String, String)] = NightlyTests.sessions) -> Set<String> {
        Set(sessions.flatMap { ["\(prefix)\($0.0)/\($0.1).tar", "\(prefix)\($0.0)/\($0.1).tar.index.json"] })
    }

    private func arguments(root: String, dest: String, catalog: String) -> [String] {
        ["--root", root, "--dest", dest, "--endpoint-url", env.endpoint, "--catalog", catalog,
         "--lock", temp.file("nightly.lock"), "--log", temp.file("nightly.log"), "--bin", env.binDirectory]
    }

    /// The put operations the catalog logged: their URLs, oldest first.
    private func putsLogged(_ catalog: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let log = try reportRun(["log", "--catalog", catalog, "--format", "tsv"], file: file, line: line)
        XCTAssertEqual(log.status, 0, log.summary, file: file, line: line)
        let header = ["time", "tool", "action", "outcome", "url", "bytes", "seconds", "message"]
        return (reportTSV(log.out, header: header, file: file, line: line)?.rows ?? [])
            .filter { $0["action"] == "put" && $0["outcome"] == "ok" }.map { $0["url"] ?? "" }
    }

    private func assertQuietSuccess(_ result: ProcessResult, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 0, "\(label): \(result.summary)", file: file, line: line)
        XCTAssertEqual(result.out, "", "\(label): nothing on stdout", file: file, line: line)
        XCTAssertEqual(result.err, "", "\(label): nothing on stderr (cron mails it)", file: file, line: line)
    }

    // MARK: runs

    func testFirstRunArchivesEverythingQuietlySecondNothingThirdOnlyTheChanged() throws {
        let bucket = try bucket
        let root = try makeRoot()
        let catalog = temp.file("nightly-catalog.sqlite")
        let args = arguments(root: root, dest: "s3://\(bucket)/backups/raw/{year}/{session}.tar", catalog: catalog)

        let first = try reportNightly(args)
        assertQuietSuccess(first, "first run")
        let afterFirst = try reportObjects(bucket, prefix: "backups/raw/")
        XCTAssertEqual(Set(afterFirst.keys), expectedKeys("backups/raw/"), "every session's tar and index")
        XCTAssertEqual(try putsLogged(catalog).count, 4)
        XCTAssertEqual(try reportRun(["sessions", root, "--catalog", catalog, "--format", "names", "--backed-up"]).out,
                       Self.sessions.map { $0.1 + "\n" }.joined())
        let log = (try? String(contentsOfFile: temp.file("nightly.log"), encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("archived 4, failed 0"), "the log file has the summary: \(log)")

        // The tar is the session: its files under the session's name.
        let tarPath = temp.file("a.tar")
        let get = try aws(["s3", "cp", "s3://\(bucket)/backups/raw/2023/2023-05-01_a.tar", tarPath])
        XCTAssertEqual(get.status, 0, get.summary)
        let list = try runProcess(which("tar") ?? "/usr/bin/tar", ["-tf", tarPath], environment: ProcessInfo.processInfo.environment)
        XCTAssertEqual(list.status, 0, list.summary)
        XCTAssertTrue(list.lines.contains("2023-05-01_a/raw/data.bin"), list.out)
        XCTAssertTrue(list.lines.contains("2023-05-01_a/meta.txt"), list.out)

        // Nothing changed: nothing is uploaded.
        let second = try reportNightly(args)
        assertQuietSuccess(second, "second run")
        let afterSecond = try reportObjects(bucket, prefix: "backups/raw/")
        XCTAssertEqual(afterSecond.mapValues { "\($0.etag) \($0.modified)" }, afterFirst.mapValues { "\($0.etag) \($0.modified)" })
        XCTAssertEqual(try putsLogged(catalog).count, 4, "no new put")

        // One session changed: only it is archived again, as its second generation beside the first.
        try reportAppend(root + "/2023/2023-06-02_b/meta.txt", "one more line\n")
        let third = try reportNightly(args)
        assertQuietSuccess(third, "third run")
        let puts = try putsLogged(catalog)
        XCTAssertEqual(puts.count, 5, "one new put: \(puts)")
        let afterThird = try reportObjects(bucket, prefix: "backups/raw/")
        let secondGeneration = "backups/raw/2023/2023-06-02_b.gen2.tar"
        XCTAssertEqual(Set(afterThird.keys),
                       expectedKeys("backups/raw/").union([secondGeneration, secondGeneration + ".index.json"]))
        for key in afterFirst.keys {
            XCTAssertEqual(afterThird[key]?.etag, afterFirst[key]?.etag, "\(key) untouched")
            XCTAssertEqual(afterThird[key]?.modified, afterFirst[key]?.modified, "\(key) untouched")
        }
        XCTAssertEqual(try reportRun(["sessions", root, "--catalog", catalog, "--format", "names", "--changed"]).out, "")
        XCTAssertEqual(try reportRun(["sessions", root, "--catalog", catalog, "--format", "names", "--not-backed-up"]).out, "")
    }

    /// The retention settings are checked like the others: LEGAL_HOLD is yes or no.
    func testLegalHoldSettingIsYesOrNo() throws {
        let root = try makeRoot(Array(Self.sessions.prefix(1)))
        let config = temp.file("hold.conf")
        try reportWrite(config, "ROOT=\(root)\nDEST=s3://bucket/x/{session}.tar\nLEGAL_HOLD=maybe\nRETAIN_UNTIL=10y\n")
        let refused = try reportNightly(["--config", config])
        XCTAssertEqual(refused.status, 64, refused.summary)
        XCTAssertTrue(refused.err.contains("LEGAL_HOLD") && refused.err.contains("maybe"), refused.summary)
    }

    /// Sessions named alike in two years, and a name with spaces: the second run uploads nothing.
    func testSameNameInTwoYearsIsNotArchivedAgainEveryNight() throws {
        let bucket = try bucket
        let sessions = [("2023", "calibration"), ("2024", "calibration"), ("2024", "2024-05-05 run 2")]
        let root = try makeRoot(sessions)
        let catalog = temp.file("twice-catalog.sqlite")
        let args = arguments(root: root, dest: "s3://\(bucket)/twice/{year}/{session}.tar", catalog: catalog)
        assertQuietSuccess(try reportNightly(args), "first run")
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "twice/").keys), expectedKeys("twice/", sessions))
        XCTAssertEqual(try putsLogged(catalog).count, 3)
        for run in ["second run", "third run"] {
            assertQuietSuccess(try reportNightly(args), run)
            XCTAssertEqual(try putsLogged(catalog).count, 3, "\(run): nothing changed, nothing uploaded")
        }
    }

    /// --exclude: the excluded files are not in the tar, and do not make the session look changed the next night.
    func testExcludedFilesDoNotMakeASessionChanged() throws {
        let bucket = try bucket
        let sessions = [("2024", "2024-01-10_c")]
        let root = try makeRoot(sessions)
        try reportWrite(root + "/2024/2024-01-10_c/scratch.tmp", "scratch\n")
        try reportWrite(root + "/2024/2024-01-10_c/raw/part.tmp", "partial\n")
        let catalog = temp.file("exclude-catalog.sqlite")
        let args = arguments(root: root, dest: "s3://\(bucket)/exclude/{year}/{session}.tar", catalog: catalog)
            + ["--exclude", "*.tmp"]
        assertQuietSuccess(try reportNightly(args), "first run")
        XCTAssertEqual(try putsLogged(catalog).count, 1)

        let tarPath = temp.file("c.tar")
        let get = try aws(["s3", "cp", "s3://\(bucket)/exclude/2024/2024-01-10_c.tar", tarPath])
        XCTAssertEqual(get.status, 0, get.summary)
        let list = try runProcess(which("tar") ?? "/usr/bin/tar", ["-tf", tarPath], environment: ProcessInfo.processInfo.environment)
        XCTAssertTrue(list.lines.contains("2024-01-10_c/raw/data.bin"), list.out)
        XCTAssertFalse(list.out.contains(".tmp"), "excluded files are not archived: \(list.out)")

        assertQuietSuccess(try reportNightly(args), "second run")
        XCTAssertEqual(try putsLogged(catalog).count, 1, "the excluded files do not make the session changed")
        let report = ["sessions", root, "--catalog", catalog, "--format", "names"]
        XCTAssertEqual(try reportRun(report + ["--backed-up", "--exclude", "*.tmp"]).out, "2024-01-10_c\n")
        XCTAssertEqual(try reportRun(report + ["--changed"]).out, "2024-01-10_c\n", "without the excludes, the files differ")
    }

    func testFailedSessionsAreNamedInASummaryOnStderr() throws {
        // One bucket per year, the 2023 one missing: the 2023 sessions fail, the 2024 ones are stored.
        let prefix = uniqueBucketName("nightly-fail")
        let present = prefix + "-2024"
        guard try reportMakeBucket(present) else { return }
        extraBuckets.append(present)
        let root = try makeRoot()
        let catalog = temp.file("failing-catalog.sqlite")

        let run = try reportNightly(arguments(root: root, dest: "s3://\(prefix)-{year}/raw/{session}.tar", catalog: catalog))
        XCTAssertNotEqual(run.status, 0, run.summary)
        XCTAssertEqual(run.out, "", "the summary goes to stderr")
        XCTAssertTrue(run.err.contains("FAILED 2023-05-01_a"), run.err)
        XCTAssertTrue(run.err.contains("FAILED 2023-06-02_b"), run.err)
        XCTAssertFalse(run.err.contains("FAILED 2024"), "the 2024 sessions did not fail: \(run.err)")
        XCTAssertTrue(run.err.contains("failed 2"), run.err)
        XCTAssertTrue(run.err.contains("\(prefix)-2023"), "the cause is shown: \(run.err)")
        XCTAssertEqual(Set(try reportObjects(present, prefix: "raw/").keys),
                       ["raw/2024-01-10_c.tar", "raw/2024-01-10_c.tar.index.json",
                        "raw/2024-03-03_d.tar", "raw/2024-03-03_d.tar.index.json"])
        XCTAssertEqual(try reportRun(["sessions", root, "--catalog", catalog, "--format", "names", "--not-backed-up"]).out,
                       "2023-05-01_a\n2023-06-02_b\n", "the failed sessions are still to do")
    }

    func testASecondRunLeavesAtOnceWhileTheLockIsHeld() throws {
        let bucket = try bucket
        let root = try makeRoot(Array(Self.sessions.prefix(1)))
        let catalog = temp.file("lock-catalog.sqlite")
        let args = arguments(root: root, dest: "s3://\(bucket)/locked/{year}/{session}.tar", catalog: catalog)

        // Another run's lock: flock(2) on the lock file, as `flock LOCK sleep` would hold it.
        let lock = temp.file("nightly.lock")
        let fd = open(lock, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX), 0)
        let blocked = try reportNightly(args)
        XCTAssertEqual(blocked.status, 75, blocked.summary)
        XCTAssertLessThan(blocked.duration, 5, "it leaves at once, it does not wait")
        XCTAssertTrue(blocked.err.contains("lock"), blocked.summary)
        XCTAssertEqual(blocked.out, "")
        XCTAssertEqual(try reportObjects(bucket, prefix: "locked/").count, 0, "nothing uploaded")
        close(fd)

        let free = try reportNightly(args)
        assertQuietSuccess(free, "once the lock is free")
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "locked/").keys), expectedKeys("locked/", Array(Self.sessions.prefix(1))))
    }

    func testConfigFileWorksLikeTheFlagsAndFlagsOverrideIt() throws {
        let bucket = try bucket
        let root = try makeRoot()
        let config = temp.file("nightly.conf")
        try reportWrite(config, """
            # s3-nightly settings
            ROOT=\(root)
            DEST="s3://\(bucket)/cfg/{year}/{session}.tar"

            ENDPOINT_URL = \(env.endpoint)
            CATALOG=\(temp.file("config-catalog.sqlite"))   # the test's own
            LOCK=\(temp.file("nightly.lock"))
            LOG=\(temp.file("nightly.log"))
            BIN=\(env.binDirectory)

            """)
        let run = try reportNightly(["--config", config])
        assertQuietSuccess(run, "from the config file")
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "cfg/").keys), expectedKeys("cfg/"))

        // A flag overrides the file.
        let overridden = try reportNightly(["--config", config, "--catalog", temp.file("override-catalog.sqlite"),
                                            "--dest", "s3://\(bucket)/override/{year}/{session}.tar"])
        assertQuietSuccess(overridden, "flags over the config file")
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "override/").keys), expectedKeys("override/"))

        // An unknown setting is a usage error.
        let bad = temp.file("bad.conf")
        try reportWrite(bad, "ROOT=\(root)\nDESTINATION=s3://\(bucket)/x\n")
        let refused = try reportNightly(["--config", bad])
        XCTAssertEqual(refused.status, 64, refused.summary)
        XCTAssertTrue(refused.err.contains("DESTINATION"), refused.summary)
    }

    func testVerbosePrintsASummary() throws {
        let bucket = try bucket
        let sessions = Array(Self.sessions.suffix(2))
        let root = try makeRoot(sessions)
        let args = arguments(root: root, dest: "s3://\(bucket)/verbose/{year}/{session}.tar",
                             catalog: temp.file("verbose-catalog.sqlite")) + ["--verbose"]
        let first = try reportNightly(args)
        XCTAssertEqual(first.status, 0, first.summary)
        XCTAssertEqual(first.out, "", "stdout stays empty")
        XCTAssertTrue(first.err.contains("archived 2, failed 0, already backed up 0"), first.err)
        XCTAssertTrue(first.err.contains("2024-01-10_c"), "the sessions archived are named: \(first.err)")
        XCTAssertTrue(first.err.contains("Stored"), "the catalog's status follows: \(first.err)")

        let second = try reportNightly(args)
        XCTAssertEqual(second.status, 0, second.summary)
        XCTAssertTrue(second.err.contains("archived 0, failed 0, already backed up 2"), second.err)
    }

    // MARK: the command line, and what it will not archive

    func testHelpPrintsTheUsageAndExitsZero() throws {
        let help = try reportNightly(["--help"])
        XCTAssertEqual(help.status, 0, help.summary)
        XCTAssertTrue(help.out.contains("--dry-run") && help.out.contains("s3-nightly(8)"), help.out)
        XCTAssertFalse(help.out.contains("set -"), "no line of the script itself: \(help.out)")
        XCTAssertEqual(help.err, "")
        let missing = try reportNightly(["--root"])
        XCTAssertEqual(missing.status, 64, missing.summary)
        XCTAssertTrue(missing.err.hasPrefix("s3-nightly: --root needs a value"), missing.err)
    }

    /// --dry-run names each session it would archive and says "would archive N"; nothing is stored.
    func testDryRunSaysWhatItWouldArchiveAndStoresNothing() throws {
        let bucket = try bucket
        let root = try makeRoot(Array(Self.sessions.prefix(2)))
        let catalog = temp.file("dry-catalog.sqlite")
        let dry = try reportNightly(arguments(root: root, dest: "s3://\(bucket)/dry/{year}/{session}.tar", catalog: catalog)
                                    + ["--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.summary)
        XCTAssertEqual(dry.lines.filter { $0.hasPrefix("would archive ") }.count, 2, dry.out)
        XCTAssertTrue(dry.out.contains("would archive 2023-05-01_a (not backed up"), dry.out)
        XCTAssertEqual(dry.lines.last, "s3-nightly: would archive 2, already backed up 0", dry.out)
        XCTAssertFalse(dry.out.contains("archived"), "nothing was archived: \(dry.out)")
        XCTAssertEqual(try reportObjects(bucket, prefix: "dry/").count, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: catalog), "no s3-put ran, so no catalog was made")
    }

    /// A session not in a ROOT/YEAR folder and with no date in its name goes where s3-put(1) puts it: {year} is
    /// today's (UTC), never empty (no `raw//name.tar`). Relative paths are the caller's, though the run is in /.
    func testUndatedSessionGoesUnderTodaysYearAndRelativePathsWork() throws {
        let bucket = try bucket
        let root = temp.file("undated-root")
        try reportRandomFile(root + "/calibration/d.bin", size: 2000)
        try reportRandomFile(root + "/20230704_M1/d.bin", size: 2000)
        let arguments = ["--root", "undated-root", "--dest", "s3://\(bucket)/undated/{year}/{session}.tar",
                         "--endpoint-url", env.endpoint, "--catalog", "undated.sqlite", "--lock", "nightly.lock",
                         "--log", "nightly.log", "--bin", env.binDirectory]
        let run = try runProcess(reportPackageRoot + "/bin/s3-nightly", arguments, environment: reportEnvironment(),
                                 directory: temp.path)
        assertQuietSuccess(run, "relative paths")
        let year = String(Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).year!)
        let keys = Set(try reportObjects(bucket, prefix: "undated/").keys)
        XCTAssertEqual(keys, ["undated/\(year)/calibration.tar", "undated/\(year)/calibration.tar.index.json",
                              "undated/2023/20230704_M1.tar", "undated/2023/20230704_M1.tar.index.json"])
        XCTAssertFalse(keys.contains { $0.contains("//") }, "\(keys)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: temp.file("undated.sqlite")), "the catalog given relative")
        XCTAssertTrue(FileManager.default.fileExists(atPath: temp.file("nightly.log")), "the log given relative")
    }

    /// A folder whose name holds a newline and unit separators, spelling the rows of another session whose path is
    /// `.`, run from a directory holding a secret: every session archived is a folder under ROOT, and nothing of
    /// the working directory is read or stored.
    func testAFolderNamedLikeListingRowsCannotMakeItArchiveAnotherDirectory() throws {
        let bucket = try bucket
        let root = try makeRoot(Array(Self.sessions.prefix(1)))
        let row = ["stolen", "2024", "1", "1", "1 B", "not backed up", "", ".", "0"].joined(separator: "\u{1F}")
        let trap = "2024/evil\n" + row + "\t\n" + row
        try reportWrite(root + "/" + trap + "/meta.txt", "a session with a strange name\n")
        let cwd = temp.file("cron-home")
        try reportWrite(cwd + "/secret-credentials", "aws_secret_access_key = not-for-the-archive\n")
        let args = arguments(root: root, dest: "s3://\(bucket)/trap/{year}/{session}.tar", catalog: temp.file("trap.sqlite"))

        let dry = try runProcess(reportPackageRoot + "/bin/s3-nightly", args + ["--dry-run"], environment: reportEnvironment(),
                                 directory: cwd)
        XCTAssertEqual(dry.status, 0, dry.summary)
        XCTAssertTrue(dry.out.contains("s3-nightly: would archive 2, already backed up 0"), dry.out)
        XCTAssertFalse(dry.out.contains("from .\n") || dry.out.contains("would archive stolen"), dry.out)
        for line in dry.lines where line.hasPrefix("would archive ") {
            XCTAssertTrue(line.contains(" from \(root)/2023/") || line.contains(" from $'\(root)/2024/evil"), line)
        }

        let run = try runProcess(reportPackageRoot + "/bin/s3-nightly", args, environment: reportEnvironment(), directory: cwd)
        XCTAssertFalse(run.timedOut, run.summary)
        let objects = try reportObjects(bucket, prefix: "trap/")
        XCTAssertNotNil(objects["trap/2023/2023-05-01_a.tar"], "the real session is stored: \(run.summary)")
        XCTAssertFalse(objects.keys.contains { $0.contains("stolen") && !$0.contains("evil") }, "\(objects.keys.sorted())")
        for key in objects.keys where key.hasSuffix(".tar") {
            let tarPath = temp.file("trap-\(objects.count).tar")
            let get = try aws(["s3api", "get-object", "--bucket", bucket, "--key", key, tarPath])
            XCTAssertEqual(get.status, 0, get.summary)
            let list = try runProcess(which("tar") ?? "/usr/bin/tar", ["-tf", tarPath], environment: ProcessInfo.processInfo.environment)
            XCTAssertFalse(list.out.contains("secret-credentials"), "\(key) holds the working directory: \(list.out)")
        }
    }
}

extension EndToEndCase {
    /// bin/s3-nightly's arguments for a test: SeaweedFS, the test's own catalog, lock, log and built tools.
    func nightlyArguments(root: String, dest: String, catalog: String) -> [String] {
        ["--root", root, "--dest", dest, "--endpoint-url", env.endpoint, "--catalog", catalog,
         "--lock", temp.file("nightly.lock"), "--log", temp.file("nightly.log"), "--bin", env.binDirectory]
    }

    /// The sessions view of ROOT as TSV rows.
    func nightlySessions(_ root: String, catalog: String, _ options: [String] = [],
                         file: StaticString = #filePath, line: UInt = #line) throws -> [[String: String]] {
        let result = try reportRun(["sessions", root, "--catalog", catalog, "--format", "tsv"] + options, file: file, line: line)
        XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
        return reportTSV(result.out, header: ReportTests.sessionsHeader, file: file, line: line)?.rows ?? []
    }

    /// The URLs the catalog logged as stored by s3-put, oldest first.
    func nightlyPuts(_ catalog: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let log = try reportRun(["log", "--catalog", catalog, "--format", "tsv"], file: file, line: line)
        XCTAssertEqual(log.status, 0, log.summary, file: file, line: line)
        return (reportTSV(log.out, header: ReportTests.logHeader, file: file, line: line)?.rows ?? [])
            .filter { $0["action"] == "put" && $0["outcome"] == "ok" }.map { $0["url"] ?? "" }
    }
}
