import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// s3-report end to end: a catalog filled by real s3-put, s3-archive | s3-put and s3-verify runs against SeaweedFS
/// (always with --catalog), and generated session trees (ROOT/YEAR/SESSION and ROOT/SESSION). Every view in every
/// format, sessions backed up / not backed up / changed, the log window, the cost table against the prices in
/// lifecycle/pricing.json computed here independently, the size analysis, and bad input.
final class ReportTests: EndToEndCase {
    private var running: [BackgroundProcess] = []

    override func tearDownWithError() throws {
        for process in running { process.stop() }
        running = []
        try super.tearDownWithError()
    }

    static let statusHeaders = [
        ["class", "year", "objects", "archives", "bytes", "size", "sessions"],
        ["outcome", "operations", "bytes", "last"],
        ["state", "url", "started", "parts"],
        ["outcome", "objects", "last"],
    ]
    static let sessionsHeader = ["session", "year", "files", "bytes", "size", "state", "archive", "path", "generations"]
    static let logHeader = ["time", "tool", "action", "outcome", "url", "bytes", "seconds", "message"]
    static let costHeaders = [
        ["class", "bytes", "size", "USD/GB-month", "USD/month"],
        ["all in class", "USD/month"],
        ["policy", "USD first year"],
    ]

    // MARK: status

    func testStatusShowsStoredBatchUploadsInProgressAndVerificationsInEveryFormat() throws {
        let bucket = try bucket
        let catalog = temp.file("status-catalog.sqlite")
        let year = reportCurrentYear()

        // Two plain files in STANDARD_IA, one archive in STANDARD.
        let plain1 = temp.file("plain-1.bin"), plain2 = temp.file("plain-2.bin")
        try makeRandomFile(plain1, size: 3000)
        try makeRandomFile(plain2, size: 5000)
        let plain = try s3put(["--catalog", catalog, "--storage-class", "STANDARD_IA", plain1, plain2,
                               "s3://\(bucket)/status/plain/"])
        XCTAssertEqual(plain.status, 0, plain.summary)
        let plainLines = plain.lines
        XCTAssertEqual(plainLines.count, 2, plain.out)

        let session = temp.file("sessions/2024-05-06_status")
        try reportRandomFile(session + "/raw/frame-1.bin", size: 7000)
        try reportWrite(session + "/notes.txt", "status session\n")
        let archive = try reportArchiveAndPut(session, index: temp.file("status.index.json"),
                                              ["--catalog", catalog, "--storage-class", "STANDARD", "--session", "2024-05-06_status",
                                               "s3://\(bucket)/status/2024-05-06_status.tar"])
        XCTAssertEqual(archive.status, 0, archive.summary)
        let archiveRecord = try XCTUnwrap(records(archive).first, archive.summary)
        let archiveURL = "s3://\(bucket)/status/2024-05-06_status.tar"
        XCTAssertEqual(archiveRecord.url, archiveURL)

        // Verifications: both plain files and the archive; plain-2 against a wrong ETag, so it fails.
        var recordLines = plainLines + [archive.lines.first ?? ""]
        let plain2URL = "s3://\(bucket)/status/plain/plain-2.bin", plain1URL = "s3://\(bucket)/status/plain/plain-1.bin"
        recordLines = try recordLines.map { line in
            guard line.contains("\"\(plain2URL)\"") else { return line }
            var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            object["etag"] = "0123456789abcdef0123456789abcdef"
            return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        let recordsPath = temp.file("status-records.jsonl")
        try reportWrite(recordsPath, recordLines.joined(separator: "\n") + "\n")
        let verify = try reportVerify(["--catalog", catalog, recordsPath])
        XCTAssertEqual(verify.status, 1, "one object fails verification: \(verify.summary)")
        XCTAssertTrue(verify.out.contains("OK \(plain1URL)"), verify.out)
        XCTAssertTrue(verify.out.contains("FAILED \(plain2URL)"), verify.out)

        // A failed upload: its bucket does not exist.
        let missingBucket = uniqueBucketName("missing")
        let missingURL = "s3://\(missingBucket)/status/plain-1.bin"
        let failed = try s3put(["--catalog", catalog, plain1, missingURL])
        XCTAssertNotEqual(failed.status, 0, failed.summary)
        XCTAssertEqual(reportSQLiteCount(catalog, "SELECT COUNT(*) FROM operations WHERE outcome = 'failed' AND url = '\(missingURL)'"), 1,
                       "s3-put logs its failed upload (missing bucket, exit \(failed.status)) in the catalog's operations")

        // An unfinished upload: --keep-parts, interrupted once a part is stored.
        let big = temp.file("big.bin")
        try makeRandomFile(big, size: 20 * MiB)
        let bigURL = "s3://\(bucket)/status/big.bin"
        defer { _ = try? s3put(["--abort-stale", "0s", "s3://\(bucket)/status/"]) }
        let interrupted = try BackgroundProcess(
            env.tool("s3-put"), ["--endpoint-url", env.endpoint, "--catalog", catalog, "--keep-parts", "--limit-rate", "5MiB",
                                 "--part-size", "5MiB", "--concurrency", "1", "--quiet", big, bigURL],
            environment: s3putEnvironment(), directory: temp.path)
        running.append(interrupted)
        let partStored = reportWait(timeout: 30) {
            reportSQLiteCount(catalog, "SELECT COUNT(*) FROM upload_parts") >= 1 || !interrupted.isRunning
        }
        XCTAssertTrue(partStored && interrupted.isRunning, "no part recorded while s3-put ran: \(interrupted.summary)")
        interrupted.send(SIGINT)
        XCTAssertTrue(interrupted.wait(timeout: 15), "s3-put did not stop after SIGINT")
        XCTAssertEqual(interrupted.status, 130, interrupted.summary)
        let open = try multipartUploads(bucket)
        XCTAssertEqual(open, ["status/big.bin"], "--keep-parts leaves the upload open")
        let catalogParts = reportSQLiteCount(catalog, """
            SELECT COUNT(*) FROM upload_parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE u.url = '\(bigURL)'
            """)
        XCTAssertGreaterThanOrEqual(catalogParts, 1)

        // tsv: the reference the other formats are compared with.
        let tsv = try reportRun(["status", "--catalog", catalog, "--format", "tsv"])
        XCTAssertEqual(tsv.status, 0, tsv.summary)
        XCTAssertEqual(tsv.err, "", "status writes nothing on stderr")
        guard let tables = reportSplitTSV(tsv.out, headers: Self.statusHeaders) else { return }
        let (stored, batch, uploads, checks) = (tables[0], tables[1], tables[2], tables[3])

        XCTAssertEqual(stored.rows.count, 2, "one row per class (one year): \(tsv.out)")
        let ia = stored.rows("class", "STANDARD_IA").first
        XCTAssertEqual(ia?["year"], year)
        XCTAssertEqual(ia?["objects"], "2")
        XCTAssertEqual(ia?["archives"], "0")
        XCTAssertEqual(ia?["bytes"], "8000")
        let standard = stored.rows("class", "STANDARD").first
        XCTAssertEqual(standard?["year"], year)
        XCTAssertEqual(standard?["objects"], "1")
        XCTAssertEqual(standard?["archives"], "1")
        XCTAssertEqual(standard?["bytes"], String(archiveRecord.size))

        let ok = batch.rows("outcome", "ok").first
        XCTAssertEqual(ok?["operations"], "3", "the three stored objects: \(tsv.out)")
        XCTAssertEqual(ok?["bytes"], String(8000 + archiveRecord.size))
        XCTAssertTrue(matches(ok?["last"] ?? "", #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#), "last: \(ok?["last"] ?? "nil")")
        XCTAssertNotNil(batch.rows("outcome", "failed").first, "Last batch counts the upload to a missing bucket as failed: \(tsv.out)")
        XCTAssertTrue(batch.rows.contains { $0["outcome"] == "failed: \(missingURL)" },
                      "the failed upload is listed with its URL: \(tsv.out)")

        XCTAssertEqual(uploads.rows.count, 1, tsv.out)
        XCTAssertEqual(uploads.rows.first?["state"], "in progress")
        XCTAssertEqual(uploads.rows.first?["url"], bigURL)
        XCTAssertEqual(uploads.rows.first?["parts"], String(catalogParts))

        XCTAssertEqual(checks.rows("outcome", "ok").first?["objects"], "2", tsv.out)
        XCTAssertEqual(checks.rows("outcome", "failed").first?["objects"], "1", tsv.out)

        // JSON Lines: the same rows, numbers as numbers.
        let json = try reportRun(["status", "--catalog", catalog, "--format", "json"])
        XCTAssertEqual(json.status, 0, json.summary)
        let objects = reportJSONLines(json.out)
        XCTAssertEqual(objects.count, tables.map(\.rows.count).reduce(0, +), json.out)
        let storedJSON = objects.filter { $0["class"] != nil }
        XCTAssertEqual(storedJSON.count, 2)
        let iaJSON = storedJSON.first { $0["class"] as? String == "STANDARD_IA" }
        XCTAssertEqual(reportNumber(iaJSON?["objects"]), 2)
        XCTAssertEqual(reportNumber(iaJSON?["archives"]), 0)
        XCTAssertEqual(reportNumber(iaJSON?["bytes"]), 8000)
        XCTAssertEqual(iaJSON?["year"] as? String, year)
        let okJSON = objects.first { $0["outcome"] as? String == "ok" && $0["operations"] != nil }
        XCTAssertEqual(reportNumber(okJSON?["operations"]), 3)
        let uploadJSON = objects.first { $0["state"] != nil }
        XCTAssertEqual(uploadJSON?["state"] as? String, "in progress")
        XCTAssertEqual(uploadJSON?["url"] as? String, bigURL)
        XCTAssertEqual(reportNumber(uploadJSON?["parts"]), Double(catalogParts))
        let verifiedJSON = objects.filter { $0["objects"] != nil && $0["outcome"] != nil }
        XCTAssertEqual(verifiedJSON.first { $0["outcome"] as? String == "ok" }.flatMap { reportNumber($0["objects"]) }, 2)
        XCTAssertEqual(verifiedJSON.first { $0["outcome"] as? String == "failed" }.flatMap { reportNumber($0["objects"]) }, 1)

        // names: the first column of every row, in order.
        let names = try reportRun(["status", "--catalog", catalog, "--format", "names"])
        XCTAssertEqual(names.status, 0, names.summary)
        XCTAssertEqual(names.out, tables.flatMap { $0.column($0.columns[0]) }.map { $0 + "\n" }.joined())

        // table: titles, and every row's cells aligned on one line.
        let table = try reportRun(["status", "--catalog", catalog, "--format", "table"])
        XCTAssertEqual(table.status, 0, table.summary)
        let lines = table.out.split(separator: "\n").map(String.init)
        for title in ["Stored", "Last batch", "Uploads in progress", "Last verifications"] {
            XCTAssertTrue(lines.contains(title), "table has the title \(title): \(table.out)")
        }
        let cells = reportTableLines(table.out)
        for source in tables {
            XCTAssertTrue(cells.contains(source.columns), "the header \(source.columns) in: \(table.out)")
            for row in source.rows {
                let expected = source.columns.map { row[$0] ?? "" }.filter { !$0.isEmpty }
                XCTAssertTrue(cells.contains(expected), "the row \(expected) in: \(table.out)")
            }
        }

        // The cost of what the catalog holds, by class.
        let cost = try reportRun(["cost", "--catalog", catalog, "--pricing", reportPackageRoot + "/lifecycle/pricing.json",
                                  "--region", "us-east-1", "--format", "tsv"])
        XCTAssertEqual(cost.status, 0, cost.summary)
        if let monthly = reportSplitTSV(cost.out, headers: Self.costHeaders)?.first {
            XCTAssertEqual(monthly.rows("class", "STANDARD_IA").first?["bytes"], "8000", cost.out)
            XCTAssertEqual(monthly.rows("class", "STANDARD_IA").first?["USD/GB-month"], "0.0125", cost.out)
            XCTAssertEqual(monthly.rows("class", "STANDARD").first?["bytes"], String(archiveRecord.size), cost.out)
        }
    }

    // MARK: sessions

    /// ROOT/2023/{alpha, beta}, ROOT/2024/gamma; beta holds a hard link. Returns ROOT.
    private func makeYearTree() throws -> String {
        let root = temp.file("sessions-root")
        try reportRandomFile(root + "/2023/2023-03-01_alpha/a.dat", size: 1000)
        try reportWrite(root + "/2023/2023-03-01_alpha/notes.txt", "alpha\n")
        try reportRandomFile(root + "/2023/2023-07-15_beta/raw/x.bin", size: 4000)
        try reportRandomFile(root + "/2023/2023-07-15_beta/raw/y.bin", size: 2000)
        try reportWrite(root + "/2023/2023-07-15_beta/meta.txt", "beta\n")
        try FileManager.default.linkItem(atPath: root + "/2023/2023-07-15_beta/raw/x.bin",
                                         toPath: root + "/2023/2023-07-15_beta/x-link.bin")
        try reportRandomFile(root + "/2024/2024-02-02_gamma/z.bin", size: 3000)
        try FileManager.default.createSymbolicLink(atPath: root + "/2024/2024-02-02_gamma/z-link", withDestinationPath: "z.bin")
        return root
    }

    private func sessions(_ root: String, _ options: [String] = [], catalog: String,
                          file: StaticString = #filePath, line: UInt = #line) throws -> ReportTSVTable? {
        let result = try reportRun(["sessions", root, "--catalog", catalog, "--format", "tsv"] + options, file: file, line: line)
        XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
        return reportTSV(result.out, header: Self.sessionsHeader, file: file, line: line)
    }

    private func names(_ root: String, _ options: [String], catalog: String,
                       file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try reportRun(["sessions", root, "--catalog", catalog, "--format", "names"] + options, file: file, line: line)
        XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
        return result.out
    }

    private func states(_ table: ReportTSVTable?) -> [String: String] {
        Dictionary(uniqueKeysWithValues: (table?.rows ?? []).map { ($0["session"] ?? "", $0["state"] ?? "") })
    }

    func testSessionsBackedUpNotBackedUpAndChanged() throws {
        let bucket = try bucket
        let root = try makeYearTree()
        let (alpha, beta, gamma) = ("2023-03-01_alpha", "2023-07-15_beta", "2024-02-02_gamma")
        let betaPath = root + "/2023/" + beta

        // No catalog at all: every session is not backed up, and no catalog gets created.
        let nowhere = temp.file("no-such-folder/catalog.sqlite")
        let none = try sessions(root, catalog: nowhere)
        XCTAssertEqual(none?.column("session"), [alpha, beta, gamma])
        XCTAssertEqual(none?.column("year"), ["2023", "2023", "2024"])
        XCTAssertEqual(Set(none?.column("state") ?? []), ["not backed up"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: nowhere), "a report creates no catalog")
        // The fingerprint: regular files, a hard link counted once (as the archive stores its data once), no symlink.
        let betaRow = none?.rows("session", beta).first
        XCTAssertEqual(betaRow?["files"], "3")
        XCTAssertEqual(betaRow?["bytes"], String(4000 + 2000 + 5))
        XCTAssertEqual(betaRow?["path"], betaPath)
        XCTAssertEqual(none?.rows("session", gamma).first?["files"], "1")
        XCTAssertEqual(none?.rows("session", gamma).first?["bytes"], "3000")

        // Archive beta through the pipeline.
        let catalog = temp.file("sessions-catalog.sqlite")
        let betaURL = "s3://\(bucket)/sessions/2023/\(beta).tar"
        func archiveBeta(_ extra: [String] = []) throws {
            let put = try reportArchiveAndPut(betaPath, index: temp.file("beta.index.json"),
                                              extra + ["--catalog", catalog, "--session", beta, "--quiet", betaURL])
            XCTAssertEqual(put.status, 0, put.summary)
        }
        try archiveBeta()
        let after = try sessions(root, catalog: catalog)
        XCTAssertEqual(states(after), [alpha: "not backed up", beta: "backed up", gamma: "not backed up"],
                       "a hard link does not make the session changed")
        XCTAssertEqual(after?.rows("session", beta).first?["archive"], betaURL)
        XCTAssertEqual(after?.rows("session", alpha).first?["archive"], "")

        // Filters, names only: one per line, for a shell loop.
        XCTAssertEqual(try names(root, ["--not-backed-up"], catalog: catalog), "\(alpha)\n\(gamma)\n")
        XCTAssertEqual(try names(root, ["--backed-up"], catalog: catalog), "\(beta)\n")
        XCTAssertEqual(try names(root, ["--changed"], catalog: catalog), "")
        XCTAssertEqual(try names(root, ["--year", "2024"], catalog: catalog), "\(gamma)\n")
        XCTAssertEqual(try names(root, ["--year", "2023", "--not-backed-up"], catalog: catalog), "\(alpha)\n")
        XCTAssertEqual(try names(root, ["--year", "1999"], catalog: catalog), "")
        let both = try reportRun(["sessions", root, "--catalog", catalog, "--changed", "--backed-up"])
        XCTAssertEqual(both.status, 64, "two filters at once: \(both.summary)")

        // JSON Lines: numbers are numbers.
        let json = try reportRun(["sessions", root, "--catalog", catalog, "--format", "json", "--backed-up"])
        XCTAssertEqual(json.status, 0, json.summary)
        let objects = reportJSONLines(json.out)
        XCTAssertEqual(objects.count, 1)
        XCTAssertEqual(objects.first?["session"] as? String, beta)
        XCTAssertEqual(reportNumber(objects.first?["files"]), 3)
        XCTAssertEqual(reportNumber(objects.first?["bytes"]), 6005)
        XCTAssertEqual(objects.first?["state"] as? String, "backed up")

        // One byte more in a file: changed.
        try reportAppend(betaPath + "/raw/y.bin", "!")
        XCTAssertEqual(try names(root, ["--changed"], catalog: catalog), "\(beta)\n")
        let changed = try sessions(root, catalog: catalog)
        XCTAssertEqual(states(changed), [alpha: "not backed up", beta: "changed", gamma: "not backed up"])
        XCTAssertEqual(changed?.rows("session", beta).first?["bytes"], "6006")
        XCTAssertEqual(changed?.rows("session", beta).first?["archive"], betaURL, "the old backup is still named")
        XCTAssertEqual(try names(root, ["--backed-up"], catalog: catalog), "")

        // Backed up again (the second generation, beside the first), then only a modification time changes: changed.
        try archiveBeta()
        XCTAssertEqual(try names(root, ["--backed-up"], catalog: catalog), "\(beta)\n")
        let touch = try runProcess(which("touch") ?? "/usr/bin/touch", [betaPath + "/meta.txt"],
                                   environment: ProcessInfo.processInfo.environment)
        XCTAssertEqual(touch.status, 0, touch.summary)
        XCTAssertEqual(try names(root, ["--changed"], catalog: catalog), "\(beta)\n")
        XCTAssertEqual(states(try sessions(root, catalog: catalog))[beta], "changed")

        // The table format: the same rows, aligned.
        let table = try reportRun(["sessions", root, "--catalog", catalog, "--format", "table"])
        XCTAssertEqual(table.status, 0, table.summary)
        let cells = reportTableLines(table.out)
        XCTAssertTrue(cells.contains { $0.first == alpha && $0.contains("not backed up") }, table.out)
        // Archived twice: the newest archive is the second generation, beside the first.
        let betaSecond = "s3://\(bucket)/sessions/2023/\(beta).gen2.tar"
        XCTAssertTrue(cells.contains { $0.first == beta && $0.contains("changed") && $0.contains(betaSecond) && $0.last == "2" },
                      table.out)
    }

    func testSessionsDirectlyUnderTheRoot() throws {
        let bucket = try bucket
        let root = temp.file("flat-root")
        try reportRandomFile(root + "/2022-11-05_delta/d.bin", size: 1234)
        // No date in the name: the year comes from the files' modification time.
        try reportRandomFile(root + "/field-notes/n.bin", size: 321)
        try reportSetMtime(root + "/field-notes/n.bin", Date(timeIntervalSince1970: 1_622_548_800)) // 2021-06-01
        try reportWrite(root + "/README.txt", "not a session\n")

        let catalog = temp.file("flat-catalog.sqlite")
        let before = try sessions(root, catalog: catalog)
        XCTAssertEqual(before?.column("session"), ["2022-11-05_delta", "field-notes"], "folders only")
        XCTAssertEqual(before?.column("year"), ["2022", "2021"])
        XCTAssertEqual(before?.column("files"), ["1", "1"])
        XCTAssertEqual(before?.column("bytes"), ["1234", "321"])
        XCTAssertEqual(Set(before?.column("state") ?? []), ["not backed up"])
        XCTAssertEqual(try names(root, ["--year", "2021"], catalog: catalog), "field-notes\n")

        let put = try reportArchiveAndPut(root + "/2022-11-05_delta", index: temp.file("delta.index.json"),
                                          ["--catalog", catalog, "--session", "2022-11-05_delta", "--quiet",
                                           "s3://\(bucket)/flat/2022-11-05_delta.tar"])
        XCTAssertEqual(put.status, 0, put.summary)
        XCTAssertEqual(try names(root, ["--backed-up"], catalog: catalog), "2022-11-05_delta\n")
        XCTAssertEqual(try names(root, ["--not-backed-up"], catalog: catalog), "field-notes\n")
    }

    /// The same session name in two years (ROOT/2023/calibration, ROOT/2024/calibration) is two sessions, two
    /// archives: backing up both leaves both backed up.
    func testSameSessionNameInTwoYears() throws {
        let bucket = try bucket
        let root = temp.file("twice-root")
        try reportRandomFile(root + "/2023/calibration/a.bin", size: 100)
        try reportRandomFile(root + "/2024/calibration/a.bin", size: 200)
        let catalog = temp.file("twice-catalog.sqlite")
        for year in ["2023", "2024"] {
            let put = try reportArchiveAndPut(root + "/\(year)/calibration", index: temp.file("\(year).index.json"),
                                              ["--catalog", catalog, "--session", "calibration", "--quiet",
                                               "s3://\(bucket)/twice/\(year)/calibration.tar"])
            XCTAssertEqual(put.status, 0, put.summary)
        }
        let table = try sessions(root, catalog: catalog)
        XCTAssertEqual(table?.column("year"), ["2023", "2024"])
        XCTAssertEqual(table?.column("state"), ["backed up", "backed up"], "each session against its own archive")
        XCTAssertEqual(table?.column("archive"), ["s3://\(bucket)/twice/2023/calibration.tar",
                                                  "s3://\(bucket)/twice/2024/calibration.tar"])
    }

    // MARK: log

    func testLogSinceAndFailed() throws {
        let bucket = try bucket
        let catalog = temp.file("log-catalog.sqlite")
        let file = temp.file("logged.bin")
        try makeRandomFile(file, size: 2000)
        let okURL = "s3://\(bucket)/log/logged.bin"
        XCTAssertEqual(try s3put(["--catalog", catalog, file, okURL]).status, 0)

        // A failure the catalog records: an archive stream that does not match its index.
        let one = temp.file("log-sessions/one"), two = temp.file("log-sessions/two")
        try reportRandomFile(one + "/a.bin", size: 100)
        try reportRandomFile(two + "/b.bin", size: 20000)
        let index = temp.file("one.index.json"), tar = temp.file("two.tar")
        let archiveOne = try runProcess(env.tool("s3-archive"), ["--index", index, "-o", temp.file("one.tar"), one],
                                        environment: env.processEnvironment())
        XCTAssertEqual(archiveOne.status, 0, archiveOne.summary)
        let archiveTwo = try runProcess(env.tool("s3-archive"), ["--index", temp.file("two.index.json"), "-o", tar, two],
                                        environment: env.processEnvironment())
        XCTAssertEqual(archiveTwo.status, 0, archiveTwo.summary)
        let failedURL = "s3://\(bucket)/log/mismatch.tar"
        let mismatch = try s3put(["--catalog", catalog, "--index", index, "--session", "one", failedURL], input: .pipedFile(tar))
        XCTAssertNotEqual(mismatch.status, 0, "a stream that is not the indexed archive fails: \(mismatch.summary)")

        // A failure two hours old, written straight into the catalog.
        let old = Date().timeIntervalSince1970 - 7200
        XCTAssertNotNil(reportSQLite(catalog, """
            INSERT INTO operations (at, tool, action, url, outcome, message)
            VALUES (\(old), 's3-put', 'put', 's3://old-bucket/old.bin', 'failed', 'long ago')
            """, write: true), "cannot write the old operation")

        let recentFailed = try reportRun(["log", "--since", "1h", "--failed", "--catalog", catalog, "--format", "tsv"])
        XCTAssertEqual(recentFailed.status, 0, recentFailed.summary)
        let rows = reportTSV(recentFailed.out, header: Self.logHeader)?.rows ?? []
        XCTAssertEqual(rows.map { $0["url"] ?? "" }, [failedURL], recentFailed.out)
        XCTAssertEqual(rows.first?["outcome"], "failed")
        XCTAssertEqual(rows.first?["tool"], "s3-put")
        XCTAssertTrue(rows.first?["message"]?.contains("index") == true, "the message says why: \(recentFailed.out)")

        let allFailed = try reportRun(["log", "--failed", "--catalog", catalog, "--format", "tsv"])
        XCTAssertEqual(reportTSV(allFailed.out, header: Self.logHeader)?.column("url"), ["s3://old-bucket/old.bin", failedURL],
                       "oldest first: \(allFailed.summary)")

        let recent = try reportRun(["log", "--since", "1h", "--catalog", catalog, "--format", "tsv"])
        let recentRows = reportTSV(recent.out, header: Self.logHeader)?.rows ?? []
        XCTAssertEqual(recentRows.map { $0["url"] ?? "" }, [okURL, failedURL], recent.summary)
        XCTAssertEqual(recentRows.first?["outcome"], "ok")
        XCTAssertEqual(recentRows.first?["bytes"], "2000")

        let json = try reportRun(["log", "--since", "1h", "--failed", "--catalog", catalog, "--format", "json"])
        let objects = reportJSONLines(json.out)
        XCTAssertEqual(objects.count, 1, json.out)
        XCTAssertEqual(objects.first?["url"] as? String, failedURL)
        XCTAssertEqual(objects.first?["outcome"] as? String, "failed")
    }

    // MARK: cost

    func testCostOf827GBAgainstThePricingFile() throws {
        let pricing = reportPackageRoot + "/lifecycle/pricing.json"
        let prices = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: pricing)))
                as? [String: Any])?["regions"] as? [String: [String: Double]])
        let gb = 827.0
        func expectedFirstYear(_ steps: [(fromDay: Int, storageClass: String)], _ region: [String: Double]) -> Double {
            var cost = 0.0
            for (i, step) in steps.enumerated() {
                let end = i + 1 < steps.count ? steps[i + 1].fromDay : 365
                cost += gb * (region[step.storageClass] ?? .nan) * Double(end - step.fromDay) / (365.0 / 12.0)
            }
            return cost
        }

        for region in ["us-east-1", "eu-central-1"] {
            let table = try reportRun(["cost", "--size", "827GB", "--pricing", pricing, "--region", region, "--format", "tsv"])
            XCTAssertEqual(table.status, 0, table.summary)
            guard let tables = reportSplitTSV(table.out, headers: Self.costHeaders) else { continue }
            let regionPrices = try XCTUnwrap(prices[region])
            let monthly = tables[0]
            XCTAssertEqual(monthly.rows.count, 1)
            XCTAssertEqual(monthly.rows.first?["bytes"], "827000000000")

            var oneClass: [String: Double] = [:]
            for row in tables[1].rows { oneClass[row["all in class"] ?? ""] = Double(row["USD/month"] ?? "") }
            XCTAssertEqual(Set(oneClass.keys), ["STANDARD", "STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"])
            for (storageClass, usd) in oneClass {
                XCTAssertEqual(usd, gb * (regionPrices[storageClass] ?? .nan), accuracy: 0.006, "\(region) \(storageClass)")
            }
            if region == "us-east-1" {
                XCTAssertEqual(oneClass["STANDARD"] ?? 0, 19.02, accuracy: 0.005)
                XCTAssertEqual(oneClass["DEEP_ARCHIVE"] ?? 0, 0.82, accuracy: 0.005)
            }

            var firstYear: [String: Double] = [:]
            for row in tables[2].rows {
                let policy = row["policy"] ?? ""
                let usd = Double(row["USD first year"] ?? "")
                XCTAssertNotNil(usd, "a number: \(row)")
                if policy.contains("stay in STANDARD") { firstYear["standard"] = usd }
                if policy.contains("archive=fast") { firstYear["fast"] = usd }
                if policy.contains("archive=normal") { firstYear["normal"] = usd }
                if policy.contains("archive=delayed") { firstYear["delayed"] = usd }
                if policy.contains("deep-archive") && policy.contains("at once") { firstYear["deep"] = usd }
            }
            XCTAssertEqual(firstYear.count, 5, "a figure per policy: \(table.out)")
            let (deep, fast, normal, delayed, standard) = (firstYear["deep"] ?? .nan, firstYear["fast"] ?? .nan,
                                                           firstYear["normal"] ?? .nan, firstYear["delayed"] ?? .nan,
                                                           firstYear["standard"] ?? .nan)
            XCTAssertLessThan(deep, fast, "\(region): Deep Archive at once is the cheapest: \(table.out)")
            XCTAssertLessThan(fast, normal, table.out)
            XCTAssertLessThan(normal, standard, table.out)
            XCTAssertLessThan(delayed, standard, table.out)
            XCTAssertEqual(standard, expectedFirstYear([(0, "STANDARD")], regionPrices), accuracy: 0.01)
            XCTAssertEqual(fast, expectedFirstYear([(0, "STANDARD"), (7, "DEEP_ARCHIVE")], regionPrices), accuracy: 0.01)
            XCTAssertEqual(normal, expectedFirstYear([(0, "STANDARD"), (30, "DEEP_ARCHIVE")], regionPrices), accuracy: 0.01)
            XCTAssertEqual(delayed, expectedFirstYear([(0, "STANDARD"), (90, "GLACIER")], regionPrices), accuracy: 0.01)
            XCTAssertEqual(deep, expectedFirstYear([(0, "DEEP_ARCHIVE")], regionPrices), accuracy: 0.01)
        }

        // JSON Lines: the same one-class table, numbers as numbers.
        let json = try reportRun(["cost", "--size", "827GB", "--pricing", pricing, "--region", "us-east-1", "--format", "json"])
        XCTAssertEqual(json.status, 0, json.summary)
        let rows = reportJSONLines(json.out).filter { $0["all in class"] != nil }
        XCTAssertEqual(rows.count, 5, json.out)
        XCTAssertEqual(reportNumber(rows.first { $0["all in class"] as? String == "STANDARD" }?["USD/month"]) ?? 0, 19.02, accuracy: 0.005)
        XCTAssertEqual(reportNumber(rows.first { $0["all in class"] as? String == "DEEP_ARCHIVE" }?["USD/month"]) ?? 0, 0.82, accuracy: 0.005)
        XCTAssertEqual(reportJSONLines(json.out).filter { $0["policy"] != nil }.count, 5)

        // The table names the size and the region.
        let table = try reportRun(["cost", "--size", "827GB", "--pricing", pricing, "--region", "us-east-1", "--format", "table"])
        XCTAssertTrue(table.out.contains("The same 827 GB in one class"), table.out)
        XCTAssertTrue(table.out.contains("us-east-1"), table.out)
    }

    // MARK: analyze

    func testAnalyzePerYearWithUploadTime() throws {
        // Sparse files: the sizes of a real collection without its disk space.
        let root = temp.file("analyze-root")
        try reportSparseFile(root + "/2023/2023-01-01_a/big.raw", size: 3000 * MiB)
        try reportSparseFile(root + "/2023/2023-02-02_b/big.raw", size: 3000 * MiB)
        try reportWrite(root + "/2023/2023-02-02_b/empty.txt", "")
        try reportSparseFile(root + "/2024/2024-03-03_c/big.raw", size: 12000 * MiB)

        let result = try reportRun(["analyze", root, "--bandwidth", "100MiB", "--no-catalog", "--format", "tsv"])
        XCTAssertEqual(result.status, 0, result.summary)
        let header = ["year", "sessions", "files", "bytes", "size", "average session", "upload time"]
        guard let table = reportTSV(result.out, header: header) else { return }
        XCTAssertEqual(table.column("year"), ["2023", "2024", "total"])
        XCTAssertEqual(table.column("sessions"), ["2", "1", "3"])
        XCTAssertEqual(table.column("files"), ["3", "1", "4"])
        XCTAssertEqual(table.column("bytes"), [String(6000 * MiB), String(12000 * MiB), String(18000 * MiB)])
        // 6000 MiB at 100 MiB/s is 60 s; 12000 MiB is 120 s; together 180 s.
        XCTAssertEqual(table.column("upload time"), ["1m 0s", "2m 0s", "3m 0s"], result.out)
        XCTAssertTrue(table.rows.allSatisfy { !($0["size"] ?? "").isEmpty && !($0["average session"] ?? "").isEmpty })

        // Without a bandwidth (and no log to measure one from), no upload time column.
        let plain = try reportRun(["analyze", root, "--no-catalog", "--format", "tsv"])
        XCTAssertEqual(plain.status, 0, plain.summary)
        XCTAssertEqual(reportTSV(plain.out, header: Array(header.dropLast()))?.column("year"), ["2023", "2024", "total"])

        let aligned = try reportRun(["analyze", root, "--bandwidth", "100MiB", "--no-catalog", "--format", "table"])
        XCTAssertEqual(aligned.status, 0, aligned.summary)
        XCTAssertTrue(aligned.out.contains("100"), "the title names the bandwidth: \(aligned.out)")
        XCTAssertTrue(reportTableLines(aligned.out).contains { $0.first == "total" && $0.last == "3m 0s" }, aligned.out)
    }

    // MARK: bad input

    func testBadInput() throws {
        // No catalog where one is needed: 66, naming it.
        let missing = temp.file("missing/catalog.sqlite")
        let status = try reportRun(["status", "--catalog", missing])
        XCTAssertEqual(status.status, 66, status.summary)
        XCTAssertTrue(status.err.contains(missing), status.summary)
        XCTAssertEqual(status.out, "")
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "a report creates no catalog")
        let log = try reportRun(["log", "--catalog", missing])
        XCTAssertEqual(log.status, 66, log.summary)

        // A catalog that is random bytes: 74, a message, no crash, the file left as it was.
        let corrupt = temp.file("corrupt.sqlite")
        try makeRandomFile(corrupt, size: 8192)
        let before = try sha256(ofFile: corrupt)
        let broken = try reportRun(["status", "--catalog", corrupt])
        XCTAssertEqual(broken.status, 74, broken.summary)
        XCTAssertTrue(broken.err.contains(corrupt), broken.summary)
        XCTAssertFalse(broken.err.contains("Fatal error"), "no crash: \(broken.summary)")
        XCTAssertEqual(try sha256(ofFile: corrupt), before, "the corrupt catalog is left untouched")

        // No such root: 66.
        let noRoot = try reportRun(["sessions", "/nonexistent/s3a-e2e-sessions", "--no-catalog"])
        XCTAssertEqual(noRoot.status, 66, noRoot.summary)
        XCTAssertTrue(noRoot.err.contains("/nonexistent/s3a-e2e-sessions"), noRoot.summary)
        let noRootAnalyze = try reportRun(["analyze", "/nonexistent/s3a-e2e-sessions", "--no-catalog"])
        XCTAssertEqual(noRootAnalyze.status, 66, noRootAnalyze.summary)

        // A malformed pricing file: 65, naming it; a missing one: 66.
        let badPricing = temp.file("pricing.json")
        try reportWrite(badPricing, "{\"regions\": {\"us-east-1\": ")
        let malformed = try reportRun(["cost", "--size", "1GB", "--pricing", badPricing])
        XCTAssertEqual(malformed.status, 65, malformed.summary)
        XCTAssertTrue(malformed.err.contains(badPricing), malformed.summary)
        let noPricing = try reportRun(["cost", "--size", "1GB", "--pricing", temp.file("nope.json")])
        XCTAssertEqual(noPricing.status, 66, noPricing.summary)
        let wrongRegion = try reportRun(["cost", "--size", "1GB", "--pricing", reportPackageRoot + "/lifecycle/pricing.json",
                                         "--region", "mars-north-1"])
        XCTAssertEqual(wrongRegion.status, 65, wrongRegion.summary)
        XCTAssertTrue(wrongRegion.err.contains("mars-north-1"), wrongRegion.summary)

        // An unknown format: a usage error.
        let xml = try reportRun(["status", "--catalog", corrupt, "--format", "xml"])
        XCTAssertEqual(xml.status, 64, xml.summary)
        XCTAssertTrue(xml.err.contains("--format"), xml.summary)
        XCTAssertEqual(xml.out, "")
        let since = try reportRun(["log", "--since", "soon", "--catalog", corrupt])
        XCTAssertEqual(since.status, 64, since.summary)
        XCTAssertTrue(since.err.contains("soon"), since.summary)
        let size = try reportRun(["cost", "--size", "lots"])
        XCTAssertEqual(size.status, 64, size.summary)
    }
}
