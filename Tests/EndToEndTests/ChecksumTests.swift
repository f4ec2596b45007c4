import Foundation
import XCTest

/// Full-object CRC64NVME end to end, on SeaweedFS and moto: what s3-put records is what awscrt computes of the
/// input, and what aws-cli's `head-object --checksum-mode ENABLED` reports, for a single PUT, a multipart file
/// and a multipart stream.
final class ChecksumTests: EndToEndCase {
    /// The servers: SeaweedFS (this class's bucket) and moto (a bucket made here).
    func servers() throws -> [(endpoint: String, bucket: String)] {
        let moto = try env.requireMoto()
        let motoBucket = uniqueBucketName("checksum")
        let made = try aws(["s3", "mb", "s3://\(motoBucket)"], endpoint: moto)
        XCTAssertEqual(made.status, 0, made.summary)
        addTeardownBlock { [self] in _ = try? aws(["s3", "rb", "--force", "s3://\(motoBucket)"], endpoint: moto) }
        return [(env.endpoint, try bucket), (moto, motoBucket)]
    }

    /// The checksum aws-cli (with awscrt) reads from the server: the object's, FULL_OBJECT.
    func storedChecksum(_ bucket: String, _ key: String, endpoint: String) throws -> (value: String?, type: String?) {
        let result = try aws(["s3api", "head-object", "--checksum-mode", "ENABLED", "--bucket", bucket, "--key", key,
                              "--output", "json"], endpoint: endpoint)
        XCTAssertEqual(result.status, 0, result.summary)
        let head = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        return (head?["ChecksumCRC64NVME"] as? String, head?["ChecksumType"] as? String)
    }

    func recordChecksum(_ result: ProcessResult) -> String? {
        XCTAssertEqual(result.status, 0, result.summary)
        guard let line = result.lines.first,
              let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            XCTFail("no record: \(result.summary)")
            return nil
        }
        return record["checksum_crc64nvme"] as? String
    }

    func testSinglePutMultipartFileAndStreamKeepTheWholeObjectsChecksum() throws {
        let small = temp.file("small.bin"), big = temp.file("big.bin"), stream = temp.file("stream.bin")
        try makeRandomFile(small, size: 1_234_567)
        try makeRandomFile(big, size: 12 * MiB + 4_321)
        try makeRandomFile(stream, size: 11 * MiB + 77)
        for (endpoint, bucket) in try servers() {
            for (path, piped) in [(small, false), (big, false), (stream, true)] {
                let key = "crc/\((path as NSString).lastPathComponent)"
                let arguments = ["--endpoint-url", endpoint, "--part-size", "5MiB"]
                    + (piped ? [] : [path]) + ["s3://\(bucket)/\(key)"]
                let result = try s3put(arguments, input: piped ? .pipedFile(path) : .none, endpoint: false)
                let expected = try awscrtChecksum(path)
                XCTAssertNotNil(expected)
                XCTAssertEqual(recordChecksum(result), expected, "\(endpoint) \(key): the record")
                let stored = try storedChecksum(bucket, key, endpoint: endpoint)
                XCTAssertEqual(stored.value, expected, "\(endpoint) \(key): head-object --checksum-mode ENABLED")
                if path != small { XCTAssertEqual(stored.type, "FULL_OBJECT", "\(endpoint) \(key)") }
            }
        }
    }

    func testChecksumNoneSendsNone() throws {
        let bucket = try bucket
        let path = temp.file("plain.bin")
        try makeRandomFile(path, size: 6 * MiB)
        let result = try s3put(["--checksum", "none", "--part-size", "5MiB", path, "s3://\(bucket)/plain.bin"])
        XCTAssertNil(recordChecksum(result))
        let unknown = try s3put(["--checksum", "md4", path, "s3://\(bucket)/other.bin"])
        XCTAssertEqual(unknown.status, 64, unknown.summary)
    }

    /// s3-archive records the tar's CRC64NVME in the index; s3-put stores the archive with it, S3 returns it on a
    /// HEAD, and a shallow s3-verify compares it with the index: an index whose CRC differs is caught without
    /// reading the archive back.
    func testArchiveIndexChecksumIsWhatS3KeepsAndShallowVerifyComparesIt() throws {
        let session = temp.file("src/crc-session")
        try RestoreTree.make(at: session, bigSizes: [6 * MiB + 5, 300_000])
        for (endpoint, bucket) in try servers() {
            let url = "s3://\(bucket)/archives/crc-session.tar"
            guard let archived = try archiveAndPut(session, to: url, endpoint: endpoint, extra: ["--part-size", "5MiB"]) else { continue }
            let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: archived.index))) as? [String: Any]
            let indexed = (index?["archive"] as? [String: Any])?["crc64nvme"] as? String
            XCTAssertNotNil(indexed, "the index has no archive.crc64nvme")
            XCTAssertEqual(archived.record["checksum_crc64nvme"] as? String, indexed, endpoint)
            XCTAssertEqual(try storedChecksum(bucket, "archives/crc-session.tar", endpoint: endpoint).value, indexed, endpoint)
            let tar = temp.file("readback.tar")
            let copied = try aws(["s3", "cp", url, tar], endpoint: endpoint)
            XCTAssertEqual(copied.status, 0, copied.summary)
            XCTAssertEqual(try awscrtChecksum(tar), indexed, "\(endpoint): awscrt of the tar read back")

            let shallow = try s3verify([], endpoint: endpoint, input: .data(Data((archived.line + "\n").utf8)))
            XCTAssertEqual(shallow.status, 0, shallow.summary)
            XCTAssertEqual(shallow.lines, ["OK \(url)"])

            // The stored index altered in its CRC alone: shallow verify reads the index, not the archive, and fails.
            var altered = try XCTUnwrap(index)
            var totals = try XCTUnwrap(altered["archive"] as? [String: Any])
            totals["crc64nvme"] = "AAAAAAAAAAA="
            altered["archive"] = totals
            let alteredPath = temp.file("altered.index.json")
            try JSONSerialization.data(withJSONObject: altered).write(to: URL(fileURLWithPath: alteredPath))
            let replaced = try aws(["s3", "cp", alteredPath, url + ".index.json"], endpoint: endpoint)
            XCTAssertEqual(replaced.status, 0, replaced.summary)
            let caught = try s3verify([], endpoint: endpoint, input: .data(Data((archived.line + "\n").utf8)))
            XCTAssertEqual(caught.status, 1, caught.summary)
            XCTAssertTrue(caught.out.hasPrefix("FAILED \(url):") && caught.out.contains("the index says AAAAAAAAAAA="), caught.summary)

            // s3-put --index refuses a stream whose CRC64NVME is not the index's (same size and SHA-256).
            let refused = try s3put(["--endpoint-url", endpoint, "--index", alteredPath, tar, "s3://\(bucket)/archives/other.tar"],
                                    endpoint: false)
            XCTAssertEqual(refused.status, 1, refused.summary)
            XCTAssertTrue(refused.err.contains("CRC64NVME AAAAAAAAAAA="), refused.summary)
            XCTAssertNil(try headObjectFields(bucket, "archives/other.tar", endpoint: endpoint))
        }
    }

    /// Indexes written before the tar's SHA-256 was dropped (`archive.sha256`, no `crc64nvme`) still work: s3-put
    /// checks a file against their SHA-256, s3-verify --deep too, and the same archive put again with a new index
    /// (CRC only) is found the same through the CRC64NVME the store keeps, so no second generation is stored.
    func testIndexWithTheTarsSHA256AndNoCRCStillWorks() throws {
        let bucket = try bucket
        let session = temp.file("src/old-index-session")
        try RestoreTree.make(at: session, bigSizes: [6 * MiB + 5, 300_000])
        let tar = temp.file("old.tar"), newIndex = temp.file("new.index.json"), oldIndex = temp.file("old.index.json")
        let made = try runProcess(env.tool("s3-archive"), ["--index", newIndex, "-o", tar, session],
                                  environment: s3putEnvironment(), timeout: 120)
        XCTAssertEqual(made.status, 0, made.summary)
        var index = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: newIndex))) as? [String: Any])
        var totals = try XCTUnwrap(index["archive"] as? [String: Any])
        let sha = try sha256(ofFile: tar)
        totals["crc64nvme"] = nil
        totals["sha256"] = sha
        index["archive"] = totals
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: oldIndex))

        let url = "s3://\(bucket)/compat/old-index-session.tar"
        let put = try s3put(["--index", oldIndex, "--part-size", "5MiB", tar, url])
        XCTAssertEqual(put.status, 0, put.summary)
        let record = try XCTUnwrap(put.lines.first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        XCTAssertEqual(record["sha256"] as? String, sha, "the old index's SHA-256 goes in the record")

        let deep = try s3verify(["--deep"], input: .data(Data((put.lines[0] + "\n").utf8)))
        XCTAssertEqual(deep.status, 0, deep.summary)
        XCTAssertEqual(deep.lines, ["OK \(url)"])

        let again = try s3put(["--index", newIndex, "--part-size", "5MiB", "-", url], input: .pipedFile(tar))
        XCTAssertEqual(again.status, 0, again.summary)
        XCTAssertTrue(again.out.contains("\"skipped\":true") || again.out.contains("\"skipped\" : true"),
                      "the latest generation holds these bytes (its index: SHA-256 only; the store: their CRC): \(again.summary)")
        XCTAssertNil(try headObjectFields(bucket, "compat/old-index-session.gen2.tar"), "no second generation of the same bytes")

        // Another archive's old index: its SHA-256 still refuses the bytes.
        try Data("another".utf8).write(to: URL(fileURLWithPath: session + "/extra.txt"))
        let other = temp.file("other.tar")
        XCTAssertEqual(try runProcess(env.tool("s3-archive"), ["-o", other, session], environment: s3putEnvironment()).status, 0)
        totals["size"] = try FileManager.default.attributesOfItem(atPath: other)[.size] as? Int
        index["archive"] = totals
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: oldIndex))
        let refused = try s3put(["--index", oldIndex, other, "s3://\(bucket)/compat/other.tar"])
        XCTAssertEqual(refused.status, 1, refused.summary)
        XCTAssertTrue(refused.err.contains("SHA-256 \(sha)"), refused.summary)
        XCTAssertNil(try headObjectFields(bucket, "compat/other.tar"))
    }
}
