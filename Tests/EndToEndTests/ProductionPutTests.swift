import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// s3-put as it is used in production, end to end against SeaweedFS (and moto where noted): a client killed
/// mid-upload resumes, a changed file does not, interrupts abort (or keep parts for --keep-parts), several files
/// are all-or-nothing, object options reach the object, key placeholders, --recursive and --dry-run,
/// --limit-rate, the catalog's rows, progress only on a terminal, and the stream part-size schedule past part 1000.
/// Each result is checked by an independent peer: aws-cli for the server, python3's sqlite3 for the catalog,
/// coreutils for the bytes.
final class ProductionPutTests: EndToEndCase {
    private var proxy: FaultProxy?
    private var running: [BackgroundProcess] = []

    override func tearDownWithError() throws {
        for process in running { process.stop() }
        running = []
        proxy?.stop()
        proxy = nil
        try super.tearDownWithError()
    }

    private func startPut(_ arguments: [String]) throws -> BackgroundProcess {
        let process = try productionStartPut(arguments)
        running.append(process)
        return process
    }

    private func passThroughProxy() throws -> FaultProxy {
        let started = try FaultProxy(upstream: env.endpoint, directory: temp.path, environment: env.processEnvironment(),
                                     failPart: 0, status: 500, code: "None", times: 0)
        proxy = started
        return started
    }

    /// Count of rows of `sql` (a `SELECT COUNT(*)`) in the catalog, 0 while it cannot be read yet.
    private func count(_ catalog: String, _ sql: String) -> Int {
        productionSQLite(catalog, sql)?.first?.first.flatMap { Int($0) } ?? 0
    }

    /// The part numbers in PUT requests (UploadPart) of a proxy log.
    private func partNumbersSent(_ log: [String]) -> [Int] {
        log.compactMap { line -> Int? in
            guard line.hasPrefix("PUT "), let query = URLComponents(string: String(line.dropFirst(4)))?.queryItems else { return nil }
            return query.first(where: { $0.name == "partNumber" })?.value.flatMap { Int($0) }
        }
    }

    // MARK: 1. Resume after the client is killed

    func testKilledUploadResumesFromThePartsTheServerHolds() throws {
        let bucket = try bucket
        let key = "resume/killed.bin"
        let source = temp.file("killed.bin")
        try makeRandomFile(source, size: 60 * MiB)
        let catalog = temp.file("resume-catalog.sqlite")
        let common = ["--part-size", "5MiB", "--concurrency", "2", "--catalog", catalog, source, "s3://\(bucket)/\(key)"]

        let first = try startPut(["--endpoint-url", env.endpoint, "--limit-rate", "20MiB"] + common)
        var recordedRows = 0
        _ = productionWait(timeout: 60) {
            recordedRows = count(catalog, "SELECT COUNT(*) FROM upload_parts")
            return recordedRows >= 3 || !first.isRunning
        }
        XCTAssertTrue(first.isRunning, "s3-put ended before it could be killed: \(first.summary)")
        XCTAssertGreaterThanOrEqual(recordedRows, 3, "the catalog never recorded 3 parts")
        first.send(SIGKILL)
        XCTAssertTrue(first.wait(timeout: 10))
        XCTAssertEqual(first.reason, .uncaughtSignal, first.summary)
        XCTAssertEqual(first.out, "", "no record for a killed upload")

        // What survived: the open upload on the server, and the catalog's memory of it.
        let open = try productionOpenUploads(bucket)
        XCTAssertEqual(open.map(\.key), [key], "the killed upload stays open on the server")
        let uploadID = try XCTUnwrap(open.first?.uploadID)
        XCTAssertEqual(productionSQLite(catalog, "SELECT upload_id, state FROM uploads"), [[uploadID, "in_progress"]])
        let listed = try productionListParts(bucket, key: key, uploadID: uploadID)
        let recorded = productionSQLite(catalog, "SELECT number, size, md5 FROM upload_parts WHERE upload_id = '\(uploadID)'") ?? []
        XCTAssertGreaterThanOrEqual(listed.count, 3)
        XCTAssertLessThan(listed.count, 12, "the upload was killed before all its parts were sent")
        for row in recorded {
            let number = Int(row[0]) ?? -1
            XCTAssertEqual(listed[number]?.etag, row[2], "the catalog records part \(number) only once the server holds it")
            XCTAssertEqual(listed[number]?.size, 5 * MiB)
        }
        // The parts both sides agree on are the ones a resume may count as sent. Normally that is every part the
        // server holds; a part whose answer arrived in the instant before SIGKILL, not yet written to the catalog,
        // is correctly sent again, so the exact expectation is the intersection.
        let agreed = Set(recorded.compactMap { Int($0[0]) }).intersection(listed.keys)

        // The same command again (through a pass-through proxy, to see what is sent): it resumes.
        let proxy = try passThroughProxy()
        let again = try s3put(["--endpoint-url", proxy.endpoint] + common, endpoint: false)
        XCTAssertEqual(again.status, 0, again.summary)
        let record = try XCTUnwrap(productionJSONRecords(again.out).first, again.summary)
        XCTAssertEqual(record.productionInt("parts"), 12)
        XCTAssertEqual(record.productionInt("resumed_parts"), agreed.count, "resumed_parts: \(again.out)")
        XCTAssertEqual(record.productionInt("size"), 60 * MiB)

        let log = proxy.requestLog()
        let sent = partNumbersSent(log)
        XCTAssertEqual(sent.sorted(), Array(Set(1...12).subtracting(agreed)).sorted(),
                       "exactly the parts the server lacked are sent again; requests: \(log)")
        XCTAssertEqual(sent.count, (record.productionInt("parts") ?? 0) - (record.productionInt("resumed_parts") ?? 0))
        XCTAssertFalse(log.contains { $0.hasPrefix("POST ") && $0.contains("?uploads") },
                       "a resume starts no new multipart upload: \(log)")
        XCTAssertTrue(log.contains { $0.hasPrefix("POST ") && $0.contains("uploadId=\(uploadID)") },
                      "the resumed upload is completed under its old id: \(log)")

        XCTAssertEqual(record.productionString("etag"), try etagOf(source, partSize: "5MiB"))
        XCTAssertEqual(try headObject(bucket, key)?.etag, record.productionString("etag"))
        XCTAssertEqual(try readBackSHA256(bucket, key), try sha256(ofFile: source))
        XCTAssertEqual(try productionOpenUploads(bucket), [], "no multipart upload left")
        XCTAssertEqual(productionSQLite(catalog, "SELECT state FROM uploads WHERE upload_id = '\(uploadID)'"), [["completed"]])
        XCTAssertEqual(count(catalog, "SELECT COUNT(*) FROM upload_parts"), 0, "a completed upload's parts are forgotten")
    }

    // MARK: 2. Keep parts: the same command resumes; a changed file does not

    /// Starts a slow upload with --keep-parts, waits for a part in the catalog, interrupts it with SIGINT.
    /// Returns the id of the upload left open.
    private func interruptKeepingParts(_ arguments: [String], catalog: String, bucket: String, key: String,
                                       file: StaticString = #filePath, line: UInt = #line) throws -> String? {
        let process = try startPut(["--keep-parts", "--limit-rate", "5MiB"] + arguments)
        let recorded = productionWait(timeout: 60) {
            count(catalog, "SELECT COUNT(*) FROM upload_parts") >= 2 || !process.isRunning
        }
        XCTAssertTrue(recorded && process.isRunning, "no part recorded while it ran: \(process.summary)", file: file, line: line)
        process.send(SIGINT)
        XCTAssertTrue(process.wait(timeout: 15), "s3-put did not stop within 15 s of SIGINT", file: file, line: line)
        XCTAssertEqual(process.reason, .exit, process.summary, file: file, line: line)
        XCTAssertEqual(process.status, 130, process.summary, file: file, line: line)
        XCTAssertEqual(process.out, "", "no record for an interrupted upload", file: file, line: line)
        XCTAssertFalse(process.err.contains("aborted"), "--keep-parts aborts nothing: \(process.err)", file: file, line: line)
        let open = try productionOpenUploads(bucket).filter { $0.key == key }
        XCTAssertEqual(open.count, 1, "--keep-parts leaves the upload open", file: file, line: line)
        return open.first?.uploadID
    }

    func testKeptPartsResumeButAChangedFileStartsAfresh() throws {
        let bucket = try bucket
        let catalog = temp.file("keep-catalog.sqlite")

        // Unchanged: the same command resumes the kept upload.
        let same = temp.file("same.bin")
        try makeRandomFile(same, size: 30 * MiB)
        let sameKey = "keep/same.bin"
        let sameArguments = ["--part-size", "5MiB", "--concurrency", "2", "--catalog", catalog, same, "s3://\(bucket)/\(sameKey)"]
        let keptID = try interruptKeepingParts(sameArguments, catalog: catalog, bucket: bucket, key: sameKey)
        let resumed = try s3put(sameArguments)
        XCTAssertEqual(resumed.status, 0, resumed.summary)
        let resumedRecord = productionJSONRecords(resumed.out).first
        XCTAssertGreaterThanOrEqual(resumedRecord?.productionInt("resumed_parts") ?? 0, 2, "kept parts are reused: \(resumed.out)")
        XCTAssertEqual(resumedRecord?.productionInt("parts"), 6)
        XCTAssertEqual(try readBackSHA256(bucket, sameKey), try sha256(ofFile: same))
        XCTAssertFalse(try productionOpenUploads(bucket).contains { $0.uploadID == keptID }, "the resumed upload was completed")

        // Changed (same size, new mtime): a fresh upload; the old one, which nothing could resume, is aborted by it.
        let changed = temp.file("changed.bin")
        try makeRandomFile(changed, size: 30 * MiB)
        let changedKey = "keep/changed.bin"
        let changedArguments = ["--part-size", "5MiB", "--concurrency", "2", "--catalog", catalog, changed,
                                "s3://\(bucket)/\(changedKey)"]
        let oldID = try XCTUnwrap(try interruptKeepingParts(changedArguments, catalog: catalog, bucket: bucket, key: changedKey))
        let later = Date().addingTimeInterval(60)
        try FileManager.default.setAttributes([.modificationDate: later], ofItemAtPath: changed)
        let fresh = try s3put(changedArguments)
        XCTAssertEqual(fresh.status, 0, fresh.summary)
        let freshRecord = productionJSONRecords(fresh.out).first
        XCTAssertNil(freshRecord?["resumed_parts"], "a changed file must not resume: \(fresh.out)")
        XCTAssertEqual(freshRecord?.productionInt("parts"), 6)
        XCTAssertEqual(freshRecord?.productionString("etag"), try etagOf(changed, partSize: "5MiB"))
        XCTAssertEqual(try readBackSHA256(bucket, changedKey), try sha256(ofFile: changed))
        XCTAssertEqual(try productionOpenUploads(bucket), [],
                       "the old upload is aborted (not completed, not silently reused, not left billed)")

        // Nothing left for the tool's own clean-up: --abort-stale 0s under the prefix finds no upload.
        let abort = try s3put(["--abort-stale", "0s", "s3://\(bucket)/keep/"])
        XCTAssertEqual(abort.status, 0, abort.summary)
        XCTAssertFalse(abort.out.contains(oldID), "the old upload was already aborted: \(abort.out)")
    }

    // MARK: 3. Interrupts

    func testSIGINTAbortsTheUpload() throws {
        let bucket = try bucket
        let source = temp.file("interrupted.bin")
        try makeRandomFile(source, size: 30 * MiB)
        let catalog = temp.file("sigint-catalog.sqlite")
        let key = "sigint/interrupted.bin"
        let process = try startPut(["--part-size", "5MiB", "--limit-rate", "5MiB", "--catalog", catalog, source,
                                    "s3://\(bucket)/\(key)"])
        let started = try productionWait(timeout: 60, interval: 0.2) {
            if !process.isRunning { return true }
            return try productionOpenUploads(bucket).contains { $0.key == key }
        }
        XCTAssertTrue(started && process.isRunning, "the multipart upload never showed up: \(process.summary)")
        process.send(SIGINT)
        XCTAssertTrue(process.wait(timeout: 15), "s3-put did not stop within 15 s of SIGINT")
        XCTAssertEqual(process.reason, .exit, process.summary)
        XCTAssertEqual(process.status, 130, process.summary)
        XCTAssertTrue(process.err.contains("aborted"), "stderr should say the upload was aborted: \(process.err)")
        XCTAssertEqual(process.out, "")
        XCTAssertEqual(try productionOpenUploads(bucket), [], "SIGINT aborts the multipart upload")
        XCTAssertNil(try headObject(bucket, key))
        XCTAssertEqual(productionSQLite(catalog, "SELECT state FROM uploads"), [["aborted"]])
    }

    func testKeepPartsThenListAndAbortStale() throws {
        let bucket = try bucket
        let source = temp.file("kept.bin")
        try makeRandomFile(source, size: 30 * MiB)
        let catalog = temp.file("stale-catalog.sqlite")
        let key = "stale/kept.bin"
        let uploadID = try XCTUnwrap(try interruptKeepingParts(["--part-size", "5MiB", "--catalog", catalog, source,
                                                                 "s3://\(bucket)/\(key)"],
                                                                catalog: catalog, bucket: bucket, key: key))

        let listing = try s3put(["--list-stale", "s3://\(bucket)/"])
        XCTAssertEqual(listing.status, 0, listing.summary)
        XCTAssertEqual(listing.lines.count, 1, "one stale upload: \(listing.out)")
        let fields = listing.lines.first?.components(separatedBy: "\t") ?? []
        XCTAssertEqual(fields.count, 3, "initiated, key, upload id: \(listing.out)")
        if fields.count == 3 {
            let initiated = ISO8601DateFormatter().date(from: fields[0])
            XCTAssertNotNil(initiated, "an ISO 8601 time: \(fields[0])")
            if let initiated { XCTAssertLessThan(abs(initiated.timeIntervalSinceNow), 600, "initiated just now: \(fields[0])") }
            XCTAssertEqual(fields[1], key)
            XCTAssertEqual(fields[2], uploadID)
        }

        let young = try s3put(["--abort-stale", "7d", "s3://\(bucket)/"])
        XCTAssertEqual(young.status, 0, young.summary)
        XCTAssertEqual(young.out, "", "nothing is older than 7 days")
        XCTAssertEqual(try productionOpenUploads(bucket), [ProductionOpenUpload(key: key, uploadID: uploadID)],
                       "--abort-stale 7d leaves a recent upload alone")

        let all = try s3put(["--abort-stale", "0s", "s3://\(bucket)/"])
        XCTAssertEqual(all.status, 0, all.summary)
        XCTAssertEqual(all.lines.count, 1, all.out)
        XCTAssertTrue(all.out.contains("\(key)\t\(uploadID)"), all.out)
        XCTAssertEqual(try productionOpenUploads(bucket), [], "--abort-stale 0s aborts it")
        let after = try s3put(["--list-stale", "s3://\(bucket)/"])
        XCTAssertEqual(after.status, 0, after.summary)
        XCTAssertEqual(after.out, "", "nothing left to list")
    }

    // MARK: 4. All or nothing

    /// An unreadable second file: found before any upload, nothing stored. Root reads everything, so the tool
    /// runs as nobody (setpriv) when the tests run as root.
    func testUnreadableInputStoresNothing() throws {
        let bucket = try bucket
        // A directory nobody can traverse, whatever TMPDIR the tests run with.
        let shared = "/tmp/s3a-e2e-nobody-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        chmod(shared, 0o755)
        let good1 = shared + "/good1.bin", unreadable = shared + "/unreadable.bin", good2 = shared + "/good2.bin"
        try makeRandomFile(good1, size: 1_000)
        try makeRandomFile(unreadable, size: 1_000)
        try makeRandomFile(good2, size: 6 * MiB)
        for path in [good1, good2] { chmod(path, 0o644) }
        chmod(unreadable, 0o000)

        var executable = env.tool("s3-put")
        var prefix: [String] = []
        var environment = s3putEnvironment(["HOME": "/nonexistent"])
        if getuid() == 0 {
            let setpriv = try XCTUnwrap(which("setpriv"), "setpriv (util-linux) is needed to drop root")
            prefix = ["--reuid=65534", "--regid=65534", "--clear-groups"]
            // nobody must be able to run s3-put: copy it out of a build directory it may not reach.
            let probe = try runProcess(setpriv, prefix + [executable, "--help"], environment: environment, timeout: 30)
            if probe.status != 0 {
                let copy = shared + "/s3-put"
                try FileManager.default.copyItem(atPath: executable, toPath: copy)
                chmod(copy, 0o755)
                executable = copy
            }
            prefix = prefix + [executable]
            executable = setpriv
        }
        environment["S3_ARCHIVE_CATALOG"] = nil
        let result = try runProcess(executable, prefix + ["--endpoint-url", env.endpoint, "--no-catalog", "--part-size", "5MiB",
                                                          good1, unreadable, good2, "s3://\(bucket)/p/"],
                                    environment: environment, timeout: 60)
        assertNoSecret(result, env.secretKey)
        XCTAssertEqual(result.status, 66, result.summary)
        XCTAssertTrue(result.err.contains(unreadable), "the message names the file: \(result.err)")
        XCTAssertEqual(result.out, "")
        XCTAssertEqual(try productionKeys(bucket, prefix: "p/"), [], "nothing stored under p/ at all")
        XCTAssertEqual(try productionOpenUploads(bucket), [])
    }

    /// The second of three files fails during its upload (a part refused for good): the first stays stored,
    /// the third is not attempted, exit 1 names the file and how far the run got.
    func testFailureInTheSecondOfThreeFiles() throws {
        let bucket = try bucket
        let proxy = try FaultProxy(upstream: env.endpoint, directory: temp.path, environment: env.processEnvironment(),
                                   failPart: 2, status: 400, code: "BadDigest", times: -1)
        self.proxy = proxy
        let first = temp.file("first.bin"), second = temp.file("second.bin"), third = temp.file("third.bin")
        try makeRandomFile(first, size: 1_000) // one PUT: no part 2 to fail
        try makeRandomFile(second, size: 12 * MiB)
        try makeRandomFile(third, size: 1_000)
        let catalog = temp.file("three-catalog.sqlite")
        let result = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", "--catalog", catalog,
                                first, second, third, "s3://\(bucket)/three/"], endpoint: false)
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertTrue(result.err.contains(second), "the message names the failed file: \(result.err)")
        XCTAssertTrue(result.err.contains("1 of 3 files stored"), "the message says how far it got: \(result.err)")
        XCTAssertEqual(records(result).map(\.key), ["three/first.bin"], "a record for the stored file only")
        XCTAssertEqual(try productionKeys(bucket, prefix: "three/"), ["three/first.bin"])
        XCTAssertEqual(try productionOpenUploads(bucket), [], "the failed upload is aborted")
        XCTAssertEqual(productionSQLite(catalog, "SELECT url, outcome FROM operations ORDER BY id"),
                       [["s3://\(bucket)/three/first.bin", "ok"], ["s3://\(bucket)/three/second.bin", "failed"]])
    }

    // MARK: 5. Object options

    func testObjectOptionsAreVisibleThroughAwsCli() throws {
        let seaweed = try bucket
        let moto = try env.requireMoto()
        let motoBucket = uniqueBucketName("productionoptions")
        let made = try aws(["s3", "mb", "s3://\(motoBucket)"], endpoint: moto)
        XCTAssertEqual(made.status, 0, made.summary)
        defer { _ = try? aws(["s3", "rb", "--force", "s3://\(motoBucket)"], endpoint: moto) }
        let small = temp.file("small.dat"), big = temp.file("big.dat")
        try makeRandomFile(small, size: 2_000)
        try makeRandomFile(big, size: 11 * MiB)

        for (server, endpoint, bucket) in [("SeaweedFS", env.endpoint, seaweed), ("moto", moto, motoBucket)] {
            for (how, path, parts) in [("single PUT", small, 1), ("multipart", big, 3)] {
                let key = "options/\((path as NSString).lastPathComponent)"
                let result = try s3put(["--endpoint-url", endpoint, "--part-size", "5MiB",
                                        "--storage-class", "STANDARD_IA", "--tag", "archive=fast", "--tag", "project=P Q",
                                        "--metadata", "k=v", "--content-type", "application/x-test", "--sse", "AES256",
                                        path, "s3://\(bucket)/\(key)"], endpoint: false)
                let record = singleRecord(result)
                let label = "\(server), \(how)"
                XCTAssertEqual(record?.parts, parts, label)
                XCTAssertEqual(record?.storageClass, "STANDARD_IA", label)
                let head = try XCTUnwrap(try headObjectFields(bucket, key, endpoint: endpoint), label)
                XCTAssertEqual(head["ContentType"] as? String, "application/x-test", label)
                XCTAssertEqual((head["Metadata"] as? [String: String])?["k"], "v", "\(label): metadata: \(head)")
                XCTAssertEqual(head["ServerSideEncryption"] as? String, "AES256", "\(label): \(head)")
                // moto keeps storage classes; so does SeaweedFS 4.48 (bin/setup's pinned version) when one is given.
                XCTAssertEqual(head["StorageClass"] as? String, "STANDARD_IA", "\(label): \(head)")
                XCTAssertEqual((head["ETag"] as? String)?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")),
                               record?.etag, label)
                let tagging = try aws(["s3api", "get-object-tagging", "--bucket", bucket, "--key", key, "--output", "json"],
                                      endpoint: endpoint)
                XCTAssertEqual(tagging.status, 0, tagging.summary)
                let tags = ((try? JSONSerialization.jsonObject(with: tagging.stdout)) as? [String: Any])?["TagSet"] as? [[String: String]] ?? []
                XCTAssertEqual(Dictionary(tags.map { ($0["Key"] ?? "", $0["Value"] ?? "") }, uniquingKeysWith: { $1 }),
                               ["archive": "fast", "project": "P Q"], "\(label): tags: \(tagging.out)")
            }
        }
    }

    /// SSE-C: SeaweedFS 4.48 implements it (it refuses a GET without the key), so the round trip runs there.
    func testCustomerKeyRoundTripAndTheKeyIsNeverPrinted() throws {
        let bucket = try bucket
        let keyFile = temp.file("sse-c.key")
        try makeRandomFile(keyFile, size: 32)
        let keyBytes = try Data(contentsOf: URL(fileURLWithPath: keyFile))
        let base64 = keyBytes.base64EncodedString()
        let hex = keyBytes.map { String(format: "%02x", $0) }.joined()
        let small = temp.file("secret-small.bin"), big = temp.file("secret-big.bin")
        try makeRandomFile(small, size: 3_000)
        try makeRandomFile(big, size: 11 * MiB)
        let catalog = temp.file("ssec-catalog.sqlite")

        for path in [small, big] {
            let key = "ssec/\((path as NSString).lastPathComponent)"
            let result = try s3put(["--part-size", "5MiB", "--sse-c-key-file", keyFile, "--catalog", catalog,
                                    path, "s3://\(bucket)/\(key)"])
            XCTAssertEqual(result.status, 0, result.summary)
            for (form, text) in [("base64", base64), ("hex", hex), ("raw", String(decoding: keyBytes, as: UTF8.self))] {
                XCTAssertFalse(result.out.contains(text), "the SSE-C key (\(form)) appears on stdout")
                XCTAssertFalse(result.err.contains(text), "the SSE-C key (\(form)) appears on stderr")
            }
            XCTAssertNil(result.stdout.range(of: keyBytes), "the raw SSE-C key appears on stdout")
            XCTAssertNil(result.stderr.range(of: keyBytes), "the raw SSE-C key appears on stderr")

            let back = temp.file("back-\(UUID().uuidString)")
            let get = try aws(["s3api", "get-object", "--bucket", bucket, "--key", key, "--sse-customer-algorithm", "AES256",
                               "--sse-customer-key", "fileb://\(keyFile)", back])
            XCTAssertEqual(get.status, 0, get.summary)
            XCTAssertEqual(try sha256(ofFile: back), try sha256(ofFile: path), "\(key): the same bytes back with the key")
            let without = try aws(["s3api", "get-object", "--bucket", bucket, "--key", key, temp.file("nokey")])
            XCTAssertNotEqual(without.status, 0, "\(key): without the key the server refuses: it really is SSE-C")
        }
        // "never printed or stored": not in the catalog either.
        let stored = try Data(contentsOf: URL(fileURLWithPath: catalog))
        for form in [Data(base64.utf8), Data(hex.utf8), keyBytes] {
            XCTAssertNil(stored.range(of: form), "the SSE-C key is stored in the catalog")
        }
    }

    // MARK: 6. Key placeholders

    func testKeyPlaceholders() throws {
        let bucket = try bucket
        let source = temp.file("observation.fits")
        try makeRandomFile(source, size: 1_000)

        let dated = try s3put(["--session", "20240315_M31", source, "s3://\(bucket)/backups/raw/{year}/{session}.tar"])
        XCTAssertEqual(singleRecord(dated)?.key, "backups/raw/2024/20240315_M31.tar")
        XCTAssertNotNil(try headObject(bucket, "backups/raw/2024/20240315_M31.tar"))

        // Without --session, the session is the file's name without its extension, and its date counts.
        let named = temp.file("2023-11-02-night.tar")
        try makeRandomFile(named, size: 100)
        let fromName = try s3put([named, "s3://\(bucket)/backups/{year}/{month}/{session}.tar"])
        XCTAssertEqual(singleRecord(fromName)?.key, "backups/2023/11/2023-11-02-night.tar")

        // A session without a date: today's date, in UTC.
        func today() -> String {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let c = calendar.dateComponents([.year, .month, .day], from: Date())
            return String(format: "%04d/%02d/%02d", c.year!, c.month!, c.day!)
        }
        let before = today()
        let undated = try s3put(["--session", "M31-night", source, "s3://\(bucket)/events/{year}/{month}/{day}/{name}"])
        let after = today()
        let key = singleRecord(undated)?.key
        XCTAssertTrue(key == "events/\(before)/observation.fits" || key == "events/\(after)/observation.fits",
                      "today's UTC date: got \(key ?? "nil"), expected events/\(after)/observation.fits")

        let stdin = try s3put(["s3://\(bucket)/bad/{name}"], input: .data(Data("stream".utf8)))
        XCTAssertEqual(stdin.status, 64, "standard input has no {name}: \(stdin.summary)")
        XCTAssertTrue(stdin.err.contains("{name}"), stdin.err)
        let unknown = try s3put([source, "s3://\(bucket)/bad/{foo}/x"])
        XCTAssertEqual(unknown.status, 64, unknown.summary)
        XCTAssertTrue(unknown.err.contains("{foo}"), "the message names the placeholder: \(unknown.err)")
        XCTAssertEqual(try productionKeys(bucket, prefix: "bad/"), [], "nothing stored for a usage error")
    }

    // MARK: 7. --recursive, --dry-run, --limit-rate

    func testRecursiveUploadKeepsRelativePaths() throws {
        let bucket = try bucket
        let tree = temp.file("tree")
        let files: [(String, Int)] = [("a.txt", 100), ("sub/b.bin", 6 * MiB), ("sub/deeper/c.fits", 2_000),
                                      (".hidden", 10), ("empty.log", 0)]
        for (relative, size) in files {
            let path = tree + "/" + relative
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try makeRandomFile(path, size: size)
        }
        try FileManager.default.createDirectory(atPath: tree + "/empty-dir", withIntermediateDirectories: true)
        let expected = files.map { "prefix/tree/\($0.0)" }.sorted()

        let dry = try s3put(["--dry-run", "--recursive", "--part-size", "5MiB", tree, "s3://\(bucket)/prefix/"])
        XCTAssertEqual(dry.status, 0, dry.summary)
        XCTAssertEqual(dry.out, "", "a dry run prints no record")
        let wouldLines = dry.err.split(separator: "\n").filter { $0.contains("would upload") }
        XCTAssertEqual(wouldLines.count, files.count, "one 'would upload' line per file: \(dry.err)")
        for key in expected {
            XCTAssertTrue(wouldLines.contains { $0.contains("s3://\(bucket)/\(key)") }, "\(key) in: \(dry.err)")
        }
        XCTAssertEqual(try productionKeys(bucket, prefix: "prefix/"), [], "a dry run stores nothing")

        let result = try s3put(["--recursive", "--part-size", "5MiB", tree, "s3://\(bucket)/prefix/"])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(records(result).map(\.key).sorted(), expected)
        XCTAssertEqual(try productionKeys(bucket, prefix: "prefix/"), expected, "every regular file, nothing else")
        XCTAssertEqual(try readBackSHA256(bucket, "prefix/tree/sub/b.bin"), try sha256(ofFile: tree + "/sub/b.bin"))
        XCTAssertEqual(try headObject(bucket, "prefix/tree/empty.log")?.size, 0)
    }

    func testLimitRateSlowsTheUpload() throws {
        let bucket = try bucket
        let source = temp.file("twelve.bin")
        try makeRandomFile(source, size: 12 * MiB)
        let result = try s3put(["--part-size", "5MiB", "--limit-rate", "4MiB", source, "s3://\(bucket)/rate/twelve.bin"])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertGreaterThanOrEqual(result.duration, 2.0, "12 MiB at 4 MiB/s cannot take under 2 s")
        XCTAssertEqual(try headObject(bucket, "rate/twelve.bin")?.size, 12 * MiB)
    }

    /// "Cap the upload rate (per second, all parts together)": one connection alone may use the whole rate.
    /// A 4 MiB file goes in one PUT; at --limit-rate 4MiB that is about a second, not the rate divided by
    /// --concurrency (4 s with the default 4).
    func testLimitRateIsSharedByTheConnectionsInUse() throws {
        let bucket = try bucket
        let source = temp.file("four.bin")
        try makeRandomFile(source, size: 4 * MiB)
        let result = try s3put(["--limit-rate", "4MiB", source, "s3://\(bucket)/rate/four.bin"])
        XCTAssertEqual(singleRecord(result)?.parts, 1)
        XCTAssertLessThan(result.duration, 2.5,
                          "4 MiB at --limit-rate 4MiB took \(String(format: "%.1f", result.duration)) s: the cap seems split per connection")
    }

    // MARK: 8. The catalog

    func testCatalogRowsAfterAnUpload() throws {
        let bucket = try bucket
        let catalog = temp.file("rows/nested/catalog.sqlite") // directories created as needed
        let small = temp.file("row-small.bin"), big = temp.file("row-big.bin")
        try makeRandomFile(small, size: 4_000)
        try makeRandomFile(big, size: 11 * MiB)
        let result = try s3put(["--part-size", "5MiB", "--catalog", catalog, small, big, "s3://\(bucket)/cat/"])
        XCTAssertEqual(result.status, 0, result.summary)
        let stored = records(result)
        XCTAssertEqual(stored.count, 2)
        for record in stored {
            XCTAssertEqual(productionSQLite(catalog, "SELECT size, etag, part_size, parts FROM objects WHERE url = '\(record.url)'"),
                           [[String(record.size), record.etag, String(record.partSize), String(record.parts)]], record.url)
            XCTAssertEqual(productionSQLite(catalog, "SELECT outcome, bytes FROM operations WHERE url = '\(record.url)' AND tool = 's3-put'"),
                           [["ok", String(record.size)]], record.url)
        }
        XCTAssertEqual(productionSQLite(catalog, "SELECT state FROM uploads"), [["completed"]], "the multipart upload, completed")
        XCTAssertEqual(count(catalog, "SELECT COUNT(*) FROM upload_parts"), 0)
    }

    func testNoCatalogWritesNoFile() throws {
        let bucket = try bucket
        let source = temp.file("uncatalogued.bin")
        try makeRandomFile(source, size: 1_000)
        let fromEnvironment = temp.file("env-catalog.sqlite"), fromFlag = temp.file("flag-catalog.sqlite")
        let viaEnvironment = try s3put(["--no-catalog", source, "s3://\(bucket)/nocat/a.bin"],
                                       environment: ["S3_ARCHIVE_CATALOG": fromEnvironment])
        XCTAssertEqual(viaEnvironment.status, 0, viaEnvironment.summary)
        let viaFlag = try s3put(["--no-catalog", "--catalog", fromFlag, source, "s3://\(bucket)/nocat/b.bin"])
        XCTAssertEqual(viaFlag.status, 0, viaFlag.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: fromEnvironment), "--no-catalog ignores S3_ARCHIVE_CATALOG")
        XCTAssertFalse(FileManager.default.fileExists(atPath: fromFlag), "--no-catalog wins over --catalog")
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp.file("catalog.sqlite")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp.file("s3-archive")), "nor the XDG default")
        XCTAssertEqual(try productionKeys(bucket, prefix: "nocat/"), ["nocat/a.bin", "nocat/b.bin"])
    }

    func testUnusableCatalogIsAnIOErrorAndUploadsNothing() throws {
        let bucket = try bucket
        let source = temp.file("blocked.bin")
        try makeRandomFile(source, size: 1_000)
        let directory = temp.file("catalog-is-a-directory")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let garbage = temp.file("garbage.sqlite")
        var bytes = Data("this is not an SQLite database\n".utf8)
        bytes.append(Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }))
        try bytes.write(to: URL(fileURLWithPath: garbage))

        for (what, path) in [("a directory", directory), ("garbage bytes", garbage)] {
            let result = try s3put(["--catalog", path, source, "s3://\(bucket)/blocked/\(what).bin"])
            XCTAssertEqual(result.status, 74, "\(what): \(result.summary)")
            XCTAssertTrue(result.err.contains(path), "\(what): the message names the catalog: \(result.err)")
            XCTAssertEqual(result.out, "", what)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: garbage)), bytes, "a file that is not a catalog is left as it was")
        XCTAssertEqual(try productionKeys(bucket, prefix: "blocked/"), [], "nothing uploaded")
    }

    /// `--catalog catalog.sqlite` (a bare name, relative to the working directory) is a catalog like any other.
    func testCatalogGivenAsABareFileName() throws {
        let bucket = try bucket
        let source = temp.file("bare.bin")
        try makeRandomFile(source, size: 1_000)
        let result = try runProcess(env.tool("s3-put"), ["--endpoint-url", env.endpoint, "--catalog", "bare.sqlite", source,
                                                         "s3://\(bucket)/bare/bare.bin"],
                                    environment: s3putEnvironment(), directory: temp.path, timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(productionSQLite(temp.file("bare.sqlite"), "SELECT size FROM objects WHERE url = 's3://\(bucket)/bare/bare.bin'"),
                       [["1000"]], "the catalog is ./bare.sqlite")
    }

    // MARK: 9. Progress

    func testProgressOnlyOnATerminal() throws {
        let bucket = try bucket
        let source = temp.file("progress.bin")
        try makeRandomFile(source, size: 15 * MiB)
        let script = try XCTUnwrap(which("script"), "script (util-linux) is needed for a terminal")
        let command = ([env.tool("s3-put"), "--endpoint-url", env.endpoint, "--part-size", "5MiB", "--limit-rate", "6MiB",
                        source, "s3://\(bucket)/progress/tty.bin"]).map(productionShellQuote).joined(separator: " ")
        let tty = try runProcess(script, ["-qec", command, "/dev/null"], environment: s3putEnvironment(), timeout: 60)
        XCTAssertEqual(tty.status, 0, tty.summary)
        // The record's JSON also holds "parts": the progress line is "NAME  N MiB / 15 MiB  …  parts I/3".
        XCTAssertTrue(matches(tty.out, #"[0-9.]+ (B|KiB|MiB) / 15 MiB[^{}]*parts [0-9]/3"#),
                      "a progress line (MiB, parts) on a terminal: \(tty.out.debugDescription)")
        XCTAssertNotNil(try headObject(bucket, "progress/tty.bin"))

        let quiet = try s3put(["--part-size", "5MiB", "--limit-rate", "6MiB", source, "s3://\(bucket)/progress/pipe.bin"])
        XCTAssertEqual(quiet.status, 0, quiet.summary)
        XCTAssertEqual(quiet.err, "", "without a terminal a successful upload writes nothing to stderr")
        XCTAssertEqual(quiet.lines.count, 1)
    }

    // MARK: 10. The stream's part-size schedule, past part 1000

    /// 5000 MiB (1000 parts of 5 MiB), then a full 10 MiB part 1001 and 1 MiB for part 1002: 5011 MiB
    /// (5.25 GB, 4.89 GiB) of deterministic bytes, streamed (unknown length).
    func testLongStreamDoublesThePartSizeAfter1000Parts() throws {
        let bucket = try bucket
        let openssl = try XCTUnwrap(which("openssl"), "openssl is needed to generate the stream")
        let size = 5011 * MiB
        let generate = "\(productionShellQuote(openssl)) enc -aes-128-ctr -nosalt -K 00112233445566778899aabbccddeeff -iv 0 "
            + "-in /dev/zero 2>/dev/null | head -c \(size)"
        let key = "big.bin"
        defer { _ = try? aws(["s3", "rm", "s3://\(bucket)/\(key)"]) }

        let upload = "\(generate) | " + ([env.tool("s3-put"), "--endpoint-url", env.endpoint, "--part-size", "5MiB",
                                          "--concurrency", "4", "s3://\(bucket)/\(key)"]).map(productionShellQuote).joined(separator: " ")
        let put = try runProcess("/bin/sh", ["-c", upload], environment: s3putEnvironment(), timeout: 400)
        assertNoSecret(put, env.secretKey)
        XCTAssertFalse(put.timedOut, put.summary)
        XCTAssertEqual(put.status, 0, put.summary)
        let record = try XCTUnwrap(productionJSONRecords(put.out).first, put.summary)
        XCTAssertEqual(record.productionInt("size"), size)
        XCTAssertEqual(record.productionInt("part_size"), 5 * MiB)
        XCTAssertEqual(record.productionInt("part_size_doubling_every"), 1000)
        XCTAssertEqual(record.productionInt("parts"), 1002)
        XCTAssertGreaterThan(record.productionInt("parts") ?? 0, 1000)

        let hash = "\(generate) | " + ([env.tool("s3-etag"), "--part-size", "5MiB", "--doubling-every", "1000", "-"])
            .map(productionShellQuote).joined(separator: " ")
        let etag = try runProcess("/bin/sh", ["-c", hash], environment: env.processEnvironment(), timeout: 400)
        XCTAssertEqual(etag.status, 0, etag.summary)
        let computed = etag.lines.first?.components(separatedBy: "  ").first
        XCTAssertEqual(computed, record.productionString("etag"), "s3-etag's ETag of the same stream")
        XCTAssertTrue(computed?.hasSuffix("-1002") ?? false, computed ?? "nil")
        let head = try headObject(bucket, key)
        XCTAssertEqual(head?.etag, record.productionString("etag"), "head-object's ETag")
        XCTAssertEqual(head?.size, size)
        print("ProductionPutTests: \(size >> 20) MiB stream: s3-put \(String(format: "%.1f", put.duration)) s, "
              + "s3-etag \(String(format: "%.1f", etag.duration)) s")
    }
}
