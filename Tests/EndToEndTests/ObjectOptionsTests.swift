import Foundation
import XCTest

/// Options and inputs beyond the basic paths: content types, storage classes (on moto, which keeps them),
/// the multipart threshold, standard input that is a regular file, awkward keys, and bounded memory.
final class ObjectOptionsTests: EndToEndCase {
    func testContentTypeGuessedOrGiven() throws {
        let bucket = try bucket
        let fits = temp.file("frame.fits"), plain = temp.file("blob")
        try makeRandomFile(fits, size: 6 * MiB)
        try makeRandomFile(plain, size: 100)

        let guessed = try s3put(["--part-size", "5MiB", fits, plain, "s3://\(bucket)/ct/"])
        XCTAssertEqual(guessed.status, 0, guessed.summary)
        XCTAssertEqual(try headObjectFields(bucket, "ct/frame.fits")?["ContentType"] as? String, "application/fits",
                       "multipart upload: type from the extension")
        XCTAssertEqual(try headObjectFields(bucket, "ct/blob")?["ContentType"] as? String, "application/octet-stream")

        let given = try s3put(["--content-type", "text/x-test", "--part-size", "5MiB", fits, plain,
                               "s3://\(bucket)/ct-given/"])
        XCTAssertEqual(given.status, 0, given.summary)
        for key in ["ct-given/frame.fits", "ct-given/blob"] {
            XCTAssertEqual(try headObjectFields(bucket, key)?["ContentType"] as? String, "text/x-test", key)
        }
    }

    /// moto keeps storage classes (SeaweedFS does not): single PUT and multipart both carry the class.
    func testStorageClassReachesTheObject() throws {
        let moto = try env.requireMoto()
        let motoBucket = uniqueBucketName("storageclass")
        let made = try aws(["s3", "mb", "s3://\(motoBucket)"], endpoint: moto)
        XCTAssertEqual(made.status, 0, made.summary)
        defer { _ = try? aws(["s3", "rb", "--force", "s3://\(motoBucket)"], endpoint: moto) }
        let small = temp.file("small.bin"), big = temp.file("big.bin")
        try makeRandomFile(small, size: 1_000)
        try makeRandomFile(big, size: 6 * MiB)

        for (storageClass, path) in [("STANDARD_IA", small), ("DEEP_ARCHIVE", big), ("GLACIER", small)] {
            let key = "\(storageClass)/\((path as NSString).lastPathComponent)"
            let result = try s3put(["--endpoint-url", moto, "--storage-class", storageClass, "--part-size", "5MiB",
                                    path, "s3://\(motoBucket)/\(key)"], endpoint: false)
            let record = singleRecord(result)
            XCTAssertEqual(record?.storageClass, storageClass)
            let head = try headObjectFields(motoBucket, key, endpoint: moto)
            XCTAssertEqual(head?["StorageClass"] as? String, storageClass, key)
            XCTAssertEqual((head?["ETag"] as? String)?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")),
                           record?.etag, "\(key): moto's ETag")
        }
        let unknown = try s3put(["--storage-class", "COLD", small, "s3://\(motoBucket)/x"])
        XCTAssertEqual(unknown.status, 64, unknown.summary)
    }

    /// Up to the threshold a file goes in one PUT (a plain MD5 ETag), whatever the part size.
    func testMultipartThreshold() throws {
        let bucket = try bucket
        let path = temp.file("eleven.bin")
        try makeRandomFile(path, size: 11 * MiB)
        let single = try s3put(["--part-size", "5MiB", "--multipart-threshold", "20MiB", path, "s3://\(bucket)/single.bin"])
        let record = singleRecord(single)
        XCTAssertEqual(record?.etag, try md5(ofFile: path))
        XCTAssertEqual(record?.parts, 1)
        XCTAssertEqual(try headObject(bucket, "single.bin")?.etag, try md5(ofFile: path))

        let multi = try s3put(["--part-size", "5MiB", "--multipart-threshold", "10MiB", path, "s3://\(bucket)/multi.bin"])
        XCTAssertEqual(singleRecord(multi)?.parts, 3)
        XCTAssertEqual(try headObject(bucket, "multi.bin")?.etag, try etagOf(path, partSize: "5MiB"))
    }

    /// `s3-put DEST < FILE`: standard input that is a regular file, its size known.
    func testStandardInputRedirectedFromAFile() throws {
        let bucket = try bucket
        let path = temp.file("redirected.bin")
        try makeRandomFile(path, size: 12 * MiB + 1)
        let result = try s3put(["--part-size", "5MiB", "s3://\(bucket)/redirected.bin"], input: .redirectedFile(path))
        let record = singleRecord(result)
        XCTAssertEqual(record?.size, 12 * MiB + 1)
        XCTAssertEqual(record?.etag, try etagOf(path, partSize: "5MiB"))
        XCTAssertEqual(try readBackSHA256(bucket, "redirected.bin"), try sha256(ofFile: path))
    }

    /// `--concurrency 1` (accepted: 1 to 64) sends one part at a time; a multipart upload must still finish.
    /// The timeout is short on purpose: a deadlock here should fail fast, not stall the suite.
    func testConcurrencyOneStillUploadsMultipart() throws {
        let bucket = try bucket
        let path = temp.file("one-at-a-time.bin")
        try makeRandomFile(path, size: 11 * MiB)
        let expected = try etagOf(path, partSize: "5MiB")
        for (how, arguments, input) in [
            ("file", [path, "s3://\(bucket)/concurrency-1-file.bin"], ProcessInput.none),
            ("stdin", ["s3://\(bucket)/concurrency-1-stream.bin"], ProcessInput.pipedFile(path)),
        ] {
            let result = try s3put(["--part-size", "5MiB", "--concurrency", "1"] + arguments, input: input, timeout: 10)
            XCTAssertEqual(result.status, 0, "\(how): \(result.summary)")
            XCTAssertEqual(records(result).first?.etag, expected, how)
        }
    }

    /// Keys that need escaping in the signed request (SigV4 canonical URI), single PUT and multipart.
    func testAwkwardKeys() throws {
        let bucket = try bucket
        let small = temp.file("small.bin"), big = temp.file("big.bin")
        try makeRandomFile(small, size: 3_000)
        try makeRandomFile(big, size: 6 * MiB)
        let keys = ["a+b=c&d.txt", "ünïcødé/ファイル.fits", "tilde~x(1)*!'", "percent%20literal", "semi;colon,comma",
                    "q?uery#hash", "space in/name with spaces", "dollar$at@colon:"]
        var recorded: [String: String] = [:]
        for (index, key) in keys.enumerated() {
            let source = index.isMultiple(of: 2) ? big : small
            let result = try s3put(["--part-size", "5MiB", source, "s3://\(bucket)/\(key)"])
            let record = singleRecord(result)
            XCTAssertEqual(record?.key, key)
            XCTAssertEqual(record?.url, "s3://\(bucket)/\(key)")
            recorded[key] = record?.etag
        }
        // One listing for all: each key stored as given, with the ETag of its record.
        let listing = try aws(["s3api", "list-objects-v2", "--bucket", bucket, "--output", "json"])
        XCTAssertEqual(listing.status, 0, listing.summary)
        let object = try JSONSerialization.jsonObject(with: listing.stdout) as? [String: Any]
        var stored: [String: String] = [:]
        for entry in object?["Contents"] as? [[String: Any]] ?? [] {
            if let key = entry["Key"] as? String, let etag = entry["ETag"] as? String {
                stored[key] = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        for key in keys {
            XCTAssertNotNil(stored[key], "\(key) not stored under its name; stored: \(stored.keys.sorted())")
            XCTAssertEqual(stored[key], recorded[key], "\(key): listed ETag vs record")
        }
        XCTAssertEqual(try readBackSHA256(bucket, keys[1]), try sha256(ofFile: small))
        XCTAssertEqual(try readBackSHA256(bucket, keys[0]), try sha256(ofFile: big))
    }

    /// The part buffers are a bounded pool: a stream five times longer does not need more memory.
    func testMemoryStaysBoundedOnALongStream() throws {
        let bucket = try bucket
        let short = temp.file("short.bin"), long = temp.file("long.bin")
        try makeRandomFile(short, size: 15 * MiB)
        try makeRandomFile(long, size: 75 * MiB)
        let shortRSS = try peakMemory(["--part-size", "5MiB", "--concurrency", "2", "s3://\(bucket)/rss-short"], short)
        let longRSS = try peakMemory(["--part-size", "5MiB", "--concurrency", "2", "s3://\(bucket)/rss-long"], long)
        // Unbounded buffering would add the 60 MiB difference; a bounded pool adds nothing but noise.
        XCTAssertLessThan(longRSS - shortRSS, 25 * MiB,
                          "peak RSS \(shortRSS >> 20) MiB for 15 MiB, \(longRSS >> 20) MiB for 75 MiB")
        XCTAssertEqual(try headObject(bucket, "rss-long")?.size, 75 * MiB)
    }

    /// Peak resident memory of s3-put, in bytes, measured by a python3 parent (its only child).
    private func peakMemory(_ arguments: [String], _ streamed: String,
                            file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        guard let python = which("python3") else { XCTFail("python3 is not on PATH"); return 0 }
        let report = temp.file("rss-\(UUID().uuidString)")
        let script = """
            import resource, subprocess, sys
            rc = subprocess.call(sys.argv[2:])
            open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
            sys.exit(rc)
            """
        let result = try runProcess(python, ["-c", script, report, env.tool("s3-put"), "--endpoint-url", env.endpoint]
                                        + arguments, input: .pipedFile(streamed),
                                    environment: s3putEnvironment(), timeout: 120)
        XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
        let kib = Int((try? String(contentsOfFile: report, encoding: .utf8)) ?? "") ?? 0
        XCTAssertGreaterThan(kib, 0, "no memory report", file: file, line: line)
        return kib * 1024
    }
}
