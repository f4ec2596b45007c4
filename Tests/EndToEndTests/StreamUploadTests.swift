import Foundation
import XCTest

/// A long stream on standard input goes up as a parallel multipart upload, and comes back byte for byte.
final class StreamUploadTests: EndToEndCase {
    /// ≥ 100 MiB of random data through a pipe (a stream of unknown length), in 16 MiB parts: 7 parts, the last
    /// one short. aws-cli reads it back identical, and head-object agrees with the record.
    func testHundredMiBStreamFromStdinRoundTrips() throws {
        let bucket = try bucket
        let size = 100 * MiB + 123_457
        let partSize = 16 * MiB
        let source = temp.file("stream.bin")
        try makeRandomFile(source, size: size)
        let sourceHash = try sha256(ofFile: source)

        let key = "streams/2024/session.tar"
        let result = try s3put(["--part-size", "16MiB", "s3://\(bucket)/\(key)"], input: .pipedFile(source))
        guard let record = singleRecord(result) else { return }

        let parts = expectedPartCount(size: size, partSize: partSize)
        XCTAssertEqual(parts, 7)
        XCTAssertEqual(record.url, "s3://\(bucket)/\(key)")
        XCTAssertEqual(record.bucket, bucket)
        XCTAssertEqual(record.key, key)
        XCTAssertEqual(record.size, size)
        XCTAssertEqual(record.partSize, partSize)
        XCTAssertEqual(record.parts, parts)
        XCTAssertTrue(matches(record.etag, "^[0-9a-f]{32}-\(parts)$"), "record ETag \(record.etag) is not …-\(parts)")

        // The raw JSON has exactly the documented names (not just something our decoder tolerates).
        let raw = try JSONSerialization.jsonObject(with: Data(result.lines[0].utf8)) as? [String: Any]
        for field in ["url", "bucket", "key", "size", "etag", "part_size", "parts"] {
            XCTAssertNotNil(raw?[field], "record lacks \(field): \(result.lines[0])")
        }

        let head = try headObject(bucket, key)
        XCTAssertEqual(head?.etag, record.etag, "head-object ETag")
        XCTAssertEqual(head?.size, size, "head-object size")

        // The local half agrees: s3-etag of the same bytes, same part size.
        XCTAssertEqual(try etagOf(source, partSize: "16MiB"), record.etag)

        XCTAssertEqual(try readBackSHA256(bucket, key), sourceHash, "bytes read back by aws s3 cp differ")
    }
}
