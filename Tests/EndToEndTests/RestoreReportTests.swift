// The restore report in the layout its readers already parse, label for label: the project of the key layout,
// one line per file in key order, names holding a newline, a carriage return or a backslash escaped as
// sha256sum(1) does.

import Foundation
import XCTest

final class RestoreReportTests: EndToEndCase {
    func testReportLayoutProjectKeyOrderAndEscapedNames() throws {
        let bucket = try bucket
        let source = try makeDirectory("src")
        // In the order they are put, which is not the keys' order.
        // (A backslash is escaped too, but SeaweedFS stores it as a slash.)
        let names = ["z.txt", "line\nbreak.txt", "cr\rname.txt", "a.txt"]
        for (number, name) in names.enumerated() {
            let path = source + "/file\(number)"
            try makeRandomFile(path, size: 100 + number)
            let put = try aws(["s3api", "put-object", "--bucket", bucket, "--key", "project-PRID001/instrument-I/" + name,
                               "--body", path])
            XCTAssertEqual(put.status, 0, "\(name.debugDescription): \(put.summary)")
        }
        let destination = try makeDirectory("dest")
        let prefix = "s3://\(bucket)/project-PRID001/instrument-I/"
        let result = try s3restore(["--to", destination, prefix])
        XCTAssertEqual(result.status, 0, result.summary)
        for (number, name) in names.enumerated() {
            XCTAssertEqual(FileManager.default.contents(atPath: destination + "/" + name),
                           FileManager.default.contents(atPath: source + "/file\(number)"), name.debugDescription)
        }
        guard let report = try onlyReport(in: destination) else { return }
        let lines = report.lines
        XCTAssertEqual(lines.count, 11 + names.count + 7, "one line per file, a newline in a name too:\n\(lines.joined(separator: "\n"))")
        guard lines.count == 11 + names.count + 7 else { return }
        XCTAssertEqual(Array(lines[0...4]), ["S3 Download Status Report", "=========================", "Raw File ID: instrument-I",
                                             "Project ID: PRID001", "S3 Bucket: \(bucket)"])
        XCTAssertTrue(matches(lines[5], "^Timestamp: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC$"), lines[5])
        XCTAssertEqual(Array(lines[6...10]), ["Destination: \(destination)", "Prefix: \(prefix)", "", "Files:", "------"])
        let paths = lines[11..<(11 + names.count)].map { String($0[..<$0.range(of: ": OK - ")!.lowerBound]) }
        XCTAssertEqual(paths, ["a.txt", "\\cr\\rname.txt", "\\line\\nbreak.txt", "z.txt"], "key order; escaped as sha256sum does")
        XCTAssertEqual(Array(lines[(11 + names.count)...]), ["", "Summary:", "--------", "Total files: 4", "Successful: 4",
                                                             "Failed: 0", "Status: SUCCESS"])
    }

    /// A URL that cannot be restored has a report of its own in the same layout, its one line a FAILURE.
    func testFailedURLReportKeepsTheLayout() throws {
        let bucket = try bucket
        let destination = try makeDirectory("dest")
        let url = "s3://\(bucket)/project-P7/backups/S.tar"
        let result = try s3restore(["--to", destination, url])
        XCTAssertEqual(result.status, 66, result.summary)
        guard let report = try onlyReport(in: destination) else { return }
        XCTAssertEqual(report.value("Raw File ID"), "S.tar")
        XCTAssertEqual(report.value("Project ID"), "P7")
        XCTAssertEqual(report.value("Archive"), url)
        XCTAssertEqual(report.fileLines.count, 1)
        XCTAssertTrue(report.fileLines.first?.hasPrefix("S.tar: FAILURE - ") ?? false, "\(report.lines)")
        XCTAssertEqual(report.value("Status"), "COMPLETE FAILURE")
        XCTAssertTrue(result.err.contains(url), result.err)
    }
}
