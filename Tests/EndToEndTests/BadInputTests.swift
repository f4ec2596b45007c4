import Foundation
import XCTest

/// Refused credentials, missing things, malformed arguments and an unreachable server: each has its exit status
/// (sysexits), a message on stderr, nothing on stdout, and never a secret anywhere.
final class BadInputTests: EndToEndCase {
    private func smallFile() throws -> String {
        let path = temp.file("small.bin")
        if !FileManager.default.fileExists(atPath: path) { try makeRandomFile(path, size: 2_000) }
        return path
    }

    func testWrongSecretIsRefusedFastWithoutPrintingSecrets() throws {
        let bucket = try bucket
        let wrongSecret = "wrong-secret-\(UUID().uuidString)"
        let source = try smallFile()
        for (how, arguments, input) in [
            ("file", [source, "s3://\(bucket)/wrong-secret.bin"], ProcessInput.none),
            ("stdin", ["s3://\(bucket)/wrong-secret-stream.bin"], ProcessInput.data(Data(repeating: 7, count: 6 * MiB))),
        ] {
            let result = try s3put(["--part-size", "5MiB"] + arguments, input: input,
                                   environment: ["AWS_SECRET_ACCESS_KEY": wrongSecret])
            XCTAssertEqual(result.status, 77, "\(how): \(result.summary)")
            XCTAssertLessThan(result.duration, 10, "\(how): credential errors are not retried")
            XCTAssertTrue(matches(result.err.lowercased(), "signature|credential|access denied"),
                          "\(how): stderr should say why: \(result.err)")
            XCTAssertEqual(result.out, "", "\(how): no record")
            assertNoSecret(result, wrongSecret)
            assertNoSecret(result, env.secretKey)
        }
        XCTAssertNil(try headObject(bucket, "wrong-secret.bin"))
    }

    func testUnknownAccessKeyIsRefused() throws {
        let bucket = try bucket
        let result = try s3put([try smallFile(), "s3://\(bucket)/unknown-key.bin"],
                               environment: ["AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000"])
        XCTAssertEqual(result.status, 77, result.summary)
        XCTAssertLessThan(result.duration, 10)
        XCTAssertEqual(result.out, "")
        XCTAssertFalse(result.err.isEmpty)
    }

    func testMissingBucketIsNamed() throws {
        _ = try bucket  // so that teardown checks this class's bucket too
        let missing = uniqueBucketName("missing")
        for (how, arguments, input) in [
            ("file", [try smallFile(), "s3://\(missing)/k.bin"], ProcessInput.none),
            ("stdin", ["s3://\(missing)/k.bin"], ProcessInput.data(Data(repeating: 1, count: 100_000))),
        ] {
            let result = try s3put(arguments, input: input)
            XCTAssertEqual(result.status, 66, "\(how): \(result.summary)")
            XCTAssertTrue(result.err.contains(missing), "\(how): stderr should name the bucket: \(result.err)")
            XCTAssertEqual(result.out, "", "\(how): nothing on stdout")
        }
        let list = try aws(["s3api", "head-bucket", "--bucket", missing])
        XCTAssertNotEqual(list.status, 0, "s3-put must not create the bucket")
    }

    func testMissingInputFile() throws {
        let bucket = try bucket
        let missing = temp.file("no-such-file.bin")
        let result = try s3put([missing, "s3://\(bucket)/missing.bin"])
        XCTAssertEqual(result.status, 66, result.summary)
        XCTAssertTrue(result.err.contains(missing), "stderr should name the file: \(result.err)")
        XCTAssertEqual(result.out, "")

        // Every input is opened before any byte moves: the file that exists is not uploaded either.
        let present = try smallFile()
        let mixed = try s3put([present, missing, "s3://\(bucket)/mixed/"])
        XCTAssertEqual(mixed.status, 66, mixed.summary)
        XCTAssertEqual(mixed.out, "")
        XCTAssertNil(try headObject(bucket, "mixed/small.bin"), "nothing is uploaded when an input is missing")
    }

    func testMalformedURLsAreUsageErrors() throws {
        let source = try smallFile()
        for url in ["s3:/x", "s3://", "http://x/y", "s3://UPPER/k", "s3://ab/k", "file://relative/path"] {
            let result = try s3put([source, url])
            XCTAssertEqual(result.status, 64, "\(url): \(result.summary)")
            XCTAssertEqual(result.out, "", url)
            XCTAssertFalse(result.err.isEmpty, "\(url): a usage error says why")
        }
    }

    func testMalformedSizesAreUsageErrors() throws {
        let bucket = try bucket
        let source = try smallFile()
        for size in ["8X", "1MiB", "6GiB", "-5MiB", ""] {
            let result = try s3put(["--part-size", size, source, "s3://\(bucket)/bad-size.bin"])
            XCTAssertEqual(result.status, 64, "--part-size '\(size)': \(result.summary)")
            XCTAssertEqual(result.out, "")
        }
        let etag = try s3etag(["--part-size", "8X", source])
        XCTAssertEqual(etag.status, 64, etag.summary)
        XCTAssertNil(try headObject(bucket, "bad-size.bin"))
    }

    func testUnreachableEndpointGivesUpInBoundedTime() throws {
        let result = try s3put(["--endpoint-url", "http://127.0.0.1:1", try smallFile(), "s3://some-bucket/k.bin"],
                               endpoint: false, environment: ["AWS_MAX_ATTEMPTS": "3"], timeout: 60)
        XCTAssertEqual(result.status, 69, result.summary)
        XCTAssertLessThan(result.duration, 30)
        XCTAssertEqual(result.out, "")
        XCTAssertFalse(result.err.isEmpty)
    }
}
