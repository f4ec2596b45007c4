// s3-put never replaces an object whose bytes differ unless told to (--replace): it refuses with exit 73, one
// line naming the key and both ETags, and leaves the key as it was. The same bytes are skipped. Checked on
// SeaweedFS and moto, with aws-cli as the independent reader.

import Foundation
import XCTest

/// One of the real servers, and a bucket of the test's on it.
struct ServerBucket {
    let name: String
    let endpoint: String
    let bucket: String
}

extension EndToEndCase {
    /// Runs `body` on SeaweedFS (the class's bucket) and on moto (a bucket made for the call, removed after).
    func onBothServers(_ label: String, _ body: (ServerBucket) throws -> Void) throws {
        try body(ServerBucket(name: "SeaweedFS", endpoint: env.endpoint, bucket: try bucket))
        let moto = try env.requireMoto()
        let motoBucket = uniqueBucketName(label)
        let made = try aws(["s3", "mb", "s3://\(motoBucket)"], endpoint: moto)
        XCTAssertEqual(made.status, 0, made.summary)
        defer { _ = try? aws(["s3", "rb", "--force", "s3://\(motoBucket)"], endpoint: moto) }
        try body(ServerBucket(name: "moto", endpoint: moto, bucket: motoBucket))
        let open = try multipartUploads(motoBucket, endpoint: moto)
        XCTAssertEqual(open, [], "multipart uploads left behind on moto")
    }

    /// s3-put against `server`.
    func put(_ server: ServerBucket, _ arguments: [String], input: ProcessInput = .none,
             file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        try s3put(["--endpoint-url", server.endpoint] + arguments, input: input, endpoint: false, file: file, line: line)
    }

    /// The SHA-256 of the object as aws-cli reads it from `server`, or nil when it cannot be read.
    func readBack(_ server: ServerBucket, _ key: String) throws -> String? {
        let path = temp.file("readback-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try aws(["s3api", "get-object", "--bucket", server.bucket, "--key", key, path], endpoint: server.endpoint)
        return result.status == 0 ? try sha256(ofFile: path) : nil
    }

    /// The keys of the open multipart uploads of `bucket` on `endpoint`.
    func multipartUploads(_ bucket: String, endpoint: String) throws -> [String] {
        let result = try aws(["s3api", "list-multipart-uploads", "--bucket", bucket, "--output", "json"], endpoint: endpoint)
        XCTAssertEqual(result.status, 0, result.summary)
        guard !result.stdout.isEmpty, let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any] else {
            return []
        }
        return (object["Uploads"] as? [[String: Any]] ?? []).map { ($0["Key"] as? String) ?? "?" }
    }
}

final class ImmutableTests: EndToEndCase {
    /// A small file and a multipart one, each put over an object with other bytes: refused before a byte
    /// moves, the message names the key and both ETags, the original reads back unchanged.
    func testOtherBytesAreRefusedAndTheOriginalStays() throws {
        let original = temp.file("original.bin"), other = temp.file("other.bin")
        let big = temp.file("big.bin"), otherBig = temp.file("other-big.bin")
        try makeRandomFile(original, size: 1000)
        try makeRandomFile(other, size: 1000)
        try makeRandomFile(big, size: 6 * MiB)
        try makeRandomFile(otherBig, size: 7 * MiB)
        try onBothServers("immutable") { server in
            for (first, second, key) in [(original, other, "frame.bin"), (big, otherBig, "big/frame.bin")] {
                let stored = try put(server, ["--part-size", "5MiB", first, "s3://\(server.bucket)/\(key)"])
                guard let record = singleRecord(stored) else { return }
                let refused = try put(server, ["--part-size", "5MiB", second, "s3://\(server.bucket)/\(key)"])
                XCTAssertEqual(refused.status, 73, "\(server.name): \(refused.summary)")
                XCTAssertEqual(refused.out, "", "\(server.name): no record for a refused input")
                let message = refused.err.trimmingCharacters(in: .newlines)
                XCTAssertFalse(message.contains("\n"), "\(server.name): one line: \(message)")
                let otherETag = second == other ? try md5(ofFile: second) : try etagOf(second, partSize: "5MiB") ?? "?"
                for part in ["s3://\(server.bucket)/\(key)", record.etag, otherETag, "--replace"] {
                    XCTAssertTrue(message.contains(part), "\(server.name): the refusal names \(part): \(message)")
                }
                XCTAssertEqual(try readBack(server, key), try sha256(ofFile: first), "\(server.name): \(key) unchanged")
            }
        }
    }

    /// The same bytes again: skipped (nothing sent), as before conditional writes.
    func testSameBytesAreSkipped() throws {
        let path = temp.file("same.bin")
        try makeRandomFile(path, size: 6 * MiB)
        try onBothServers("immutableskip") { server in
            let url = "s3://\(server.bucket)/same.bin"
            XCTAssertEqual(singleRecord(try put(server, ["--part-size", "5MiB", path, url]))?.skipped, nil)
            let again = singleRecord(try put(server, ["--part-size", "5MiB", path, url]))
            XCTAssertEqual(again?.skipped, true, "\(server.name): the second put is skipped")
            XCTAssertEqual(again?.etag, try etagOf(path, partSize: "5MiB"))
        }
    }

    /// `--replace` overwrites deliberately (one PUT and multipart), and `--force` sends identical bytes again.
    func testReplaceOverwrites() throws {
        let first = temp.file("first.bin"), second = temp.file("second.bin"), big = temp.file("big.bin")
        try makeRandomFile(first, size: 2000)
        try makeRandomFile(second, size: 3000)
        try makeRandomFile(big, size: 11 * MiB)
        try onBothServers("immutablereplace") { server in
            let url = "s3://\(server.bucket)/replaced.bin"
            XCTAssertEqual(try put(server, [first, url]).status, 0)
            let replaced = try put(server, ["--replace", second, url])
            XCTAssertEqual(singleRecord(replaced)?.etag, try md5(ofFile: second), "\(server.name): \(replaced.summary)")
            XCTAssertEqual(try readBack(server, "replaced.bin"), try sha256(ofFile: second))
            let multipart = try put(server, ["--replace", "--part-size", "5MiB", big, url])
            XCTAssertEqual(singleRecord(multipart)?.parts, 3, "\(server.name): \(multipart.summary)")
            XCTAssertEqual(try readBack(server, "replaced.bin"), try sha256(ofFile: big))
            let forced = singleRecord(try put(server, ["--force", "--part-size", "5MiB", big, url]))
            XCTAssertEqual(forced?.skipped, nil, "\(server.name): --force sends identical bytes again")
        }
    }

    /// A stream cannot be compared before it is read: its completion is conditional, the server refuses it,
    /// and s3-put aborts the upload. Same bytes as a stream: skipped, the upload aborted too.
    func testStreamOverOtherBytesIsRefusedWithNoUploadLeft() throws {
        let original = temp.file("original.bin"), other = temp.file("other.bin")
        try makeRandomFile(original, size: 11 * MiB)
        try makeRandomFile(other, size: 12 * MiB)
        try onBothServers("immutablestream") { server in
            let url = "s3://\(server.bucket)/stream.bin"
            guard let stored = singleRecord(try put(server, ["--part-size", "5MiB", original, url])) else { return }
            let refused = try put(server, ["--part-size", "5MiB", url], input: .pipedFile(other))
            XCTAssertEqual(refused.status, 73, "\(server.name): \(refused.summary)")
            XCTAssertTrue(refused.err.contains(stored.etag), "\(server.name): the stored ETag: \(refused.err)")
            let otherETag = try XCTUnwrap(try etagOf(other, partSize: "5MiB"))
            XCTAssertTrue(refused.err.contains(otherETag), "\(server.name): the stream's ETag: \(refused.err)")
            XCTAssertEqual(try multipartUploads(server.bucket, endpoint: server.endpoint), [], "\(server.name): upload aborted")
            XCTAssertEqual(try readBack(server, "stream.bin"), try sha256(ofFile: original), "\(server.name): unchanged")

            let same = singleRecord(try put(server, ["--part-size", "5MiB", url], input: .pipedFile(original)))
            XCTAssertEqual(same?.skipped, true, "\(server.name): the same bytes streamed are skipped")
            XCTAssertEqual(try multipartUploads(server.bucket, endpoint: server.endpoint), [], "\(server.name): upload aborted")
            let small = try put(server, [url], input: .data(Data("short".utf8)))
            XCTAssertEqual(small.status, 73, "\(server.name): a short stream's single PUT is refused too: \(small.summary)")
        }
    }

    /// With several inputs a refusal is one failed input: the run stops there, says which, and the others
    /// already stored stay.
    func testOneRefusalAmongSeveralInputs() throws {
        let bucket = try bucket
        let folder = temp.file("session")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in ["a.bin", "b.bin"] { try makeRandomFile(folder + "/" + name, size: 500) }
        XCTAssertEqual(try s3put(["-r", folder, "s3://\(bucket)/several/"]).status, 0)
        try makeRandomFile(folder + "/b.bin", size: 600)
        let again = try s3put(["-r", folder, "s3://\(bucket)/several/"])
        XCTAssertEqual(again.status, 1, again.summary)
        XCTAssertTrue(again.err.contains("several/session/b.bin") && again.err.contains("--replace"), again.err)
        XCTAssertEqual(records(again).first?.skipped, true, "a.bin, unchanged, is skipped")
    }

    /// A directory store (file://) refuses the same way.
    func testDirectoryStoreRefusesToo() throws {
        let first = temp.file("first.txt"), second = temp.file("second.txt")
        try Data("first\n".utf8).write(to: URL(fileURLWithPath: first))
        try Data("second\n".utf8).write(to: URL(fileURLWithPath: second))
        let url = "file://\(temp.path)/store/kept.txt"
        XCTAssertEqual(try s3put([first, url], endpoint: false).status, 0)
        let refused = try s3put([second, url], endpoint: false)
        XCTAssertEqual(refused.status, 73, refused.summary)
        XCTAssertEqual(try String(contentsOfFile: temp.path + "/store/kept.txt", encoding: .utf8), "first\n")
        let piped = try s3put([url], input: .data(Data("third\n".utf8)), endpoint: false)
        XCTAssertEqual(piped.status, 73, piped.summary)
        XCTAssertEqual(try s3put(["--replace", second, url], endpoint: false).status, 0)
        XCTAssertEqual(try String(contentsOfFile: temp.path + "/store/kept.txt", encoding: .utf8), "second\n")
    }
}
