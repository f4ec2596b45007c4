import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// s3-restore end to end: archives made by `s3-archive | s3-put` on SeaweedFS (and cold ones on moto) brought back
/// into a directory, verified, healed, with the status report it leaves behind.
final class RestoreTests: EndToEndCase {
    // MARK: 1. Round trip

    func testRoundTripRestoresTheSessionExactlyAndReports() throws {
        let bucket = try bucket
        let session = "sess-roundtrip"
        let source = temp.file("src/" + session)
        try RestoreTree.make(at: source)
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard let put = try archiveAndPut(source, to: url) else { return }
        let index = try IndexFile(path: put.index)

        let destination = try makeDirectory("dest")
        let before = Date()
        let result = try s3restore(["--to", destination, url])
        let after = Date()
        XCTAssertEqual(result.status, 0, result.summary)

        // The tree: files, links and folders as they were.
        let restored = try TreeSnapshot(destination + "/" + session)
        let original = try TreeSnapshot(source)
        assertSameTree(restored, original, "restored")
        XCTAssertEqual(allPaths(under: destination).filter { !$0.hasPrefix(session) && !$0.hasPrefix("_download_status_") },
                       [], "nothing but the session and the report in the destination")
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [], "temporary files left behind")

        // The report, line by line.
        guard let report = try onlyReport(in: destination) else { return }
        XCTAssertTrue(matches(report.name, "^_download_status_\(session)_[0-9]{8}_[0-9]{6}\\.txt$"), report.name)
        let lines = report.lines
        // One line per file, in key order (bytes), whatever the index's order.
        let expectedFiles = index.entries.filter { ($0["type"] as? String) != "directory" }.compactMap { $0["path"] as? String }
            .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        XCTAssertGreaterThanOrEqual(expectedFiles.count, 12, "the index lists the session's files and links")
        XCTAssertEqual(lines.count, 11 + expectedFiles.count + 7, "report:\n\(lines.joined(separator: "\n"))")
        guard lines.count == 11 + expectedFiles.count + 7 else { return }
        // The layout its readers already parse, label for label; our Archive: line follows Destination:.
        XCTAssertEqual(lines[0], "S3 Download Status Report")
        XCTAssertEqual(lines[1], "=========================")
        XCTAssertEqual(lines[2], "Raw File ID: \(session)")
        XCTAssertEqual(lines[3], "Project ID: -", "the key has no project-P folder")
        XCTAssertEqual(lines[4], "S3 Bucket: \(bucket)")
        XCTAssertTrue(matches(lines[5], "^Timestamp: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC$"), lines[5])
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "'Timestamp: 'yyyy-MM-dd HH:mm:ss' UTC'"
        if let stamp = formatter.date(from: lines[5]) {
            XCTAssertGreaterThanOrEqual(stamp.timeIntervalSince1970, before.timeIntervalSince1970.rounded(.down) - 1, "timestamp is the run's")
            XCTAssertLessThanOrEqual(stamp.timeIntervalSince1970, after.timeIntervalSince1970 + 1, "timestamp is the run's")
            formatter.dateFormat = "yyyyMMdd_HHmmss"
            XCTAssertEqual(report.name, "_download_status_\(session)_\(formatter.string(from: stamp)).txt",
                           "the file name carries the report's timestamp")
        } else {
            XCTFail("unparsable timestamp: \(lines[5])")
        }
        XCTAssertEqual(lines[6], "Destination: \(destination)")
        XCTAssertEqual(lines[7], "Archive: \(url)")
        XCTAssertEqual(Array(lines[8...10]), ["", "Files:", "------"])
        let sizes = Dictionary(index.entries.compactMap { entry -> (String, Int)? in
            guard let path = entry["path"] as? String, let size = (entry["size"] as? NSNumber)?.intValue else { return nil }
            return (path, size)
        }, uniquingKeysWith: { a, _ in a })
        for (position, path) in expectedFiles.enumerated() {
            let line = lines[11 + position]
            XCTAssertTrue(line.hasPrefix(path + ": "), "line \(12 + position) should be for \(path): \(line)")
            let outcome = String(line.dropFirst(path.count + 2))
            XCTAssertTrue(matches(outcome, "^OK - Downloaded and verified \\([0-9]+\\.[0-9] MB in [0-9]+\\.[0-9]s\\)$"), line)
            if let size = sizes[path], size >= MiB, (index.entries.first { ($0["path"] as? String) == path }?["type"] as? String) == "file" {
                XCTAssertTrue(outcome.contains("(\(String(format: "%.1f", Double(size) / 1e6)) MB in "), "\(path): size shown: \(line)")
            }
        }
        let n = expectedFiles.count
        XCTAssertEqual(Array(lines[(11 + n)...]), ["", "Summary:", "--------", "Total files: \(n)", "Successful: \(n)", "Failed: 0",
                                                  "Status: SUCCESS"])
    }

    // MARK: 2. Healing with ranged GETs

    func testDamagedAndMissingFilesAreHealedWithRangedGets() throws {
        let bucket = try bucket
        let session = "sess-heal"
        let source = temp.file("src/" + session)
        // Five 4.5 MiB frames: a 22.5 MiB archive, of which only two files may be fetched again.
        try RestoreTree.make(at: source, bigSizes: Array(repeating: 9 * MiB / 2, count: 5))
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard let put = try archiveAndPut(source, to: url) else { return }
        XCTAssertGreaterThanOrEqual((put.record["size"] as? NSNumber)?.intValue ?? 0, 20 * MiB)
        let destination = try makeDirectory("dest")
        let first = try s3restore(["--to", destination, url])
        XCTAssertEqual(first.status, 0, first.summary)
        statusReports(in: destination).forEach { try? FileManager.default.removeItem(atPath: $0) }

        // Damage one file (a byte in the middle) and lose another; they are 13.5 MiB apart in the tar.
        let damaged = "\(session)/data/raw/frame2.fits", missing = "\(session)/sub/deeper/b.bin"
        try flipByte(destination + "/" + damaged, at: 2 * MiB + 11)
        try FileManager.default.removeItem(atPath: destination + "/" + missing)
        let expectedBytes = 9 * MiB / 2 + 10_000

        let proxy = try CountingProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment())
        defer { proxy.stop() }
        let second = try s3restore(["--to", destination, url], endpoint: proxy.endpoint)
        XCTAssertEqual(second.status, 0, second.summary)
        if let report = try onlyReport(in: destination) {
            let outcomes = report.outcomes
            XCTAssertEqual(outcomes[damaged], "OK - Self-healed (hash mismatch, re-downloaded)", "\(damaged)\n\(report.lines.joined(separator: "\n"))")
            XCTAssertTrue(outcomes[missing]?.hasPrefix("OK - Downloaded and verified (") ?? false, "\(missing): \(outcomes[missing] ?? "no line")")
            let others = outcomes.filter { $0.key != damaged && $0.key != missing }
            XCTAssertGreaterThanOrEqual(others.count, 10)
            for (path, outcome) in others.sorted(by: { $0.key < $1.key }) {
                XCTAssertEqual(outcome, "OK - Skipped (already exists)", path)
            }
            XCTAssertEqual(report.value("Status"), "SUCCESS")
            XCTAssertEqual(report.value("Failed"), "0")
        }
        for path in [damaged, missing] {
            let local = String(path.dropFirst(session.count + 1))
            XCTAssertEqual(try sha256(ofFile: destination + "/" + path), try sha256(ofFile: source + "/" + local), "\(path) healed")
        }
        let fetched = proxy.bytesFetched(bucket: bucket, key: "backups/\(session).tar")
        let gets = proxy.gets(bucket: bucket, key: "backups/\(session).tar")
        XCTAssertGreaterThanOrEqual(fetched, expectedBytes, "both files' bytes came from the server: \(gets)")
        XCTAssertLessThanOrEqual(fetched, expectedBytes + 64 * 1024,
                                 "only the two files are fetched, not the archive: \(fetched) bytes in \(gets.map { "\($0.range ?? "no Range") → \($0.bytes)" })")
        XCTAssertTrue(gets.allSatisfy { $0.range?.hasPrefix("bytes=") ?? false }, "every GET of the archive is ranged: \(gets)")
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [])

        // A third run finds everything intact: nothing of the archive is read.
        statusReports(in: destination).forEach { try? FileManager.default.removeItem(atPath: $0) }
        proxy.reset()
        let third = try s3restore(["--to", destination, url], endpoint: proxy.endpoint)
        XCTAssertEqual(third.status, 0, third.summary)
        if let report = try onlyReport(in: destination) {
            XCTAssertFalse(report.outcomes.isEmpty)
            for (path, outcome) in report.outcomes.sorted(by: { $0.key < $1.key }) {
                XCTAssertEqual(outcome, "OK - Skipped (already exists)", path)
            }
        }
        XCTAssertEqual(proxy.bytesFetched(bucket: bucket, key: "backups/\(session).tar"), 0,
                       "an intact restore reads no archive bytes: \(proxy.requests().map { "\($0.method) \($0.path) \($0.range ?? "")" })")
    }

    // MARK: 3. Per-object prefix

    func testPerObjectPrefixRestoresEachObject() throws {
        let bucket = try bucket
        let source = try makeDirectory("raw-src")
        let names = ["a", "b", "c"]
        try makeRandomFile(source + "/a", size: 1_000)
        try makeRandomFile(source + "/b", size: 11 * MiB)
        try makeRandomFile(source + "/c", size: 0)
        let put = try s3put(["--part-size", "5MiB"] + names.map { source + "/" + $0 } + ["s3://\(bucket)/raw/"],
                            environment: [:])
        XCTAssertEqual(put.status, 0, put.summary)
        XCTAssertEqual(records(put).map(\.parts), [1, 3, 1], "b goes up in three 5 MiB parts")

        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "s3://\(bucket)/raw/"])
        XCTAssertEqual(result.status, 0, result.summary)
        for name in names {
            XCTAssertEqual(try? sha256(ofFile: destination + "/" + name), try sha256(ofFile: source + "/" + name), name)
        }
        XCTAssertEqual(allPaths(under: destination).filter { !$0.hasPrefix("_download_status_") }, names)
        if let report = try onlyReport(in: destination) {
            XCTAssertEqual(report.value("Prefix"), "s3://\(bucket)/raw/", report.lines.joined(separator: "\n"))
            XCTAssertEqual(report.value("S3 Bucket"), bucket)
            XCTAssertEqual(report.fileLines.map { String($0.prefix { $0 != ":" }) }, names)
            for name in names {
                XCTAssertTrue(report.outcomes[name]?.hasPrefix("OK - Downloaded and verified (") ?? false, "\(name): \(report.outcomes[name] ?? "no line")")
            }
            XCTAssertEqual(report.value("Status"), "SUCCESS")
        }

        // Again: each file matches its object's ETag (the multipart one too), so nothing is fetched.
        statusReports(in: destination).forEach { try? FileManager.default.removeItem(atPath: $0) }
        let again = try s3restore(["--to", destination, "s3://\(bucket)/raw/"])
        XCTAssertEqual(again.status, 0, again.summary)
        if let report = try onlyReport(in: destination) {
            for name in names { XCTAssertEqual(report.outcomes[name], "OK - Skipped (already exists)", name) }
        }
    }

    // MARK: 4. Partial failure

    func testOneBadFileIsAPartialFailure() throws {
        let bucket = try bucket
        let session = "sess-partial"
        let source = temp.file("src/" + session)
        try RestoreTree.make(at: source, bigSizes: [5_000, 6_000])
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard let put = try archiveAndPut(source, to: url) else { return }

        // The index stored beside the archive now gives one file a wrong SHA-256.
        let bad = "\(session)/sub/deeper/b.bin"
        var index = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: put.index))) as? [String: Any])
        var entries = try XCTUnwrap(index["entries"] as? [[String: Any]])
        let position = try XCTUnwrap(entries.firstIndex { $0["path"] as? String == bad })
        entries[position]["sha256"] = String(repeating: "0", count: 64)
        index["entries"] = entries
        let tampered = temp.file("tampered.index.json")
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: tampered))
        let copy = try aws(["s3", "cp", tampered, "s3://\(bucket)/backups/\(session).tar.index.json"])
        XCTAssertEqual(copy.status, 0, copy.summary)

        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, url])
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertTrue(result.err.contains("failed"), "stderr says files failed: \(result.err)")
        if let report = try onlyReport(in: destination) {
            let outcomes = report.outcomes
            XCTAssertTrue(outcomes[bad]?.hasPrefix("FAILURE - ") ?? false, "\(bad): \(outcomes[bad] ?? "no line")")
            for (path, outcome) in outcomes.sorted(by: { $0.key < $1.key }) where path != bad {
                XCTAssertTrue(outcome.hasPrefix("OK - "), "\(path): \(outcome)")
            }
            XCTAssertEqual(report.value("Failed"), "1")
            XCTAssertEqual(report.value("Successful"), String(outcomes.count - 1))
            XCTAssertEqual(report.value("Status"), "PARTIAL FAILURE")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/" + bad), "nothing under the failing name")
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [], "temporary files left behind")
        XCTAssertEqual(try sha256(ofFile: destination + "/\(session)/notes.txt"), try sha256(ofFile: source + "/notes.txt"))

        // Folders of the user's in the way of a file and of a symlink: both fail, and the folders (with what is in
        // them) are left alone, never deleted to make room.
        let second = try makeDirectory("dest2")
        for blocker in ["notes.txt", "latest"] {
            try FileManager.default.createDirectory(atPath: "\(second)/\(session)/\(blocker)", withIntermediateDirectories: true)
            try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: "\(second)/\(session)/\(blocker)/mine.txt"))
        }
        let blocked = try s3restore(["--to", second, url])
        XCTAssertEqual(blocked.status, 1, blocked.summary)
        if let report = try onlyReport(in: second) {
            let outcomes = report.outcomes
            for path in ["\(session)/notes.txt", "\(session)/latest", bad] {
                XCTAssertTrue(outcomes[path]?.hasPrefix("FAILURE - ") ?? false, "\(path): \(outcomes[path] ?? "no line")")
            }
            XCTAssertEqual(outcomes.values.filter { $0.hasPrefix("OK - ") }.count, outcomes.count - 3,
                           report.lines.joined(separator: "\n"))
            XCTAssertEqual(report.value("Status"), "PARTIAL FAILURE")
        }
        for blocker in ["notes.txt", "latest"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(second)/\(session)/\(blocker)/mine.txt"),
                          "the user's folder \(session)/\(blocker) and its file must survive the restore")
        }
        XCTAssertEqual(leftoverTemporaryFiles(under: second), [], "temporary files left behind")
    }

    // MARK: 5. Hostile index

    func testHostileIndexEntriesAreRefused() throws {
        let bucket = try bucket
        let session = "hostile"
        let outside = try makeDirectory("outside")
        let destination = try makeDirectory("dest")
        let escape = (destination as NSString).deletingLastPathComponent + "/escape.txt"
        let evil = "/etc/s3a-e2e-evil-\(UUID().uuidString.prefix(8))"

        // A blob with each entry's data at its offset; the tar's structure does not matter to a restore by index.
        var blob = Data(count: 8192)
        func place(_ text: String, at offset: Int) -> [String: Any] {
            let bytes = Data(text.utf8)
            blob.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            return ["size": bytes.count, "offset": offset]
        }
        func file(_ path: String, _ text: String, at offset: Int) -> [String: Any] {
            var entry = place(text, at: offset)
            entry["path"] = path
            entry["type"] = "file"
            entry["mode"] = 0o644
            entry["mtime"] = 1_600_000_000.0
            return entry
        }
        var entries: [[String: Any]] = [
            ["path": session, "type": "directory", "size": 0, "mode": 0o755, "mtime": 1_600_000_000.0],
            file("../escape.txt", "escaped\n", at: 512),
            file(evil, "evil\n", at: 1536),
            ["path": "\(session)/link-out", "type": "symlink", "size": 0, "mode": 0o777, "mtime": 1_600_000_000.0,
             "target": outside],
            file("\(session)/link-out/file.txt", "through the link\n", at: 2560),
            ["path": "\(session)/passwd", "type": "hardlink", "size": 0, "mode": 0o644, "mtime": 1_600_000_000.0,
             "target": "/etc/passwd"],
            file("\(session)/good.txt", "good\n", at: 3584),
        ]
        // The good file has its tar header before its data, as s3-restore requires (RestoreSafetyTests).
        blob.replaceSubrange(3072..<3584, with: ustarHeader(name: "\(session)/good.txt", size: 5))
        let blobPath = temp.file("hostile.tar")
        try blob.write(to: URL(fileURLWithPath: blobPath))
        for position in entries.indices where entries[position]["type"] as? String == "file" {
            let offset = entries[position]["offset"] as! Int, size = entries[position]["size"] as! Int
            let piece = temp.file("piece")
            try blob.subdata(in: offset..<(offset + size)).write(to: URL(fileURLWithPath: piece))
            entries[position]["sha256"] = try sha256(ofFile: piece)
        }
        entries[5]["sha256"] = try sha256(ofFile: "/etc/passwd")
        let index: [String: Any] = [
            "format": "s3-archive-index/1", "session": session, "created": "2024-01-01T00:00:00Z",
            "archive": ["size": blob.count, "sha256": try sha256(ofFile: blobPath)],
            "files": 4, "bytes": 40, "newest_mtime": 1_600_000_000.0, "entries": entries,
        ]
        let indexPath = temp.file("hostile.tar.index.json")
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
        for (local, key) in [(blobPath, "backups/\(session).tar"), (indexPath, "backups/\(session).tar.index.json")] {
            let copy = try aws(["s3", "cp", local, "s3://\(bucket)/\(key)"])
            XCTAssertEqual(copy.status, 0, copy.summary)
        }

        let url = "s3://\(bucket)/backups/\(session).tar"
        for run in 1...2 {
            let result = try s3restore(["--to", destination, url])
            XCTAssertEqual(result.status, 1, "run \(run): \(result.summary)")
            if let report = try onlyReport(in: destination) {
                let outcomes = report.outcomes
                let text = "run \(run):\n" + report.lines.joined(separator: "\n")
                for path in ["../escape.txt", evil, "\(session)/link-out/file.txt", "\(session)/passwd"] {
                    XCTAssertTrue(outcomes[path]?.hasPrefix("FAILURE - ") ?? false, "\(path) must fail: \(text)")
                    XCTAssertTrue(outcomes[path]?.contains("refused") ?? false, "\(path) must be refused: \(text)")
                }
                let good = outcomes["\(session)/good.txt"] ?? "(no line)"
                XCTAssertTrue(run == 1 ? good.hasPrefix("OK - Downloaded and verified (") : good == "OK - Skipped (already exists)",
                              "\(session)/good.txt: \(text)")
                XCTAssertEqual(report.value("Status"), "PARTIAL FAILURE")
                statusReports(in: destination).forEach { try? FileManager.default.removeItem(atPath: $0) }
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: escape), "run \(run): \(escape) written outside the destination")
            XCTAssertFalse(FileManager.default.fileExists(atPath: evil), "run \(run): \(evil) written")
            XCTAssertEqual(allPaths(under: outside), [], "run \(run): written through the symlink into \(outside)")
            XCTAssertEqual(try? String(contentsOfFile: destination + "/\(session)/good.txt", encoding: .utf8), "good\n")
            XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/\(session)/passwd"),
                           "run \(run): a hard link to /etc/passwd was made")
            XCTAssertEqual(leftoverTemporaryFiles(under: destination), [])
        }
        try? FileManager.default.removeItem(atPath: evil)
    }

    // MARK: 6. Destination problems

    func testMissingOrReadOnlyDestinationFailsBeforeFetching() throws {
        let bucket = try bucket
        let proxy = try CountingProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment())
        defer { proxy.stop() }
        let url = "s3://\(bucket)/backups/whatever.tar"

        // A missing destination is created (RestoreSafetyTests); one that cannot be, under a file, is refused.
        let missing = "/etc/passwd/s3a-e2e-\(UUID().uuidString.prefix(8))/x"
        let result = try s3restore(["--to", missing, url], endpoint: proxy.endpoint)
        XCTAssertEqual(result.status, 74, result.summary)
        XCTAssertTrue(result.err.contains(missing), "the message names the destination: \(result.err)")
        XCTAssertEqual(proxy.requests().map(\.path), [], "nothing is asked of the server")

        // Read-only: a root-owned 0755 folder and the tool run as nobody (or, when not root, a 0555 folder of ours).
        let readOnly = try makeDirectory("read-only")
        var prefix: [String] = []
        if getuid() == 0 {
            guard let setpriv = which("setpriv") else {
                XCTFail("setpriv is not on PATH (util-linux)")
                return
            }
            // The tool must be reachable by nobody: the temporary directory is world-traversable.
            try chmodOrThrow(temp.path, 0o755)
            prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        } else {
            try chmodOrThrow(readOnly, 0o555)
        }
        defer { try? chmodOrThrow(readOnly, 0o755) }
        let denied = try s3restore(["--to", readOnly, url], endpoint: proxy.endpoint, prefix: prefix)
        XCTAssertEqual(denied.status, 74, denied.summary)
        XCTAssertTrue(denied.err.contains("not writable"), "the message says why: \(denied.err)")
        XCTAssertEqual(proxy.requests().map(\.path), [], "nothing is asked of the server")
        XCTAssertEqual(allPaths(under: readOnly), [])
    }

    // MARK: 7. --include and --dry-run

    func testIncludeRestoresOnlyMatchingFilesAndDryRunWritesNothing() throws {
        let bucket = try bucket
        let session = "sess-include"
        let source = temp.file("src/" + session)
        try RestoreTree.make(at: source, bigSizes: [20_000, 30_000])
        let url = "s3://\(bucket)/backups/\(session).tar"
        guard try archiveAndPut(source, to: url) != nil else { return }

        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "--include", "\(session)/sub/*", url])
        XCTAssertEqual(result.status, 0, result.summary)
        let wanted = ["sub/a-hardlink.txt", "sub/a.txt", "sub/deeper/b.bin"]
        let restoredFiles = allPaths(under: destination + "/" + session).filter { !isDirectory(destination + "/\(session)/" + $0) }
        XCTAssertEqual(restoredFiles, wanted, "only the files under sub/")
        for path in wanted {
            XCTAssertEqual(try? sha256(ofFile: destination + "/\(session)/" + path), try sha256(ofFile: source + "/" + path), path)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/\(session)/data"), "no folder outside sub/")
        if let report = try onlyReport(in: destination) {
            XCTAssertEqual(report.fileLines.map { String($0.prefix { $0 != ":" }) }.sorted(), wanted.map { "\(session)/" + $0 })
            XCTAssertEqual(report.value("Status"), "SUCCESS")
        }

        // --dry-run: nothing at all in the destination, and no archive bytes read.
        let proxy = try CountingProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment())
        defer { proxy.stop() }
        let dry = try makeDirectory("dry")
        let dryRun = try s3restore(["--to", dry, "--dry-run", url], endpoint: proxy.endpoint)
        XCTAssertEqual(dryRun.status, 0, dryRun.summary)
        XCTAssertEqual(allPaths(under: dry), [], "a dry run writes nothing, not even a report")
        XCTAssertEqual(proxy.bytesFetched(bucket: bucket, key: "backups/\(session).tar"), 0, "a dry run reads no archive bytes")
        XCTAssertTrue(dryRun.err.contains("would"), "the dry run says what it would do: \(dryRun.err)")
    }

    // MARK: 8. Cold storage on moto

    func testDeepArchiveIsThawedOnceAndStandardNever() throws {
        let moto = try env.requireMoto()
        let bucket = uniqueBucketName("restorecold")
        let made = try aws(["s3", "mb", "s3://\(bucket)"], endpoint: moto)
        XCTAssertEqual(made.status, 0, made.summary)
        defer { _ = try? aws(["s3", "rb", "--force", "s3://\(bucket)"], endpoint: moto) }
        let proxy = try CountingProxy(upstream: moto, directory: temp.file("proxy"), environment: env.processEnvironment())
        defer { proxy.stop() }

        let source = temp.file("src/sess-cold")
        try RestoreTree.make(at: source, bigSizes: [100_000, 200_000])
        let cold = "s3://\(bucket)/backups/sess-cold.tar", waited = "s3://\(bucket)/backups/sess-cold-wait.tar"
        for url in [cold, waited] {
            let put = try archiveAndPut(source, to: url, endpoint: moto, extra: ["--storage-class", "DEEP_ARCHIVE"])
            XCTAssertEqual(put?.record["storage_class"] as? String, "DEEP_ARCHIVE")
        }
        let archiveHead = try headObjectFields(bucket, "backups/sess-cold.tar", endpoint: moto)
        XCTAssertEqual(archiveHead?["StorageClass"] as? String, "DEEP_ARCHIVE")
        let indexHead = try headObjectFields(bucket, "backups/sess-cold.tar.index.json", endpoint: moto)
        XCTAssertEqual(indexHead?["StorageClass"] as? String ?? "STANDARD", "STANDARD", "the index stays readable")

        // A dry run on the frozen archive: it says a restore would be needed, sends none, fetches nothing, and
        // exits 75 (come back later) — the answer a cron job gets while an archive is still frozen.
        let destination = try makeDirectory("dest")
        let dry = try s3restore(["--to", destination, "--dry-run", cold], endpoint: proxy.endpoint)
        XCTAssertEqual(dry.status, 75, dry.summary)
        XCTAssertTrue(dry.err.contains("would request a restore"), "says a restore is needed: \(dry.err)")
        XCTAssertEqual(proxy.restoreRequests().count, 0, "a dry run sends no RestoreObject")
        XCTAssertEqual(proxy.bytesFetched(bucket: bucket, key: "backups/sess-cold.tar"), 0)
        XCTAssertEqual(allPaths(under: destination), [], "no file restored while the archive is frozen")

        // First real run: exactly one RestoreObject. moto thaws at once, and s3-restore looks again after asking,
        // so the files come back in the same run (on AWS this run would exit 75 and the next would finish).
        proxy.reset()
        let first = try s3restore(["--to", destination, cold], endpoint: proxy.endpoint)
        XCTAssertEqual(proxy.restoreRequests().count, 1, "one RestoreObject: \(proxy.requests().map { "\($0.method) \($0.path)" })")
        let restoreState = try headObjectFields(bucket, "backups/sess-cold.tar", endpoint: moto)?["Restore"] as? String
        XCTAssertNotNil(restoreState, "moto shows the restore")
        if restoreState?.contains("ongoing-request=\"false\"") ?? false {
            XCTAssertEqual(first.status, 0, first.summary)
            assertSameFiles(destination + "/sess-cold", source)
        } else {
            XCTAssertEqual(first.status, 75, "still thawing: \(first.summary)")
            XCTAssertTrue(first.err.contains("again later") || first.err.contains("--wait"), "says to come back: \(first.err)")
        }

        // Second run: no second RestoreObject, and nothing left to fetch.
        proxy.reset()
        let second = try s3restore(["--to", destination, cold], endpoint: proxy.endpoint)
        XCTAssertEqual(proxy.restoreRequests().count, 0, "no second RestoreObject: \(proxy.requests().map { "\($0.method) \($0.path)" })")
        XCTAssertEqual(second.status, 0, second.summary)
        XCTAssertEqual(proxy.bytesFetched(bucket: bucket, key: "backups/sess-cold.tar"), 0, "everything was already restored")

        // --wait: asked, waited for, restored, verified.
        let waitedDestination = try makeDirectory("dest-wait")
        proxy.reset()
        let waiting = try s3restore(["--to", waitedDestination, "--wait", "--timeout", "2m", waited], endpoint: proxy.endpoint)
        XCTAssertEqual(waiting.status, 0, waiting.summary)
        XCTAssertEqual(proxy.restoreRequests().count, 1, "one RestoreObject")
        assertSameFiles(waitedDestination + "/sess-cold", source)
        if let report = try onlyReport(in: waitedDestination) { XCTAssertEqual(report.value("Status"), "SUCCESS") }

        // A STANDARD archive is never sent a restore request.
        let warm = "s3://\(bucket)/backups/sess-warm.tar"
        XCTAssertNotNil(try archiveAndPut(source, to: warm, endpoint: moto))
        let warmDestination = try makeDirectory("dest-warm")
        proxy.reset()
        let standard = try s3restore(["--to", warmDestination, warm], endpoint: proxy.endpoint)
        XCTAssertEqual(standard.status, 0, standard.summary)
        XCTAssertEqual(proxy.restoreRequests().count, 0, "no RestoreObject for STANDARD")
        assertSameFiles(warmDestination + "/sess-cold", source)
    }
}

func isDirectory(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
}

extension EndToEndCase {
    /// The regular files and symlinks under `restored` are those of `source`, with the same bytes and targets.
    func assertSameFiles(_ restored: String, _ source: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let have = try TreeSnapshot(restored), want = try TreeSnapshot(source)
            let haveFiles = have.order.filter { have.items[$0]?.kind != .directory }.map(text)
            let wantFiles = want.order.filter { want.items[$0]?.kind != .directory }.map(text)
            XCTAssertEqual(haveFiles, wantFiles, "files restored under \(restored)", file: file, line: line)
            for path in want.order where want.items[path]?.kind == .file {
                XCTAssertTrue(have.contents(path) == want.contents(path), "\(text(path)): bytes differ", file: file, line: line)
            }
            for path in want.order where want.items[path]?.kind == .symlink {
                XCTAssertEqual(have.items[path]?.target, want.items[path]?.target, "\(text(path)): link target", file: file, line: line)
            }
        } catch {
            XCTFail("\(restored): \(error)", file: file, line: line)
        }
    }
}
