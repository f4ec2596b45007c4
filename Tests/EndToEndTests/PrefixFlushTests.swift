import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A per-object prefix restored onto a disk whose write-back fails: the flush's failure fails the files it
/// covered (removed, FAILURE lines), the report is still written, the run exits 1, and a rerun with room heals.
/// The disk is real: an ext4 image, loop-mounted, on a tmpfs too small for it (the tests run as root).
final class PrefixFlushTests: EndToEndCase {
    /// A 64 MiB ext4 (4 KiB blocks: one block group) whose first 10 MiB (its metadata and journal, allocated
    /// before mkfs) are real pages of a 12 MiB tmpfs, the rest sparse: writing file data past what the tmpfs
    /// holds fails at write-back (EIO, "no space" at syncfs), while the metadata and journal writes succeed, so
    /// the file system stays writable (a journal that fails aborts, and the file system turns read-only, after
    /// which no report can be written at all). Returns the mount point and the tmpfs, to grow it.
    private func mountThinDisk() throws -> (disk: String, backing: String) {
        guard let mkfs = which("mkfs.ext4") ?? ["/sbin/mkfs.ext4", "/usr/sbin/mkfs.ext4"].first(where: FileManager.default.fileExists) else {
            throw XCTSkip("mkfs.ext4 is not installed: the failed flush of a prefix is not tested")
        }
        let environment = env.processEnvironment()
        let backing = try makeDirectory("thin-backing")
        let tmpfs = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=12m", "tmpfs", backing], environment: environment)
        guard tmpfs.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (\(tmpfs.err)): the failed flush of a prefix is not tested") }
        addTeardownBlock { _ = try? runProcess("/bin/umount", ["-l", backing], environment: [:]) }
        let image = backing + "/disk.img"
        let filled = try runProcess("/bin/dd", ["if=/dev/zero", "of=\(image)", "bs=1M", "count=10", "status=none"], environment: environment)
        XCTAssertEqual(filled.status, 0, filled.summary)
        XCTAssertEqual(truncate(image, 64 << 20), 0, "a 64 MiB image, sparse past 10 MiB")
        // nodiscard and lazy init: mkfs would otherwise punch holes where it zeroes (the journal among them).
        let made = try runProcess(mkfs, ["-q", "-F", "-b", "4096", "-N", "256", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1", image],
                                  environment: environment)
        XCTAssertEqual(made.status, 0, made.summary)
        let disk = try makeDirectory("thin-disk")
        let mounted = try runProcess("/bin/mount", ["-o", "loop,errors=continue", image, disk], environment: environment)
        guard mounted.status == 0 else { throw XCTSkip("cannot loop-mount here (\(mounted.err)): the failed flush of a prefix is not tested") }
        addTeardownBlock { _ = try? runProcess("/bin/umount", ["-l", disk], environment: [:]) }
        return (disk, backing)
    }

    func testFailedFlushFailsTheFilesItCoveredAndTheReportIsWritten() throws {
        let bucket = try bucket
        let big = temp.file("big.bin"), small = temp.file("small.txt")
        try makeRandomFile(big, size: 12 * MiB)
        try Data("small\n".utf8).write(to: URL(fileURLWithPath: small))
        for path in [big, small] {
            let copy = try aws(["s3", "cp", path, "s3://\(bucket)/flush/\((path as NSString).lastPathComponent)"])
            XCTAssertEqual(copy.status, 0, copy.summary)
        }
        let (disk, backing) = try mountThinDisk()
        let destination = disk + "/dest"

        let failed = try s3restore(["--to", destination, "s3://\(bucket)/flush/"])
        XCTAssertEqual(failed.status, 1, failed.summary)
        guard let report = try onlyReport(in: destination) else { return }
        let text = report.lines.joined(separator: "\n")
        for name in ["big.bin", "small.txt"] {
            let outcome = report.outcomes[name] ?? "(no line)"
            XCTAssertTrue(outcome.hasPrefix("FAILURE - ") && outcome.contains("cannot flush the restored files to disk"), "\(name): \(text)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/" + name), "\(name) left after a failed flush")
        }
        XCTAssertEqual(report.value("Status"), "COMPLETE FAILURE", text)
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [])
        statusReports(in: destination).forEach { try? FileManager.default.removeItem(atPath: $0) }

        let grown = try runProcess("/bin/mount", ["-o", "remount,size=80m", backing], environment: env.processEnvironment())
        XCTAssertEqual(grown.status, 0, grown.summary)
        let healed = try s3restore(["--to", destination, "s3://\(bucket)/flush/"])
        XCTAssertEqual(healed.status, 0, healed.summary)
        XCTAssertEqual(try sha256(ofFile: destination + "/big.bin"), try sha256(ofFile: big))
        XCTAssertEqual(try onlyReport(in: destination)?.value("Status"), "SUCCESS")
    }
}
