import Foundation
import XCTest

/// Several files to a prefix: each keeps its base name, one record each, in command-line order.
final class PrefixUploadTests: EndToEndCase {
    func testSeveralFilesToAPrefixKeepTheirNames() throws {
        let bucket = try bucket
        let sources = [("frame-001.fits", 300_000), ("frame 002.fits", 6 * MiB + 17), ("log.txt", 0)]
        let directory = temp.file("session")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var paths: [String] = []
        for (name, size) in sources {
            let path = directory + "/" + name
            try makeRandomFile(path, size: size)
            paths.append(path)
        }

        let result = try s3put(["--part-size", "5MiB"] + paths + ["s3://\(bucket)/raw/2024/run-17/"])
        XCTAssertEqual(result.status, 0, result.summary)
        let all = records(result)
        XCTAssertEqual(all.map(\.key), sources.map { "raw/2024/run-17/\($0.0)" }, "one record per file, in order")
        XCTAssertEqual(all.map(\.url), sources.map { "s3://\(bucket)/raw/2024/run-17/\($0.0)" })
        XCTAssertEqual(all.map(\.size), sources.map(\.1))

        for (record, path) in zip(all, paths) {
            XCTAssertEqual(record.bucket, bucket)
            XCTAssertEqual(record.etag, try etagOf(path, partSize: "5MiB"), "\(record.key): record ETag")
            let head = try headObject(bucket, record.key)
            XCTAssertEqual(head?.etag, record.etag, "\(record.key): head-object ETag")
            XCTAssertEqual(head?.size, record.size, "\(record.key): head-object size")
        }
        XCTAssertEqual(all.count == 3 ? all[1].parts : nil, 2, "the 6 MiB file goes up in two 5 MiB parts")

        let back = temp.file("back")
        let copy = try aws(["s3", "cp", "--recursive", "--quiet", "s3://\(bucket)/raw/2024/run-17/", back])
        XCTAssertEqual(copy.status, 0, copy.summary)
        let listed = try FileManager.default.contentsOfDirectory(atPath: back).sorted()
        XCTAssertEqual(listed, sources.map(\.0).sorted(), "exactly the files, under their own names")
        for (name, _) in sources where listed.contains(name) {
            XCTAssertEqual(try sha256(ofFile: back + "/" + name), try sha256(ofFile: directory + "/" + name), name)
        }
    }

    /// A lone file to a prefix also keeps its name.
    func testOneFileToAPrefixKeepsItsName() throws {
        let bucket = try bucket
        let path = temp.file("single.dat")
        try makeRandomFile(path, size: 1000)
        let result = try s3put([path, "s3://\(bucket)/one/"])
        XCTAssertEqual(singleRecord(result)?.key, "one/single.dat")
        XCTAssertEqual(try headObject(bucket, "one/single.dat")?.size, 1000)
    }

    func testSeveralFilesToAKeyIsAUsageError() throws {
        let bucket = try bucket
        let a = temp.file("a.bin"), b = temp.file("b.bin")
        try makeRandomFile(a, size: 10)
        try makeRandomFile(b, size: 10)
        let result = try s3put([a, b, "s3://\(bucket)/key-without-slash"])
        XCTAssertEqual(result.status, 64, result.summary)
        XCTAssertEqual(result.out, "", "no record for a usage error")
        XCTAssertFalse(result.err.isEmpty, "a usage error says why")
        XCTAssertNil(try headObject(bucket, "key-without-slash"), "nothing may be stored")
    }

    /// Standard input has no name to append to a prefix.
    func testStandardInputToAPrefixIsAUsageError() throws {
        let bucket = try bucket
        let result = try s3put(["s3://\(bucket)/stdin-prefix/"], input: .data(Data("hello\n".utf8)))
        XCTAssertEqual(result.status, 64, result.summary)
        XCTAssertEqual(result.out, "")
    }
}
