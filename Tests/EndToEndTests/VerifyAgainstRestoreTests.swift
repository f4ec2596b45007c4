import Foundation
import XCTest

/// `s3-verify --against` a tree s3-restore made: the reports it leaves there are no data of the prefix.
final class VerifyAgainstRestoreTests: EndToEndCase {
    func testReportsOfARestoreAreNotCountedAsFilesMissingFromTheStore() throws {
        let bucket = try bucket
        var source = try makeDirectory("src/run")
        source.removeLast("/run".count)
        try makeRandomFile(source + "/a.raw", size: 2000)
        try makeRandomFile(source + "/run/b.raw", size: 3000)
        XCTAssertEqual(try aws(["s3", "cp", "--recursive", source, "s3://\(bucket)/tree/"]).status, 0)
        let destination = try makeDirectory("dest")
        let restored = try s3restore(["--to", destination, "s3://\(bucket)/tree/"])
        XCTAssertEqual(restored.status, 0, restored.summary)
        XCTAssertEqual(statusReports(in: destination).count, 1)

        let result = try s3verify(["s3://\(bucket)/tree/", "--against", destination])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.lines, ["OK s3://\(bucket)/tree/a.raw", "OK s3://\(bucket)/tree/run/b.raw"])

        // A file of the user's that only looks like a report elsewhere still counts.
        try makeRandomFile(destination + "/_download_status_notes.txt", size: 10)
        let extra = try s3verify(["s3://\(bucket)/tree/", "--against", destination])
        XCTAssertEqual(extra.status, 1, extra.summary)
        XCTAssertTrue(extra.out.contains("FAILED s3://\(bucket)/tree/_download_status_notes.txt: not in the store"), extra.out)
    }
}
