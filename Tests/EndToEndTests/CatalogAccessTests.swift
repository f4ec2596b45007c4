// The catalog as another user sees it, and the sessions view where a folder cannot be read. As root, the tools
// run as nobody (setpriv) on a copy in the test's own folder, as the other "as nobody" tests do.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class CatalogAccessTests: EndToEndCase {
    /// Runs `tool` as uid 65534 when the tests run as root (as themselves otherwise).
    private func runAsNobody(_ tool: String, _ arguments: [String]) throws -> ProcessResult {
        guard getuid() == 0 else {
            return try runProcess(env.tool(tool), arguments, environment: reportEnvironment(), timeout: 60)
        }
        guard let setpriv = which("setpriv") else {
            XCTFail("setpriv (util-linux) is needed to run a tool as another user")
            throw TestEnvironment.Missing()
        }
        let copy = temp.path + "/\(tool)-copy"
        if !FileManager.default.fileExists(atPath: copy) {
            try FileManager.default.copyItem(atPath: env.tool(tool), toPath: copy)
            try chmodOrThrow(copy, 0o755)
        }
        return try runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", copy] + arguments,
                              environment: reportEnvironment(), timeout: 60)
    }

    /// s3-put writes its catalog with a write-ahead log while it runs, and leaves it in rollback-journal mode: a
    /// user who may read the file but not write its folder can still report from it.
    func testCatalogWrittenByPutIsReadableByAnotherUser() throws {
        let bucket = try bucket
        let folder = temp.file("shared-catalog")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let catalog = folder + "/catalog.sqlite"
        let file = temp.file("one.bin")
        try makeRandomFile(file, size: 3000)
        let put = try s3put([file, "s3://\(bucket)/shared/one.bin", "--catalog", catalog])
        XCTAssertEqual(put.status, 0, put.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: catalog + "-wal"), "no write-ahead log left beside the catalog")
        for path in [temp.path, folder] { try chmodOrThrow(path, 0o755) }
        try chmodOrThrow(catalog, 0o644)

        let status = try runAsNobody("s3-report", ["status", "--catalog", catalog, "--format", "tsv"])
        XCTAssertEqual(status.status, 0, "s3-report status by a reader who cannot write the folder: \(status.summary)")
        XCTAssertTrue(status.lines.contains { $0.hasPrefix("STANDARD\t") && $0.contains("\t1\t0\t3000\t") },
                      "the stored object is counted (one STANDARD object of 3000 bytes): \(status.out)")
    }

    /// A folder inside a backed-up session that cannot be read makes its fingerprint incomplete: the session is
    /// not called backed up (the nightly will archive it, and s3-archive will name what it cannot read).
    func testSessionWithUnreadableFolderIsNeverCalledBackedUp() throws {
        let bucket = try bucket
        let sessions = temp.file("sessions")
        let root = sessions + "/S"
        try FileManager.default.createDirectory(atPath: root + "/closed", withIntermediateDirectories: true)
        try makeRandomFile(root + "/a.bin", size: 1000)
        try makeRandomFile(root + "/closed/b.bin", size: 1000)
        let catalog = temp.file("catalog.sqlite")
        let index = temp.file("S.index.json")
        let pipeline = try runProcess("/bin/bash", ["-c", #"set -o pipefail; "$1" --index "$3" "$4" | "$2" --endpoint-url "$5" --catalog "$6" --index "$3" "$7""#,
                                                   "bash", env.tool("s3-archive"), env.tool("s3-put"), index, root, env.endpoint,
                                                   catalog, "s3://\(bucket)/sessions/S.tar"],
                                      environment: s3putEnvironment(), timeout: 120)
        XCTAssertEqual(pipeline.status, 0, pipeline.summary)
        for path in [temp.path, sessions, root, root + "/closed"] { try chmodOrThrow(path, 0o755) }
        for path in [root + "/a.bin", root + "/closed/b.bin", catalog] { try chmodOrThrow(path, 0o644) }

        func state() throws -> String? {
            let result = try runAsNobody("s3-report", ["sessions", sessions, "--catalog", catalog, "--format", "tsv"])
            XCTAssertEqual(result.status, 0, result.summary)
            return result.lines.first { $0.hasPrefix("S\t") }?.components(separatedBy: "\t").dropFirst(5).first
        }
        XCTAssertEqual(try state(), "backed up", "control: the whole session is readable")
        try chmodOrThrow(root + "/closed", 0)
        defer { try? chmodOrThrow(root + "/closed", 0o755) }
        XCTAssertEqual(try state(), "changed", "a folder the walk cannot list: the session is not called backed up")
    }
}
