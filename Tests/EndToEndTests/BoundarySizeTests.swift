import Foundation
import XCTest

/// The sizes around the part size, where single PUT turns into multipart, through standard input (a pipe,
/// length unknown) and through a file argument (length known): the record, head-object and s3-etag agree on
/// the ETag, and aws-cli reads the same bytes back.
final class BoundarySizeTests: EndToEndCase {
    func testEmpty() throws { try checkBoundary(size: 0, parts: nil) }
    func testOneByte() throws { try checkBoundary(size: 1, parts: nil) }
    func testExactlyOnePart() throws { try checkBoundary(size: 5 * MiB, parts: nil) }
    func testOneByteOverAPart() throws { try checkBoundary(size: 5 * MiB + 1, parts: 2) }
    func testExactlyTwoParts() throws { try checkBoundary(size: 10 * MiB, parts: 2) }

    /// `parts` nil: a single-part ETag (a plain MD5, no -N); else the -N suffix expected.
    private func checkBoundary(size: Int, parts: Int?, file: StaticString = #filePath, line: UInt = #line) throws {
        let bucket = try bucket
        let source = temp.file("data-\(size).bin")
        try makeRandomFile(source, size: size)
        let sourceHash = try sha256(ofFile: source)
        let local = try etagOf(source, partSize: "5MiB", file: file, line: line)

        // s3-etag agrees with itself when the same bytes come as a stream.
        let streamed = try s3etag(["--part-size", "5MiB", "-"], input: .pipedFile(source), file: file, line: line)
        XCTAssertEqual(streamed.status, 0, streamed.summary, file: file, line: line)
        XCTAssertEqual(streamed.out, "\(local ?? "?")  -\n", "s3-etag of stdin", file: file, line: line)

        if let parts {
            XCTAssertTrue(matches(local ?? "", "^[0-9a-f]{32}-\(parts)$"),
                          "s3-etag of \(size) bytes in 5 MiB parts: \(local ?? "nil")", file: file, line: line)
        } else {
            XCTAssertEqual(local, try md5(ofFile: source), "a single-part ETag is the MD5", file: file, line: line)
        }

        let prefix = "size-\(size)/"
        for (how, input, arguments) in [
            ("stdin", ProcessInput.pipedFile(source), ["s3://\(bucket)/\(prefix)from-stdin"]),
            ("file", ProcessInput.none, [source, "s3://\(bucket)/\(prefix)from-file"]),
        ] {
            let key = prefix + (how == "stdin" ? "from-stdin" : "from-file")
            let result = try s3put(["--part-size", "5MiB"] + arguments, input: input, file: file, line: line)
            guard let record = singleRecord(result, file: file, line: line) else { continue }
            XCTAssertEqual(record.key, key, "\(how): key", file: file, line: line)
            XCTAssertEqual(record.size, size, "\(how): record size", file: file, line: line)
            XCTAssertEqual(record.etag, local, "\(how): record ETag vs s3-etag", file: file, line: line)
            XCTAssertEqual(record.parts, parts ?? 1, "\(how): record parts", file: file, line: line)
            if parts != nil {
                XCTAssertEqual(record.partSize, 5 * MiB, "\(how): record part_size", file: file, line: line)
            }
            let head = try headObject(bucket, key, file: file, line: line)
            XCTAssertEqual(head?.etag, record.etag, "\(how): head-object ETag vs record", file: file, line: line)
            XCTAssertEqual(head?.size, size, "\(how): head-object size", file: file, line: line)
        }

        // Both objects back in one aws-cli call, each compared with the source.
        let back = temp.file("back-\(size)")
        let copy = try aws(["s3", "cp", "--recursive", "--quiet", "s3://\(bucket)/\(prefix)", back])
        XCTAssertEqual(copy.status, 0, copy.summary, file: file, line: line)
        for name in ["from-stdin", "from-file"] {
            let path = back + "/" + name
            guard FileManager.default.fileExists(atPath: path) else {
                XCTFail("\(prefix)\(name) was not read back", file: file, line: line)
                continue
            }
            XCTAssertEqual(try sha256(ofFile: path), sourceHash, "\(name): bytes read back differ", file: file, line: line)
        }
    }
}
