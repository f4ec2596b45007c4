import Foundation
import XCTest

/// Objects that are one file each (a prefix's, records'): `--include` selects them as it selects archive members,
/// each goes under its key less the prefix (records: less the folder all their keys share), as `aws s3 cp
/// --recursive` places a prefix's objects, and two objects never go into one file.
final class ObjectPlacementTests: EndToEndCase {
    /// Four objects stored by aws-cli under `p/2024/`: two `x.raw` in two folders, a `.fits`, a note.
    private func storeObjects(_ bucket: String, prefix: String) throws -> [String: String] {
        var files: [String: String] = [:]
        for relative in ["a/x.raw", "b/x.raw", "b/y.fits", "notes.txt"] {
            let path = temp.file("src-" + relative.replacingOccurrences(of: "/", with: "-"))
            try makeRandomFile(path, size: 1000 + files.count)
            XCTAssertEqual(try aws(["s3", "cp", path, "s3://\(bucket)/\(prefix)\(relative)"]).status, 0)
            files[relative] = path
        }
        return files
    }

    func testIncludeSelectsAPrefixsObjects() throws {
        let bucket = try bucket
        let files = try storeObjects(bucket, prefix: "inc/2024/")
        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "--include", "*.raw", "s3://\(bucket)/inc/2024/"])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(allPaths(under: destination).filter { !$0.hasPrefix("_download_status_") }, ["a", "a/x.raw", "b", "b/x.raw"])
        XCTAssertEqual(try sha256(ofFile: destination + "/b/x.raw"), try sha256(ofFile: files["b/x.raw"]!))

        // aws-cli places a prefix's objects the same way.
        let peer = try makeDirectory("peer")
        XCTAssertEqual(try aws(["s3", "cp", "--recursive", "--exclude", "*", "--include", "*.raw",
                                "s3://\(bucket)/inc/2024/", peer]).status, 0)
        XCTAssertEqual(allPaths(under: peer), ["a", "a/x.raw", "b", "b/x.raw"])
    }

    /// Records of two objects with one last name go to two files, under their keys less the shared folder;
    /// `--include` selects records too.
    func testRecordsGoUnderTheirKeysLessTheirCommonFolder() throws {
        let bucket = try bucket
        let files = try storeObjects(bucket, prefix: "rec/2024/")
        var records = ""
        for relative in ["a/x.raw", "b/x.raw", "b/y.fits"] {
            let put = try s3put([files[relative]!, "s3://\(bucket)/rec/2024/\(relative)"])
            XCTAssertEqual(put.status, 0, put.summary)
            XCTAssertEqual(singleRecord(put)?.skipped, true, "aws-cli's object is found identical")
            records += put.out
        }
        let recordFile = temp.file("records.jsonl")
        try records.write(toFile: recordFile, atomically: true, encoding: .utf8)

        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "-"], input: .redirectedFile(recordFile))
        XCTAssertEqual(result.status, 0, result.summary)
        for relative in ["a/x.raw", "b/x.raw", "b/y.fits"] {
            XCTAssertEqual(try sha256(ofFile: destination + "/" + relative), try sha256(ofFile: files[relative]!), relative)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/x.raw"))

        let selected = try makeDirectory("selected")
        let only = try s3restore(["--to", selected, "--include", "*.fits", "-"], input: .redirectedFile(recordFile))
        XCTAssertEqual(only.status, 0, only.summary)
        XCTAssertEqual(allPaths(under: selected).filter { !$0.hasPrefix("_download_status_") }, ["b", "b/y.fits"])
    }

    /// Two objects that would still take one path: the first is restored, the second fails with a line naming
    /// both, and nothing is written over the first.
    func testTwoObjectsForOnePathFailTheSecond() throws {
        let bucket = try bucket
        let first = temp.file("first.raw"), second = temp.file("second.raw")
        try makeRandomFile(first, size: 2000)
        try makeRandomFile(second, size: 2000)
        XCTAssertEqual(try aws(["s3", "cp", first, "s3://\(bucket)/c1/x.raw"]).status, 0)
        XCTAssertEqual(try aws(["s3", "cp", second, "s3://\(bucket)/c2/x.raw"]).status, 0)
        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "s3://\(bucket)/c1/x.raw", "s3://\(bucket)/c2/x.raw"])
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertEqual(try sha256(ofFile: destination + "/x.raw"), try sha256(ofFile: first))
        XCTAssertTrue(result.err.split(separator: "\n").contains {
            $0.contains("s3://\(bucket)/c1/x.raw") && $0.contains("s3://\(bucket)/c2/x.raw")
        }, result.err)

        let again = try s3restore(["--to", destination, "s3://\(bucket)/c1/", "s3://\(bucket)/c2/"])
        XCTAssertEqual(again.status, 1, again.summary)
        XCTAssertEqual(try sha256(ofFile: destination + "/x.raw"), try sha256(ofFile: first), "never overwritten")
    }
}
