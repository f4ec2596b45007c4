import Foundation
import XCTest

/// Retention (S3 Object Lock) end to end: s3-put's --retain-until, --retention-mode and --legal-hold on a file, an
/// archive and its index, and every object of -r, read back by aws-cli on SeaweedFS (which stores retention and
/// refuses deleting a locked version; moto answers GetObjectRetention with 500, so nothing is read back there);
/// a bucket without Object Lock and a file:// store refused before any byte moves; bad values refused with exit 64;
/// s3-lifecycle lock telling on from off.
final class RetentionTests: EndToEndCase {
    /// A bucket of its own on SeaweedFS, created with Object Lock (and so versioned), once per class. Locked
    /// versions cannot be removed: the bucket is left to the server, which bin/test throws away.
    private static let lockedBuckets = Locked<String?>(nil)

    private var lockedBucket: String {
        get throws {
            if let existing = Self.lockedBuckets.current { return existing }
            let name = uniqueBucketName("retention-locked")
            let made = try aws(["s3api", "create-bucket", "--bucket", name, "--object-lock-enabled-for-bucket"])
            guard made.status == 0 else {
                XCTFail("cannot create bucket \(name) with Object Lock: \(made.summary)")
                throw TestEnvironment.Missing()
            }
            Self.lockedBuckets.withLock { $0 = name }
            return name
        }
    }

    override func tearDownWithError() throws {
        if env != nil, let locked = Self.lockedBuckets.current { assertNoMultipartUploads(locked) }
        try super.tearDownWithError()
    }

    // MARK: reading back

    /// `aws s3api get-object-retention`: (mode, retain-until date), or nil when the object has none.
    private func retention(_ bucket: String, _ key: String,
                           file: StaticString = #filePath, line: UInt = #line) throws -> (mode: String, until: Date)? {
        let result = try aws(["s3api", "get-object-retention", "--bucket", bucket, "--key", key, "--output", "json"])
        guard result.status == 0 else {
            XCTFail("get-object-retention \(key): \(result.summary)", file: file, line: line)
            return nil
        }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        let fields = object?["Retention"] as? [String: Any]
        guard let mode = fields?["Mode"] as? String, let text = fields?["RetainUntilDate"] as? String,
              let until = parseISO8601(text) else {
            XCTFail("no retention in: \(result.out)", file: file, line: line)
            return nil
        }
        return (mode, until)
    }

    /// `aws s3api get-object-legal-hold`: ON or OFF.
    private func legalHold(_ bucket: String, _ key: String) throws -> String? {
        let result = try aws(["s3api", "get-object-legal-hold", "--bucket", bucket, "--key", key, "--output", "json"])
        guard result.status == 0 else { return nil }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        return (object?["LegalHold"] as? [String: Any])?["Status"] as? String
    }

    private func parseISO8601(_ text: String) -> Date? {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return ISO8601DateFormatter().date(from: text) ?? fractional.date(from: text)
    }

    /// The version id of the object now at `key`.
    private func versionID(_ bucket: String, _ key: String, file: StaticString = #filePath, line: UInt = #line) throws -> String? {
        let version = try headObjectFields(bucket, key, file: file, line: line)?["VersionId"] as? String
        XCTAssertNotNil(version, "\(key) has no version id: is the bucket versioned?", file: file, line: line)
        return version
    }

    /// Deleting this very version must be refused, and the object stay as it was.
    private func assertDeleteRefused(_ bucket: String, _ key: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let version = try versionID(bucket, key, file: file, line: line),
              let before = try headObject(bucket, key, file: file, line: line) else { return }
        let delete = try aws(["s3api", "delete-object", "--bucket", bucket, "--key", key, "--version-id", version])
        XCTAssertNotEqual(delete.status, 0, "deleting the locked version \(key) \(version) succeeded", file: file, line: line)
        XCTAssertTrue(delete.err.contains("AccessDenied"), delete.summary, file: file, line: line)
        let after = try headObject(bucket, key, file: file, line: line)
        XCTAssertEqual(after?.etag, before.etag, "\(key) changed after the refused delete", file: file, line: line)
    }

    /// Every key under `prefix` in `bucket`, by aws-cli (`endpoint`: SeaweedFS unless given).
    private func keys(_ bucket: String, prefix: String = "", endpoint: String? = nil) throws -> [String] {
        try reportObjects(bucket, prefix: prefix, endpoint: endpoint).keys.sorted()
    }

    // MARK: stored with retention

    /// A file in one PUT, GOVERNANCE for a period from now: the date is now + 30 days, and the version stays.
    func testFileKeepsGovernanceRetentionForAPeriod() throws {
        let bucket = try lockedBucket
        let path = temp.file("notes.txt")
        try Data("observing log\n".utf8).write(to: URL(fileURLWithPath: path))
        let asked = Date()
        let put = try s3put(["--retain-until", "30d", "--retention-mode", "GOVERNANCE", path, "s3://\(bucket)/file/notes.txt"])
        guard singleRecord(put) != nil else { return }

        let stored = try retention(bucket, "file/notes.txt")
        XCTAssertEqual(stored?.mode, "GOVERNANCE")
        let expected = asked.addingTimeInterval(30 * 86400)
        if let until = stored?.until {
            XCTAssertLessThan(abs(until.timeIntervalSince(expected)), 120, "retain until \(until), expected about \(expected)")
        }
        XCTAssertNotEqual(try legalHold(bucket, "file/notes.txt"), "ON", "no legal hold was asked")
        try assertDeleteRefused(bucket, "file/notes.txt")
    }

    /// `s3-archive DIR | s3-put --index …`, multipart, COMPLIANCE until a date, with a legal hold: the archive and
    /// its index both carry them, and neither version can be deleted.
    func testArchiveAndIndexKeepComplianceRetentionAndLegalHold() throws {
        let bucket = try lockedBucket
        let session = temp.file("SESSION-R1")
        try FileManager.default.createDirectory(atPath: session, withIntermediateDirectories: true)
        try makeRandomFile(session + "/frame-001.fits", size: 6 * MiB + 11)
        try Data("flat\n".utf8).write(to: URL(fileURLWithPath: session + "/flat.txt"))
        let key = "raw/SESSION-R1.tar"
        let put = try reportArchiveAndPut(session, index: temp.file("r1.idx"), [
            "--part-size", "5MiB", "--retain-until", "2031-12-31", "--retention-mode", "compliance", "--legal-hold",
            "s3://\(bucket)/\(key)",
        ])
        guard let record = singleRecord(put) else { return }
        XCTAssertEqual(record.parts, 2, "the archive went in parts: \(put.out)")

        let until = ISO8601DateFormatter().date(from: "2031-12-31T00:00:00Z")
        for stored in [key, key + ".index.json"] {
            let read = try retention(bucket, stored)
            XCTAssertEqual(read?.mode, "COMPLIANCE", stored)
            XCTAssertEqual(read?.until, until, stored)
            XCTAssertEqual(try legalHold(bucket, stored), "ON", stored)
            try assertDeleteRefused(bucket, stored)
        }
    }

    /// `s3-put -r`: every object under the prefix gets the retention, from an ISO date and time with its zone.
    func testRecursiveUploadLocksEveryObject() throws {
        let bucket = try lockedBucket
        let folder = temp.file("night")
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        for name in ["a.raw", "b.raw", "sub/c.raw"] {
            try makeRandomFile(folder + "/" + name, size: 1000 + name.count)
        }
        let put = try s3put(["-r", "--retain-until", "2030-06-01T14:00:00+02:00", "--retention-mode", "GOVERNANCE",
                             folder, "s3://\(bucket)/tree/"])
        XCTAssertEqual(put.status, 0, put.summary)
        XCTAssertEqual(records(put).count, 3, put.out)
        let stored = try keys(bucket, prefix: "tree/")
        XCTAssertEqual(stored, ["tree/night/a.raw", "tree/night/b.raw", "tree/night/sub/c.raw"])
        let until = ISO8601DateFormatter().date(from: "2030-06-01T12:00:00Z")
        for key in stored {
            let read = try retention(bucket, key)
            XCTAssertEqual(read?.mode, "GOVERNANCE", key)
            XCTAssertEqual(read?.until, until, key)
        }
    }

    // MARK: refused

    /// A bucket without Object Lock: one line naming the bucket and the fix, exit 64, nothing stored, on SeaweedFS
    /// (which would refuse each PUT) and on moto (which would accept a multipart upload and ignore the lock).
    func testBucketWithoutObjectLockIsRefusedBeforeAnyByte() throws {
        let plain = try bucket
        let big = temp.file("big.bin")
        try makeRandomFile(big, size: 6 * MiB)
        let moto = try env.requireMoto()
        let motoPlain = uniqueBucketName("retention-moto")
        guard try reportMakeBucket(motoPlain, endpoint: moto) else { return }
        defer { reportRemoveBucket(motoPlain, endpoint: moto) }

        let cases: [(label: String, bucket: String, endpoint: String?, arguments: [String], input: ProcessInput)] = [
            ("file, retention", plain, nil, ["--retain-until", "7y", "--retention-mode", "GOVERNANCE", big], .none),
            ("stream, legal hold", plain, nil, ["--legal-hold"], .pipedFile(big)),
            ("moto multipart", motoPlain, moto, ["--part-size", "5MiB", "--retain-until", "1y", "--retention-mode", "COMPLIANCE", big], .none),
        ]
        for item in cases {
            let endpoint = item.endpoint ?? env.endpoint
            let put = try s3put(["--endpoint-url", endpoint] + item.arguments + ["s3://\(item.bucket)/refused/big.bin"],
                                input: item.input, endpoint: false)
            XCTAssertEqual(put.status, 64, "\(item.label): \(put.summary)")
            XCTAssertEqual(put.out, "", "\(item.label): no record")
            let lines = put.err.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(item.label): one line: \(put.err)")
            XCTAssertTrue(put.err.contains("s3://\(item.bucket) has no Object Lock"), "\(item.label): \(put.err)")
            XCTAssertTrue(put.err.contains("--object-lock-enabled-for-bucket") && put.err.contains("drop the options"),
                          "\(item.label): the fix: \(put.err)")
            XCTAssertEqual(try keys(item.bucket, endpoint: item.endpoint), [], "\(item.label): nothing stored")
        }
        let uploads = try aws(["s3api", "list-multipart-uploads", "--bucket", motoPlain, "--output", "json"], endpoint: moto)
        XCTAssertFalse(uploads.out.contains("UploadId"), "no upload started on moto: \(uploads.out)")
    }

    /// A file:// store has no Object Lock: refused, nothing written.
    func testFileStoreRefusesObjectLock() throws {
        let path = temp.file("a.txt")
        try Data("a\n".utf8).write(to: URL(fileURLWithPath: path))
        let store = temp.file("store")
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        for options in [["--legal-hold"], ["--retain-until", "1y", "--retention-mode", "GOVERNANCE"]] {
            let put = try s3put(options + [path, "file://\(store)/"], endpoint: false)
            XCTAssertEqual(put.status, 64, put.summary)
            XCTAssertTrue(put.err.contains("a file:// store has no Object Lock"), put.summary)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store), [], "nothing written")
        }
    }

    /// Bad dates, periods and modes: exit 64, a message naming the value, nothing sent.
    func testBadValuesAreUsageErrorsNamingTheValue() throws {
        let bucket = try lockedBucket
        let path = temp.file("v.txt")
        try Data("v\n".utf8).write(to: URL(fileURLWithPath: path))
        let governance = ["--retention-mode", "GOVERNANCE"]
        let cases: [(arguments: [String], words: [String])] = [
            (["--retain-until", "18m"] + governance, ["'18m'", "18mo"]),
            (["--retain-until", "0d"] + governance, ["'0d'"]),
            (["--retain-until", "30"] + governance, ["'30'"]),
            (["--retain-until", "7x"] + governance, ["'7x'"]),
            (["--retain-until", "2020-01-01"] + governance, ["'2020-01-01'", "not in the future"]),
            (["--retain-until", "2031-02-30"] + governance, ["'2031-02-30'"]),
            (["--retain-until", "2031-12-31T00:00:00"] + governance, ["'2031-12-31T00:00:00'"]),
            (["--retain-until", "300y"] + governance, ["'300y'", "100 years"]),
            (["--retain-until", "7y", "--retention-mode", "LOOSE"], ["'LOOSE'", "GOVERNANCE or COMPLIANCE"]),
            (["--retain-until", "7y"], ["--retain-until needs --retention-mode"]),
            (["--retention-mode", "COMPLIANCE"], ["--retention-mode needs --retain-until"]),
        ]
        for item in cases {
            let put = try s3put(item.arguments + [path, "s3://\(bucket)/bad/v.txt"])
            XCTAssertEqual(put.status, 64, put.summary)
            for word in item.words {
                XCTAssertTrue(put.err.contains(word), "\(item.arguments): '\(word)' in: \(put.err)")
            }
        }
        XCTAssertEqual(try keys(bucket, prefix: "bad/"), [], "nothing stored")
    }

    // MARK: s3-lifecycle lock

    /// On with no default, on with a default retention, off, and a missing bucket, on both servers.
    func testLifecycleLockTellsWhetherABucketHasObjectLock() throws {
        let moto = try env.requireMoto()
        let plain = try bucket
        let locked = try lockedBucket
        let withDefault = uniqueBucketName("retention-default")
        let motoLocked = uniqueBucketName("retention-moto-locked")
        let motoPlain = uniqueBucketName("retention-moto-plain")
        let configuration = #"{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":30}}}"#
        for (name, endpoint) in [(withDefault, env.endpoint), (motoLocked, moto)] {
            let made = try aws(["s3api", "create-bucket", "--bucket", name, "--object-lock-enabled-for-bucket"], endpoint: endpoint)
            XCTAssertEqual(made.status, 0, made.summary)
        }
        let set = try aws(["s3api", "put-object-lock-configuration", "--bucket", withDefault,
                           "--object-lock-configuration", configuration])
        XCTAssertEqual(set.status, 0, set.summary)
        guard try reportMakeBucket(motoPlain, endpoint: moto) else { return }
        defer { reportRemoveBucket(motoPlain, endpoint: moto) }

        let expected: [(bucket: String, endpoint: String, line: String)] = [
            (locked, env.endpoint, "s3://\(locked): Object Lock on (no default retention)"),
            ("s3://" + withDefault, env.endpoint, "s3://\(withDefault): Object Lock on (default retention GOVERNANCE, 30 days)"),
            (plain, env.endpoint, "s3://\(plain): Object Lock off"),
            (motoLocked, moto, "s3://\(motoLocked): Object Lock on (no default retention)"),
            (motoPlain, moto, "s3://\(motoPlain): Object Lock off"),
        ]
        for item in expected {
            let lock = try reportLifecycle(["lock", item.bucket], endpoint: item.endpoint)
            XCTAssertEqual(lock.status, 0, lock.summary)
            XCTAssertEqual(lock.out, item.line + "\n", lock.summary)
        }
        let missing = try reportLifecycle(["lock", uniqueBucketName("retention-missing")], endpoint: env.endpoint)
        XCTAssertEqual(missing.status, 66, missing.summary)
        XCTAssertTrue(missing.err.contains("does not exist"), missing.summary)
    }
}
