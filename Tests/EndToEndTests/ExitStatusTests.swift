import Foundation
import XCTest

/// Failures no part of the toolkit describes, and output that cannot be written: each ends with its sysexits
/// status and one line on stderr, never a crash and never 1 ("a check failed").
final class ExitStatusTests: EndToEndCase {
    /// Runs `tool` with its standard output on /dev/full (every write fails with ENOSPC), through the shell:
    /// the runner's own stdout redirection would create the file it is given.
    private func runToFullDisk(_ tool: String, _ arguments: [String], environment: [String: String]) throws -> ProcessResult {
        try runProcess("/bin/sh", ["-c", "exec \"$0\" \"$@\" > /dev/full", env.tool(tool)] + arguments,
                       environment: environment, timeout: 120)
    }

    private func assertOneLine(_ result: ProcessResult, naming words: [String], file: StaticString = #filePath, line: UInt = #line) {
        let lines = result.err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line on stderr: \(result.summary)", file: file, line: line)
        for word in words {
            XCTAssertTrue(result.err.contains(word), "stderr should say \(word): \(result.summary)", file: file, line: line)
        }
    }

    func testETagsToAFullDiskExit74() throws {
        let path = temp.file("small.bin")
        try makeRandomFile(path, size: 1_000)
        let result = try runToFullDisk("s3-etag", [path], environment: env.processEnvironment())
        XCTAssertEqual(result.status, 74, result.summary)
        assertOneLine(result, naming: ["s3-etag:", "standard output", "No space left on device"])
    }

    /// An OpenSSL configured without its default provider refuses MD5 and SHA-256: every tool says so in one
    /// line and exits 70 before any work, rather than trapping at the first hash.
    func testOpenSSLRefusingDigestsExits70BeforeAnyWork() throws {
        let configuration = temp.file("openssl-base-only.cnf")
        try Data("""
            openssl_conf = openssl_init
            [openssl_init]
            providers = provider_sect
            [provider_sect]
            base = base_sect
            [base_sect]
            activate = 1

            """.utf8).write(to: URL(fileURLWithPath: configuration))
        let path = temp.file("small.bin")
        try makeRandomFile(path, size: 1_000)
        let environment = env.processEnvironment(["OPENSSL_CONF": configuration])
        for (tool, arguments) in [("s3-etag", [path]), ("s3-put", ["--no-catalog", path, "file://\(temp.path)/refused/x"])] {
            let result = try runProcess(env.tool(tool), arguments, environment: environment)
            XCTAssertEqual(result.status, 70, "\(tool): \(result.summary)")
            assertOneLine(result, naming: ["\(tool):", "OpenSSL refuses MD5", "OPENSSL_CONF"])
            XCTAssertEqual(result.out, "", tool)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp.file("refused/x")), "nothing stored")
    }

    /// The object is stored and in the catalog: only its record is lost, and the status says so.
    func testRecordOfAStoredObjectToAFullDiskExits74() throws {
        let bucket = try bucket
        let path = temp.file("stored.bin")
        try makeRandomFile(path, size: 10_000)
        let result = try runToFullDisk("s3-put", ["--endpoint-url", env.endpoint, path, "s3://\(bucket)/full-disk.bin"],
                                       environment: s3putEnvironment())
        XCTAssertEqual(result.status, 74, result.summary)
        assertOneLine(result, naming: ["s3-put:", "standard output", "No space left on device"])
        XCTAssertEqual(try headObject(bucket, "full-disk.bin")?.etag, try md5(ofFile: path), "the upload itself completes")
    }

    /// A catalog whose `objects` table is gone makes GRDB throw its own error: internal (70), named in one line,
    /// whether one file failed or one of several.
    func testDatabaseErrorExits70WithOneLine() throws {
        let catalog = temp.file("broken.sqlite")
        let environment = env.processEnvironment()
        let first = try runProcess(env.tool("s3-report"), ["status", "--catalog", catalog], environment: environment)
        XCTAssertEqual(first.status, 66, "no catalog yet: \(first.summary)")
        let created = try runProcess(env.tool("s3-put"), ["--catalog", catalog, "-", "file://\(temp.path)/x"],
                                     input: .data(Data("x".utf8)), environment: environment)
        XCTAssertEqual(created.status, 0, created.summary)
        let drop = try runProcess("/usr/bin/env", ["python3", "-c",
                                  "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('DROP TABLE objects'); c.commit()",
                                  catalog], environment: environment)
        XCTAssertEqual(drop.status, 0, drop.summary)

        // `cost` reads the objects table itself (`status` reads the counts kept beside it).
        let result = try runProcess(env.tool("s3-report"), ["cost", "--catalog", catalog], environment: environment)
        XCTAssertEqual(result.status, 70, result.summary)
        assertOneLine(result, naming: ["s3-report:", "internal error", "no such table: objects"])
        XCTAssertEqual(result.out, "")

        // Several files: the failure stops the run as internal too, not as "a check failed" (1).
        let second = temp.file("second.bin")
        try makeRandomFile(second, size: 100)
        let several = try runProcess(env.tool("s3-put"), ["--catalog", catalog, second, second, "file://\(temp.path)/many/"],
                                     environment: environment)
        XCTAssertEqual(several.status, 70, several.summary)
        assertOneLine(several, naming: ["s3-put:", "no such table: objects", "stopped: 0 of 2"])
    }
}
