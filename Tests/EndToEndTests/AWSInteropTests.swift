import Foundation
import XCTest

/// What aws-cli uploads (its default 8 MiB parts), s3-etag computes and recognises.
final class AWSInteropTests: EndToEndCase {
    func testETagOfAwsCliMultipartUploadMatches() throws {
        let bucket = try bucket
        let size = 20 * MiB + 4_321  // 3 parts of 8 MiB, the last short
        let path = temp.file("run-17.raw")
        try makeRandomFile(path, size: size)

        let upload = try aws(["s3", "cp", path, "s3://\(bucket)/raw/run-17.raw"])
        XCTAssertEqual(upload.status, 0, upload.summary)
        guard let head = try headObject(bucket, "raw/run-17.raw") else { return XCTFail("aws upload not found") }
        XCTAssertEqual(head.size, size)
        XCTAssertTrue(matches(head.etag, "^[0-9a-f]{32}-3$"), "aws-cli should have uploaded 3 parts: \(head.etag)")

        // The ETag for aws-cli's part size, given explicitly and by default.
        XCTAssertEqual(try etagOf(path, partSize: "8MiB"), head.etag)
        let byDefault = try s3etag([path])
        XCTAssertEqual(byDefault.status, 0, byDefault.summary)
        XCTAssertEqual(byDefault.out, "\(head.etag)  \(path)\n")

        // --match infers the part size.
        let match = try s3etag(["--match", head.etag, path])
        XCTAssertEqual(match.status, 0, match.summary)
        XCTAssertEqual(match.out, "\(path): OK (part size 8 MiB)\n")
        // As S3 reports it, with its quotes, it is still the same ETag.
        let quoted = try s3etag(["--match", "\"\(head.etag)\"", path])
        XCTAssertEqual(quoted.status, 0, quoted.summary)

        // A wrong ETag of the right shape: exit 1, FAILED.
        let wrongHex = String(head.etag.prefix(31)) + (head.etag.dropFirst(31).first == "0" ? "1" : "0")
        let wrong = try s3etag(["--match", wrongHex + "-3", path])
        XCTAssertEqual(wrong.status, 1, wrong.summary)
        XCTAssertEqual(wrong.out, "\(path): FAILED\n")
        // The right digest with the wrong part count cannot match either.
        let wrongCount = try s3etag(["--match", String(head.etag.prefix(32)) + "-4", path])
        XCTAssertEqual(wrongCount.status, 1, wrongCount.summary)
        XCTAssertTrue(wrongCount.out.contains("FAILED"), wrongCount.out)
    }

    /// A small file aws-cli sends in one PUT has the plain MD5 as its ETag, and s3-etag says so.
    func testETagOfAwsCliSinglePutMatches() throws {
        let bucket = try bucket
        let path = temp.file("notes.txt")
        try makeRandomFile(path, size: 100_000)
        let upload = try aws(["s3", "cp", path, "s3://\(bucket)/notes.txt"])
        XCTAssertEqual(upload.status, 0, upload.summary)
        let head = try headObject(bucket, "notes.txt")
        XCTAssertEqual(head?.etag, try md5(ofFile: path))
        XCTAssertEqual(try etagOf(path, partSize: "8MiB"), head?.etag)
        let match = try s3etag(["--match", head?.etag ?? "", path])
        XCTAssertEqual(match.status, 0, match.summary)
        XCTAssertEqual(match.out, "\(path): OK\n")
    }
}
