import Foundation
import XCTest

/// bin/install: the tools, s3-nightly, the pages and the shipped data go under a prefix, every tool works from
/// there whatever the current directory, `man -M` finds the pages, and --uninstall leaves nothing.
///
/// The executables installed are the debug build the suite already has (`--bin-path $S3A_TEST_BIN`), not a
/// release build: `swift build -c release` would take many minutes here, and what is tested is where the files
/// go and how the tools find their data, the same for either build.
final class InstallTests: EndToEndCase {
    static let tools = ["s3-archive", "s3-put", "s3-etag", "s3-verify", "s3-restore", "s3-report", "s3-lifecycle"]

    private func install(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let result = try runProcess(reportPackageRoot + "/bin/install", arguments, environment: reportEnvironment(),
                                    directory: temp.path, timeout: 120)
        XCTAssertFalse(result.timedOut, result.summary, file: file, line: line)
        return result
    }

    /// Every file and folder under `path`, relative to it.
    private func contents(_ path: String) -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? []).sorted()
    }

    func testInstalledToolsFindTheirDataFromAnywhereAndUninstallLeavesNothing() throws {
        let prefix = temp.file("prefix")
        let installed = try install(["--prefix", prefix, "--bin-path", env.binDirectory])
        XCTAssertEqual(installed.status, 0, installed.summary)
        let files = contents(prefix)
        for tool in Self.tools + ["s3-nightly"] {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "\(prefix)/bin/\(tool)"), "bin/\(tool): \(files)")
        }
        for page in ["man1/s3-put.1", "man1/s3-report.1", "man5/s3-records.5", "man8/s3-nightly.8"] {
            XCTAssertTrue(files.contains("share/man/" + page), "\(page): \(files)")
        }
        for data in ["share/s3-archive/pricing.json", "share/s3-archive/lifecycle/default.json"] {
            XCTAssertTrue(files.contains(data), "\(data): \(files)")
        }

        // From a folder that has nothing of the toolkit, with only the system on PATH.
        let elsewhere = temp.file("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let environment = reportEnvironment(["PATH": "/usr/bin:/bin"])
        func run(_ tool: String, _ arguments: [String]) throws -> ProcessResult {
            try runProcess("\(prefix)/bin/\(tool)", arguments, environment: environment, directory: elsewhere, timeout: 60)
        }
        for tool in Self.tools + ["s3-nightly"] {
            let help = try run(tool, ["--help"])
            XCTAssertEqual(help.status, 0, help.summary)
            XCTAssertTrue(help.out.contains("--"), "\(tool) --help: \(help.out)")
        }

        // The installed pricing.json, not built-in prices: a region only it has.
        let pricing = "\(prefix)/share/s3-archive/pricing.json"
        try reportWrite(pricing, #"{"regions": {"test-region-9": {"STANDARD": 0.5, "DEEP_ARCHIVE": 0.25}}}"#)
        let cost = try run("s3-report", ["cost", "--size", "2GB", "--region", "test-region-9", "--format", "tsv"])
        XCTAssertEqual(cost.status, 0, cost.summary)
        XCTAssertTrue(cost.out.contains("STANDARD\t2000000000\t1.9 GiB\t0.5\t1.00"), cost.out)
        for bad in ["1e30TB", "nanTB", "infGB", "nan", "-1TB"] {
            let refused = try run("s3-report", ["cost", "--size=\(bad)"])
            XCTAssertEqual(refused.status, 64, "\(bad): \(refused.summary)")
            XCTAssertTrue(refused.err.hasPrefix("s3-report: invalid size '\(bad)'"), refused.err)
        }
        let policy = try run("s3-lifecycle", ["check", "default"])
        XCTAssertEqual(policy.status, 0, policy.summary)
        XCTAssertTrue(policy.out.contains("OK"), policy.out)

        // s3-nightly finds the tools beside itself (none is on PATH).
        let root = temp.file("root")
        try reportRandomFile(root + "/2024/2024-01-01_a/d.bin", size: 100)
        let dry = try run("s3-nightly", ["--root", root, "--dest", "s3://bucket/raw/{year}/{session}.tar", "--dry-run",
                                         "--catalog", temp.file("catalog.sqlite"), "--lock", temp.file("lock"),
                                         "--log", temp.file("log")])
        XCTAssertEqual(dry.status, 0, dry.summary)
        XCTAssertTrue(dry.out.contains("would archive 1"), dry.out)

        // The pages, as man (or mandoc, where man is missing) finds them.
        if let man = which("man") {
            let found = try runProcess(man, ["-M", prefix + "/share/man", "-w", "s3-nightly"], environment: environment,
                                       directory: elsewhere)
            XCTAssertEqual(found.status, 0, found.summary)
            XCTAssertEqual(found.out.trimmingCharacters(in: .whitespacesAndNewlines), prefix + "/share/man/man8/s3-nightly.8")
        } else {
            let mandoc = try XCTUnwrap(which("mandoc"), "neither man nor mandoc is installed (bin/setup installs mandoc)")
            let shown = try runProcess(mandoc, ["-T", "ascii", prefix + "/share/man/man8/s3-nightly.8"], environment: environment)
            XCTAssertEqual(shown.status, 0, shown.summary)
            XCTAssertTrue(shown.out.contains("s3-nightly"), shown.out)
        }

        let removed = try install(["--uninstall", "--prefix", prefix])
        XCTAssertEqual(removed.status, 0, removed.summary)
        XCTAssertEqual(contents(prefix), [], "uninstall removes every file and folder install made")
        let again = try install(["--uninstall", "--prefix", prefix])
        XCTAssertEqual(again.status, 66, "nothing installed there any more: \(again.summary)")
    }

    /// --destdir stages the files under DESTDIR/PREFIX (as a package build does); the tools find their data
    /// relative to themselves, so they work from the staging folder too, and uninstall takes the same options.
    func testDestdirStagesUnderItAndUninstallTakesTheSameOptions() throws {
        let destdir = temp.file("stage")
        let installed = try install(["--prefix", "/opt/s3-archive", "--destdir", destdir, "--bin-path", env.binDirectory])
        XCTAssertEqual(installed.status, 0, installed.summary)
        XCTAssertEqual(contents(destdir).filter { !$0.hasPrefix("opt") }, [], "nothing outside DESTDIR/PREFIX")
        let staged = destdir + "/opt/s3-archive"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: staged + "/bin/s3-report"))
        let manifest = try String(contentsOfFile: staged + "/share/s3-archive/install-manifest", encoding: .utf8)
        XCTAssertTrue(manifest.contains("f bin/s3-report\n"), "paths relative to PREFIX: \(manifest)")
        XCTAssertFalse(manifest.contains(destdir), "no DESTDIR in the manifest: \(manifest)")
        let cost = try runProcess(staged + "/bin/s3-report", ["cost", "--size", "1TB", "--region", "eu-central-1", "--format", "tsv"],
                                  environment: reportEnvironment(), directory: temp.path)
        XCTAssertEqual(cost.status, 0, cost.summary)
        XCTAssertTrue(cost.out.contains("eu-central-1") || cost.out.contains("0.0245"), "the shipped prices: \(cost.out)")

        let removed = try install(["--uninstall", "--prefix", "/opt/s3-archive", "--destdir", destdir])
        XCTAssertEqual(removed.status, 0, removed.summary)
        XCTAssertEqual(contents(staged), [], "nothing left")
    }
}
