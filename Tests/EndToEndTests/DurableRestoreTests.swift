import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// s3-restore says OK only for bytes that reached the disk: a full disk fails the file that did not fit (and no
/// other), leaves no temporary file, and a rerun with space heals; an interrupted run removes its temporaries.
/// Archives and objects on SeaweedFS; a small tmpfs (mounted here: the tests run as root) is the full disk.
final class DurableRestoreTests: EndToEndCase {
    /// Mounts a tmpfs of `size` (mount(8) syntax: "2m") at a new folder; nil, with the test skipped, when this
    /// sandbox does not allow it.
    private func mountSmallDisk(_ name: String, size: String) throws -> String {
        let point = try makeDirectory(name)
        let mounted = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", point],
                                     environment: env.processEnvironment())
        guard mounted.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (\(mounted.err)): the full-disk path is not tested") }
        addTeardownBlock { _ = try? runProcess("/bin/umount", ["-l", point], environment: [:]) }
        return point
    }

    func testFullDiskFailsThatFileOnlyAndARerunWithSpaceHeals() throws {
        let bucket = try bucket
        let session = "sess-full"
        let source = temp.file("src/" + session)
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data("first\n".utf8).write(to: URL(fileURLWithPath: source + "/a.txt"))
        try makeRandomFile(source + "/big.fits", size: 3 * MiB)
        try Data("last\n".utf8).write(to: URL(fileURLWithPath: source + "/z.txt"))
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard try archiveAndPut(source, to: url) != nil else { return }

        let disk = try mountSmallDisk("small-disk", size: "2m")
        let destination = disk + "/dest"
        let full = try s3restore(["--to", destination, url])
        XCTAssertEqual(full.status, 1, full.summary)
        guard let report = try onlyReport(in: destination) else { return }
        let text = report.lines.joined(separator: "\n")
        let big = report.outcomes["\(session)/big.fits"] ?? "(no line)"
        XCTAssertTrue(big.hasPrefix("FAILURE - ") && big.contains("no space left on the device"), text)
        for name in ["a.txt", "z.txt"] {
            XCTAssertTrue(report.outcomes["\(session)/\(name)"]?.hasPrefix("OK - Downloaded and verified") ?? false,
                          "\(name): the files after the one that did not fit go on: \(text)")
        }
        XCTAssertEqual(report.value("Status"), "PARTIAL FAILURE", text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/\(session)/big.fits"))
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [], "a temporary file left on the full disk")
        statusReports(in: destination).forEach { try? FileManager.default.removeItem(atPath: $0) }

        let grown = try runProcess("/bin/mount", ["-o", "remount,size=16m", disk], environment: env.processEnvironment())
        XCTAssertEqual(grown.status, 0, grown.summary)
        let healed = try s3restore(["--to", destination, url])
        XCTAssertEqual(healed.status, 0, healed.summary)
        guard let again = try onlyReport(in: destination) else { return }
        XCTAssertTrue(again.outcomes["\(session)/big.fits"]?.hasPrefix("OK - Downloaded and verified") ?? false,
                      again.lines.joined(separator: "\n"))
        XCTAssertEqual(again.outcomes["\(session)/a.txt"], "OK - Skipped (already exists)")
        XCTAssertEqual(again.value("Status"), "SUCCESS")
        XCTAssertEqual(try sha256(ofFile: destination + "/\(session)/big.fits"), try sha256(ofFile: source + "/big.fits"))
    }

    func testInterruptedRestoreLeavesNoTemporaryFiles() throws {
        let bucket = try bucket
        for (number, name) in [(SIGINT, "int"), (SIGTERM, "term")] {
            for index in 1...3 {
                let piece = temp.file("piece-\(name)-\(index).raw")
                try makeRandomFile(piece, size: 100_000)
                let copy = try aws(["s3", "cp", piece, "s3://\(bucket)/raw-\(name)/run/f\(index).raw"])
                XCTAssertEqual(copy.status, 0, copy.summary)
            }
            // Each GET waits 4 s in the proxy: a per-object restore holds its temporary files meanwhile.
            let proxy = try CountingProxy(upstream: env.endpoint, directory: temp.file("proxy-\(name)"),
                                          environment: env.processEnvironment(), delay: 4, delayed: "GET")
            defer { proxy.stop() }
            let destination = try makeDirectory("dest-\(name)")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: env.tool("s3-restore"))
            process.arguments = ["--endpoint-url", proxy.endpoint, "--to", destination, "s3://\(bucket)/raw-\(name)/run/"]
            process.environment = s3putEnvironment()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(30)
            while leftoverTemporaryFiles(under: destination).isEmpty, Date() < deadline, process.isRunning {
                Thread.sleep(forTimeInterval: 0.05)
            }
            XCTAssertFalse(leftoverTemporaryFiles(under: destination).isEmpty, "\(name): no temporary file seen under way")
            kill(process.processIdentifier, number)
            let ended = Date().addingTimeInterval(15)
            while process.isRunning, Date() < ended { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 128 + number, "\(name): exit status")
            XCTAssertEqual(leftoverTemporaryFiles(under: destination), [], "\(name): temporary files left after the signal")
        }
    }

    /// A disk that fails write-back: an ext4 image of 64 MiB, loop-mounted, kept on a tmpfs of 6 MiB. Writes
    /// land in memory and look fine; the flush finds the device out of room and reports EIO (then the journal
    /// aborts and the file system turns read-only). A real fault of the kernel's, nothing faked.
    func testFailedWriteBackIsNeverOK() throws {
        let bucket = try bucket
        guard let mkfs = which("mkfs.ext4") ?? ["/sbin/mkfs.ext4", "/usr/sbin/mkfs.ext4"].first(where: FileManager.default.fileExists) else {
            throw XCTSkip("mkfs.ext4 is not installed: the failed write-back path is not tested")
        }
        let session = "sess-writeback"
        let source = temp.file("src/" + session)
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try makeRandomFile(source + "/big.bin", size: 12 * MiB)
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard try archiveAndPut(source, to: url) != nil else { return }

        let backing = try mountSmallDisk("backing", size: "6m")
        let image = backing + "/disk.img"
        XCTAssertTrue(FileManager.default.createFile(atPath: image, contents: nil))
        XCTAssertEqual(truncate(image, 64 << 20), 0, "a sparse 64 MiB image")
        let made = try runProcess(mkfs, ["-q", "-F", image], environment: env.processEnvironment())
        XCTAssertEqual(made.status, 0, made.summary)
        let disk = try makeDirectory("failing-disk")
        let mounted = try runProcess("/bin/mount", ["-o", "loop,errors=continue", image, disk], environment: env.processEnvironment())
        guard mounted.status == 0 else { throw XCTSkip("cannot loop-mount here (\(mounted.err)): the failed write-back path is not tested") }
        addTeardownBlock { _ = try? runProcess("/bin/umount", ["-l", disk], environment: [:]) }

        let destination = disk + "/dest"
        let result = try s3restore(["--to", destination, url])
        XCTAssertNotEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.err.contains("\(destination): cannot flush the restored files to disk"), result.err)
        for report in statusReports(in: destination) {
            let file = try StatusReportFile(path: report)
            XCTAssertNotEqual(file.value("Status"), "SUCCESS", file.lines.joined(separator: "\n"))
            XCTAssertTrue(file.outcomes["\(session)/big.bin"]?.hasPrefix("FAILURE - ") ?? true, file.lines.joined(separator: "\n"))
        }
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [])
    }
}
