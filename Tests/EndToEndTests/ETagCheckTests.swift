import Foundation
import XCTest

/// s3-etag as md5sum: a list it prints checks with -c; changes, malformed lines and missing files are reported.
/// No server is involved, but like every end-to-end test these run only under bin/test.
final class ETagCheckTests: EndToEndCase {
    private let names = ["a.fits", "b.raw", "c.log"]
    private let sizes = [17 * MiB + 3, 5 * MiB, 777]  // 4, 3 and 2 parts of 5, 8 and 16 MiB

    /// Writes the three files into the temporary directory and returns the list s3-etag prints for them.
    private func makeFilesAndList(partSize: String = "5MiB") throws -> String {
        for (name, size) in zip(names, sizes) { try makeRandomFile(temp.file(name), size: size) }
        let printed = try s3etag(["--part-size", partSize] + names, directory: temp.path)
        XCTAssertEqual(printed.status, 0, printed.summary)
        XCTAssertEqual(printed.lines.count, 3, printed.out)
        for (line, name) in zip(printed.lines, names) {
            XCTAssertTrue(matches(line, "^[0-9a-f]{32}(-[0-9]+)?  \(NSRegularExpression.escapedPattern(for: name))$"),
                          "not md5sum layout: \(line)")
        }
        let list = temp.file("etags.txt")
        try printed.stdout.write(to: URL(fileURLWithPath: list))
        return list
    }

    func testCheckAListItPrinted() throws {
        let list = try makeFilesAndList()
        let check = try s3etag(["-c", list], directory: temp.path)
        XCTAssertEqual(check.status, 0, check.summary)
        XCTAssertEqual(check.lines, names.map { "\($0): OK" })

        let quiet = try s3etag(["--quiet", "-c", list], directory: temp.path)
        XCTAssertEqual(quiet.status, 0, quiet.summary)
        XCTAssertEqual(quiet.out, "", "--quiet prints nothing for files that are OK")
    }

    /// Whatever part size printed the list, -c infers it (here aws-cli's 8 MiB and s3-put's 16 MiB).
    func testCheckInfersOtherPartSizes() throws {
        for partSize in ["8MiB", "16MiB"] {
            let list = try makeFilesAndList(partSize: partSize)
            let check = try s3etag(["-c", list], directory: temp.path)
            XCTAssertEqual(check.status, 0, "\(partSize): \(check.summary)")
            XCTAssertEqual(check.lines, names.map { "\($0): OK" }, partSize)
        }
    }

    func testCheckReportsAModifiedFile() throws {
        let list = try makeFilesAndList()
        // Same size, one byte changed in the middle of the second part.
        let target = temp.file("a.fits")
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: target))
        try handle.seek(toOffset: UInt64(7 * MiB))
        let old = try XCTUnwrap(handle.readData(ofLength: 1).first)
        try handle.seek(toOffset: UInt64(7 * MiB))
        try handle.write(contentsOf: Data([old ^ 0xff]))
        try handle.close()

        let check = try s3etag(["-c", list], directory: temp.path)
        XCTAssertEqual(check.status, 1, check.summary)
        XCTAssertEqual(check.lines, ["a.fits: FAILED", "b.raw: OK", "c.log: OK"])

        let quiet = try s3etag(["--quiet", "-c", list], directory: temp.path)
        XCTAssertEqual(quiet.status, 1, quiet.summary)
        XCTAssertEqual(quiet.lines, ["a.fits: FAILED"], "--quiet still reports failures")
    }

    func testCheckReportsMalformedLinesWithTheirNumbers() throws {
        let list = try makeFilesAndList()
        var text = try String(contentsOfFile: list, encoding: .utf8)
        text += "this line has no separator\n"            // line 4
        text += "not-an-etag  c.log\n"                      // line 5
        try text.write(toFile: list, atomically: true, encoding: .utf8)

        let check = try s3etag(["-c", list], directory: temp.path)
        XCTAssertEqual(check.status, 1, check.summary)
        XCTAssertEqual(check.lines, names.map { "\($0): OK" }, "the well-formed lines are still checked")
        XCTAssertTrue(matches(check.err, "line 4\\b"), "stderr should give line 4: \(check.err)")
        XCTAssertTrue(matches(check.err, "line 5\\b"), "stderr should give line 5: \(check.err)")
        XCTAssertFalse(check.out.contains("line 4"), "messages go to stderr, not stdout")
    }

    /// s3-etag(1): "If file is a single dash or absent, s3-etag reads from the standard input" — --match included.
    /// A plain MD5 needs no size to check; a multipart ETag's part size can be inferred once the stream ends.
    func testMatchReadsStandardInputThroughAPipe() throws {
        let path = temp.file("piped.bin")
        try makeRandomFile(path, size: 11 * MiB + 3)
        let md5 = try md5(ofFile: path)
        let single = try s3etag(["--match", md5, "-"], input: .pipedFile(path))
        XCTAssertEqual(single.status, 0, "`cat FILE | s3-etag --match MD5 -`: \(single.summary)")
        XCTAssertEqual(single.out, "-: OK\n")

        let multipart = try XCTUnwrap(try etagOf(path, partSize: "5MiB"))
        let inferred = try s3etag(["--match", multipart], input: .pipedFile(path))
        XCTAssertEqual(inferred.status, 0, "`cat FILE | s3-etag --match ETAG-3`: \(inferred.summary)")
        XCTAssertEqual(inferred.out, "-: OK (part size 5 MiB)\n")
    }

    /// The same through a redirection (standard input is then a regular file): this works.
    func testMatchReadsStandardInputRedirectedFromAFile() throws {
        let path = temp.file("redirected.bin")
        try makeRandomFile(path, size: 11 * MiB + 3)
        let multipart = try XCTUnwrap(try etagOf(path, partSize: "5MiB"))
        let result = try s3etag(["--match", multipart], input: .redirectedFile(path))
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.out, "-: OK (part size 5 MiB)\n")
    }

    func testMissingFileOnTheCommandLine() throws {
        _ = try makeFilesAndList()
        let result = try s3etag(["--part-size", "5MiB", "a.fits", "no-such-file", "c.log"], directory: temp.path)
        XCTAssertEqual(result.status, 66, result.summary)
        XCTAssertEqual(result.lines.count, 2, "the other files are still printed: \(result.out)")
        XCTAssertTrue(result.lines.first?.hasSuffix("  a.fits") ?? false, result.out)
        XCTAssertTrue(result.lines.last?.hasSuffix("  c.log") ?? false, result.out)
        XCTAssertTrue(result.err.contains("no-such-file"), "stderr names the missing file: \(result.err)")

        let check = try s3etag(["-c", "no-such-list"], directory: temp.path)
        XCTAssertEqual(check.status, 66, check.summary)
    }
}
