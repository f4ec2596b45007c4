// The man pages keep up with the tools: bin/check-man runs every built executable's --help (and each
// subcommand's), checks that every long option it names is in the tool's page, and lints every page with
// mandoc. It needs the built executables (S3A_TEST_BIN, set by bin/test) and mandoc (bin/setup installs
// it), but no server: it does not use TestEnvironment.require, which asks for the S3 endpoint too.

import Foundation
import XCTest

final class ManPageTests: XCTestCase {
    /// The package root: this file is Tests/EndToEndTests/ManPageTests.swift.
    private static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testEveryOptionIsInItsManPageAndThePagesLintClean() throws {
        guard let bin = ProcessInfo.processInfo.environment["S3A_TEST_BIN"], !bin.isEmpty else {
            XCTFail("S3A_TEST_BIN is not set: it names the directory of the built executables; "
                    + "run bin/test, or S3A_TEST_BIN=\"$(swift build --show-bin-path)\" swift test")
            return
        }
        let script = Self.packageRoot.appendingPathComponent("bin/check-man")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            XCTFail("\(script.path) is missing or not executable")
            return
        }

        let process = Process()
        process.executableURL = script
        process.arguments = [bin]
        process.currentDirectoryURL = Self.packageRoot
        process.standardInput = FileHandle.nullDevice
        // One pipe for both streams, read to its end before waiting: the output stays in order, and a
        // full pipe cannot stall the script.
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)

        XCTAssertEqual(process.terminationReason, .exit, "bin/check-man was killed by a signal:\n\(text)")
        XCTAssertEqual(process.terminationStatus, 0,
                       "bin/check-man \(bin) exited \(process.terminationStatus):\n\(text)")
        XCTAssertTrue(text.contains("check-man: ") && text.contains(" OK"),
                      "bin/check-man did not report success:\n\(text)")
    }
}
