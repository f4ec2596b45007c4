import ArchiveCore
import Foundation
import XCTest

/// The progress line of s3-restore, `s3-verify --deep` and s3-archive to a file: drawn on a terminal (a real
/// pseudo-terminal, made by util-linux's script(1)), never on a pipe or a file; messages and records stay lines of
/// their own; the work's result is the same either way.
final class ProgressTests: EndToEndCase {
    // MARK: s3-archive

    func testArchiveToAFileShowsProgressOnATerminalAndNoneOtherwise() throws {
        let source = temp.file("src/sess-progress")
        try RestoreTree.make(at: source)
        let index = temp.file("a.index.json")
        let onTerminal = try underTerminal([env.tool("s3-archive"), "--index", index, "-o", temp.file("a.tar"), source])
        XCTAssertEqual(onTerminal.status, 0, onTerminal.summary)
        let totals = try IndexFile(path: index).object
        let summary = try XCTUnwrap(summaryLine(onTerminal.out, label: "sess-progress"), "no progress line: \(onTerminal.out.debugDescription)")
        XCTAssertTrue(summary.contains("\(ByteSize.format(totals.int("bytes") ?? -1)) / \(ByteSize.format(totals.int("bytes") ?? -1))"),
                      "the session's file bytes, all written: \(summary)")
        XCTAssertTrue(summary.hasSuffix("files \(totals.int("files") ?? -1)/\(totals.int("files") ?? -1)"), summary)

        // `> FILE` is a file too; a tar piped on shows nothing (its reader draws its own).
        let redirected = try underTerminal([env.tool("s3-archive"), source], then: "> " + shellQuoted(temp.file("b.tar")))
        XCTAssertEqual(redirected.status, 0, redirected.summary)
        XCTAssertNotNil(summaryLine(redirected.out, label: "sess-progress"), "no progress line: \(redirected.out.debugDescription)")
        let piped = try underTerminal([env.tool("s3-archive"), source], then: "| cat > " + shellQuoted(temp.file("c.tar")))
        XCTAssertEqual(piped.status, 0, piped.summary)
        XCTAssertEqual(piped.out, "", "a tar piped on draws nothing on the terminal")

        // Not a terminal: stderr stays empty, and the tar is the same bytes.
        let quiet = try runProcess(env.tool("s3-archive"), ["-o", temp.file("d.tar"), source], environment: s3putEnvironment())
        XCTAssertEqual(quiet.status, 0, quiet.summary)
        XCTAssertEqual(quiet.err, "", "no progress on a pipe")
        let tars = try ["a.tar", "b.tar", "c.tar", "d.tar"].map { try Data(contentsOf: URL(fileURLWithPath: temp.file($0))) }
        XCTAssertEqual(Set(tars).count, 1, "the same tar with and without a progress line")
    }

    // MARK: s3-restore

    func testRestoreShowsBytesAndFilesOnATerminalAndNoneOnAPipe() throws {
        let bucket = try bucket
        let source = temp.file("src/sess-restore")
        try RestoreTree.make(at: source)
        let url = "s3://\(bucket)/progress/sess-restore.tar"
        guard let put = try archiveAndPut(source, to: url) else { return }
        let files = try IndexFile(path: put.index).entries.filter { $0.string("type") == "file" }.count

        // A missing archive after the good one: its message comes on a line of its own, after the summary.
        let missing = "s3://\(bucket)/progress/missing.tar"
        let destination = try makeDirectory("on-terminal")
        let onTerminal = try underTerminal([env.tool("s3-restore"), "--endpoint-url", env.endpoint, "--to", destination,
                                            url, missing])
        XCTAssertEqual(onTerminal.status, 66, "the missing archive: \(onTerminal.summary)")
        assertSameTree(try TreeSnapshot(destination + "/sess-restore"), try TreeSnapshot(source), "restored under a terminal")
        let summary = try XCTUnwrap(summaryLine(onTerminal.out, label: "sess-restore"), "no progress line: \(onTerminal.out.debugDescription)")
        assertAllDone(summary, items: "files", count: files)
        let lines = visibleLines(onTerminal.out)
        let message = try XCTUnwrap(lines.first { $0.contains("missing.tar") }, "\(lines)")
        XCTAssertTrue(message.hasPrefix("s3-restore: "), "the message starts its own line: \(lines)")
        XCTAssertLessThan(lines.firstIndex(of: summary) ?? .max, lines.firstIndex(of: message) ?? -1, "\(lines)")

        let quietDestination = try makeDirectory("on-pipe")
        let quiet = try s3restore(["--to", quietDestination, url])
        XCTAssertEqual(quiet.status, 0, quiet.summary)
        XCTAssertEqual(quiet.err, "", "no progress on a pipe")
        assertSameTree(try TreeSnapshot(quietDestination + "/sess-restore"), try TreeSnapshot(source), "restored")
    }

    func testRestoreOfAPrefixOfObjectsShowsItsFiles() throws {
        let bucket = try bucket
        let sizes = [3 * MiB + 1, 700_000, 0]
        var total = 0
        for (position, size) in sizes.enumerated() {
            let path = temp.file("object\(position).bin")
            try makeRandomFile(path, size: size)
            total += size
            let put = try s3put([path, "s3://\(bucket)/objects/object\(position).bin"])
            XCTAssertEqual(put.status, 0, put.summary)
        }
        let destination = try makeDirectory("objects")
        let onTerminal = try underTerminal([env.tool("s3-restore"), "--endpoint-url", env.endpoint, "--to", destination,
                                            "s3://\(bucket)/objects/"])
        XCTAssertEqual(onTerminal.status, 0, onTerminal.summary)
        let summary = try XCTUnwrap(summaryLine(onTerminal.out, label: "objects"), "no progress line: \(onTerminal.out.debugDescription)")
        XCTAssertTrue(summary.contains("\(ByteSize.format(total)) / \(ByteSize.format(total))"), summary)
        assertAllDone(summary, items: "files", count: sizes.count)
        for position in sizes.indices {
            XCTAssertEqual(try sha256(ofFile: destination + "/object\(position).bin"), try sha256(ofFile: temp.file("object\(position).bin")))
        }
    }

    // MARK: s3-verify

    func testDeepVerifyShowsProgressOnStderrAndLeavesItsRecordsAlone() throws {
        let bucket = try bucket
        let source = temp.file("src/sess-verify")
        try RestoreTree.make(at: source)
        guard let put = try archiveAndPut(source, to: "s3://\(bucket)/verify/sess-verify.tar") else { return }
        let object = temp.file("plain.bin")
        try makeRandomFile(object, size: 2 * MiB + 5)
        let plain = try s3put([object, "s3://\(bucket)/verify/plain.bin"])
        XCTAssertEqual(plain.status, 0, plain.summary)
        let records = temp.file("records.jsonl")
        try (put.line + "\n" + plain.out).write(toFile: records, atomically: true, encoding: .utf8)
        let total = (put.record.int("size") ?? -1) + 2 * MiB + 5
        let expected = ["OK \(put.record["url"] as? String ?? "?")", "OK s3://\(bucket)/verify/plain.bin"]
        let verify = [env.tool("s3-verify"), "--no-catalog", "--endpoint-url", env.endpoint]

        // Records and progress on one terminal: each record is a line of its own, the summary last.
        let shared = try underTerminal(verify + ["--deep", records])
        XCTAssertEqual(shared.status, 0, shared.summary)
        let lines = visibleLines(shared.out)
        XCTAssertEqual(lines.filter { $0.hasPrefix("OK ") }, expected, "\(lines)")
        let summary = try XCTUnwrap(summaryLine(shared.out, label: "s3-verify"), "no progress line: \(shared.out.debugDescription)")
        XCTAssertTrue(summary.contains("\(ByteSize.format(total)) / \(ByteSize.format(total))"), summary)
        assertAllDone(summary, items: "objects", count: 2)

        // Records to a file, progress on the terminal: the file holds the records, byte for byte.
        let output = temp.file("verified.txt")
        let toFile = try underTerminal(verify + ["--deep", records], then: "> " + shellQuoted(output))
        XCTAssertEqual(toFile.status, 0, toFile.summary)
        XCTAssertNotNil(summaryLine(toFile.out, label: "s3-verify"), toFile.out.debugDescription)
        XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), expected.joined(separator: "\n") + "\n")

        // A shallow check reads nothing back: no progress even on a terminal.
        let shallow = try underTerminal(verify + [records])
        XCTAssertEqual(shallow.status, 0, shallow.summary)
        XCTAssertEqual(visibleLines(shallow.out), expected)
        XCTAssertFalse(shallow.out.contains("\u{1b}["), shallow.out.debugDescription)

        let quiet = try s3verify(["--no-catalog", "--deep", records])
        XCTAssertEqual(quiet.status, 0, quiet.summary)
        XCTAssertEqual(quiet.err, "", "no progress on a pipe")
        XCTAssertEqual(quiet.lines, expected)
    }

    // MARK: - A terminal

    /// Runs `arguments` (then `redirection`, shell text) with standard input, output and error on a new
    /// pseudo-terminal, as `script -qfec` makes one; the result's stdout is everything the terminal received.
    private func underTerminal(_ arguments: [String], then redirection: String = "",
                               file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        guard let script = which("script") else {
            XCTFail("script (util-linux) is not on PATH", file: file, line: line)
            throw TestEnvironment.Missing()
        }
        let command = arguments.map(shellQuoted).joined(separator: " ") + " " + redirection
        var environment = s3putEnvironment()
        environment["SHELL"] = "/bin/sh"
        environment["TERM"] = "dumb"
        let result = try runProcess(script, ["-qfec", command, "/dev/null"], environment: environment, timeout: 180)
        assertNoSecret(result, env.secretKey, file: file, line: line)
        XCTAssertFalse(result.timedOut, "\(command) timed out: \(result.summary)", file: file, line: line)
        return result
    }

    private func shellQuoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }

    /// The lines a terminal shows at the end: what follows the last carriage return of each line (a progress line
    /// redraws itself from the start with "\r ESC[K"), the erase sequences taken out.
    private func visibleLines(_ raw: String) -> [String] {
        raw.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in
                let shown = line.split(separator: "\r", omittingEmptySubsequences: false).last ?? ""
                return shown.replacingOccurrences(of: "\u{1b}[K", with: "")
            }
            .filter { !$0.isEmpty }
    }

    /// The summary a finished progress line leaves: its label, the bytes, the rate, the time taken, the items.
    private func summaryLine(_ raw: String, label: String) -> String? {
        visibleLines(raw).first { $0.hasPrefix(label + "  ") && matches($0, " / .*/s  in [0-9]+:[0-9]{2}  [a-z]+ [0-9]+/[0-9]+$") }
    }

    /// Every byte and item counted: "A / A" and "ITEMS N/N".
    private func assertAllDone(_ summary: String, items: String, count: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(summary.hasSuffix("  \(items) \(count)/\(count)"), "\(count) \(items) done: \(summary)", file: file, line: line)
        let fields = summary.components(separatedBy: "  ")
        let bytes = fields.count > 1 ? fields[1].components(separatedBy: " / ") : []
        XCTAssertTrue(bytes.count == 2 && bytes[0] == bytes[1], "all the bytes: \(summary)", file: file, line: line)
    }
}
