import Foundation
import XCTest

/// Objects encrypted with the customer's own key (SSE-C), on SeaweedFS 4.48, which implements it as S3 does: a
/// HEAD without the key is refused with a bare 400, a GET with 400 InvalidArgument, another key with 403, and the
/// key is needed for ranged GETs too. (moto 5.2.1 accepts the headers and ignores them: not used here.) aws-cli
/// is the independent writer and reader.
final class SSECTests: EndToEndCase {
    /// A fresh 32-byte key in a file.
    private func makeKey(_ name: String) throws -> String {
        let path = temp.file(name)
        try makeRandomFile(path, size: 32)
        return path
    }

    /// Two files put under `prefix` with the key (one in three parts), their records, and the files' paths.
    private func putTwo(_ bucket: String, prefix: String, key: String) throws -> (records: String, files: [String: String]) {
        let big = temp.file("\(prefix)-big.bin"), small = temp.file("\(prefix)-small.txt")
        try makeRandomFile(big, size: 11 * MiB)
        try Data("small\n".utf8).write(to: URL(fileURLWithPath: small))
        let put = try s3put(["--part-size", "5MiB", "--sse-c-key", "fileb://\(key)", big, small, "s3://\(bucket)/\(prefix)/"])
        XCTAssertEqual(put.status, 0, put.summary)
        let records = temp.file("\(prefix).jsonl")
        try put.stdout.write(to: URL(fileURLWithPath: records))
        return (records, ["\(prefix)-big.bin": big, "\(prefix)-small.txt": small])
    }

    func testPutVerifyAndRestoreWithTheKey() throws {
        let bucket = try bucket
        let key = try makeKey("key.bin")
        let (records, files) = try putTwo(bucket, prefix: "with", key: key)

        // aws-cli reads the same bytes with the key, and is refused without it: the objects really are SSE-C.
        let back = temp.file("aws-back")
        let get = try aws(["s3api", "get-object", "--bucket", bucket, "--key", "with/with-big.bin",
                           "--sse-customer-algorithm", "AES256", "--sse-customer-key", "fileb://\(key)", back])
        XCTAssertEqual(get.status, 0, get.summary)
        XCTAssertEqual(try sha256(ofFile: back), try sha256(ofFile: files["with-big.bin"]!))
        XCTAssertNotEqual(try aws(["s3api", "head-object", "--bucket", bucket, "--key", "with/with-big.bin"]).status, 0)

        let verified = try s3verify(["--no-catalog", "--deep", "--sse-c-key", key, records])
        XCTAssertEqual(verified.status, 0, verified.summary)
        XCTAssertEqual(verified.lines.filter { $0.hasPrefix("OK ") }.count, 2, verified.out)

        for (name, source) in files {
            let against = try s3verify(["--no-catalog", "--sse-c-key", key, "s3://\(bucket)/with/\(name)", "--against", source])
            XCTAssertEqual(against.status, 0, against.summary)
        }
        let changed = temp.file("changed.txt")
        try Data("smalL\n".utf8).write(to: URL(fileURLWithPath: changed))
        let differs = try s3verify(["--no-catalog", "--sse-c-key", key, "s3://\(bucket)/with/with-small.txt", "--against", changed])
        XCTAssertEqual(differs.status, 1, differs.summary)
        XCTAssertTrue(differs.out.contains("differs (CRC64NVME)"), differs.out)

        let destination = try makeDirectory("restored")
        let restored = try s3restore(["--sse-c-key", "fileb://\(key)", "--to", destination, "s3://\(bucket)/with/"])
        XCTAssertEqual(restored.status, 0, restored.summary)
        for (name, source) in files {
            XCTAssertEqual(try sha256(ofFile: destination + "/" + name), try sha256(ofFile: source), "\(name): the same bytes back")
        }
        for output in [verified, restored] {
            let base64 = try Data(contentsOf: URL(fileURLWithPath: key)).base64EncodedString()
            XCTAssertFalse(output.out.contains(base64) || output.err.contains(base64), "the key is printed")
        }
    }

    /// An object aws-cli wrote with the key (and a CRC64NVME), and an archive s3-put wrote with it, whose
    /// damaged file comes back by a ranged GET, which needs the key too.
    func testRestoreWhatAWSCLIWroteAndAnArchiveByRangedGets() throws {
        let bucket = try bucket
        let key = try makeKey("key.bin")
        let written = temp.file("aws-written.bin")
        try makeRandomFile(written, size: 7 * MiB)
        let copy = try aws(["s3", "cp", written, "s3://\(bucket)/aws/aws-written.bin", "--sse-c", "AES256",
                            "--sse-c-key", "fileb://\(key)", "--checksum-algorithm", "CRC64NVME"])
        XCTAssertEqual(copy.status, 0, copy.summary)
        let destination = try makeDirectory("from-aws")
        let restored = try s3restore(["--sse-c-key", key, "--to", destination, "s3://\(bucket)/aws/"])
        XCTAssertEqual(restored.status, 0, restored.summary)
        XCTAssertEqual(try sha256(ofFile: destination + "/aws-written.bin"), try sha256(ofFile: written))

        let session = temp.file("src/sess-ssec")
        try FileManager.default.createDirectory(atPath: session + "/sub", withIntermediateDirectories: true)
        try makeRandomFile(session + "/a.fits", size: 2 * MiB)
        try Data("b\n".utf8).write(to: URL(fileURLWithPath: session + "/sub/b.txt"))
        let url = "s3://\(bucket)/backups/sess-ssec.tar"
        guard try archiveAndPut(session, to: url, extra: ["--sse-c-key", key]) != nil else { return }
        let into = try makeDirectory("archive")
        let first = try s3restore(["--sse-c-key", key, "--to", into, url])
        XCTAssertEqual(first.status, 0, first.summary)
        try flipByte(into + "/sess-ssec/a.fits", at: 1000)
        let healed = try s3restore(["--sse-c-key", key, "--to", into, url])
        XCTAssertEqual(healed.status, 0, healed.summary)
        XCTAssertEqual(try sha256(ofFile: into + "/sess-ssec/a.fits"), try sha256(ofFile: session + "/a.fits"))
        let report = try StatusReportFile(path: statusReports(in: into).last ?? "")
        XCTAssertTrue(report.outcomes["sess-ssec/a.fits"]?.hasPrefix("OK - Self-healed") ?? false, report.lines.joined(separator: "\n"))
    }

    func testWithoutTheKeyTheMessageNamesTheOption() throws {
        let bucket = try bucket
        let key = try makeKey("key.bin")
        let (records, _) = try putTwo(bucket, prefix: "nokey", key: key)

        let verified = try s3verify(["--no-catalog", "--deep", records])
        XCTAssertEqual(verified.status, 1, verified.summary)
        let failed = verified.lines.filter { $0.hasPrefix("FAILED ") }
        XCTAssertEqual(failed.count, 2, verified.out)
        for line in failed {
            XCTAssertTrue(line.contains("encrypted with a customer key (SSE-C): give the key with --sse-c-key"), line)
            XCTAssertFalse(line.contains("BadRequest"), line)
        }

        let destination = try makeDirectory("nokey")
        let restored = try s3restore(["--to", destination, "s3://\(bucket)/nokey/"])
        XCTAssertEqual(restored.status, 1, restored.summary)
        guard let report = try onlyReport(in: destination) else { return }
        XCTAssertEqual(report.outcomes.count, 2, report.lines.joined(separator: "\n"))
        for (name, outcome) in report.outcomes {
            XCTAssertTrue(outcome.hasPrefix("FAILURE - ") && outcome.contains("--sse-c-key"), "\(name): \(outcome)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/" + name), "\(name) written without its key")
        }

        // An archive whose index cannot be read without the key: nothing restored, exit 77, said on stderr.
        let session = temp.file("src/sess-nokey")
        try FileManager.default.createDirectory(atPath: session, withIntermediateDirectories: true)
        try Data("a\n".utf8).write(to: URL(fileURLWithPath: session + "/a.txt"))
        let url = "s3://\(bucket)/backups/sess-nokey.tar"
        guard try archiveAndPut(session, to: url, extra: ["--sse-c-key", key]) != nil else { return }
        let archive = try s3restore(["--to", try makeDirectory("archive-nokey"), url])
        XCTAssertEqual(archive.status, 77, archive.summary)
        XCTAssertTrue(archive.err.contains("sess-nokey.tar.index.json: encrypted with a customer key (SSE-C): give the key with --sse-c-key FILE"),
                      archive.err)

        // s3-etag takes no key: it says where the comparison can be made instead.
        let etag = try runProcess(env.tool("s3-etag"), ["--endpoint-url", env.endpoint, "--match", "s3://\(bucket)/nokey/nokey-small.txt",
                                                        temp.file("nokey-small.txt")], environment: s3putEnvironment(), timeout: 60)
        XCTAssertEqual(etag.status, 65, etag.summary)
        XCTAssertTrue(etag.err.contains("s3-verify") && etag.err.contains("--sse-c-key"), etag.err)
    }

    func testAnotherKeyIsToldApartFromMissingPermission() throws {
        let bucket = try bucket
        let key = try makeKey("key.bin"), other = try makeKey("other.bin")
        let (records, _) = try putTwo(bucket, prefix: "wrong", key: key)

        let verified = try s3verify(["--no-catalog", "--sse-c-key", other, records])
        XCTAssertEqual(verified.status, 1, verified.summary)
        for line in verified.lines {
            XCTAssertTrue(line.hasPrefix("FAILED ") && line.contains("other than the one given with --sse-c-key"), line)
        }
        let destination = try makeDirectory("wrong")
        let restored = try s3restore(["--sse-c-key", other, "--to", destination, "s3://\(bucket)/wrong/"])
        XCTAssertEqual(restored.status, 1, restored.summary)
        guard let report = try onlyReport(in: destination) else { return }
        for (name, outcome) in report.outcomes {
            XCTAssertTrue(outcome.contains("other than the one given with --sse-c-key"), "\(name): \(outcome)")
        }
    }

    func testKeyFileMistakesAreUsageErrors() throws {
        let bucket = try bucket
        let short = temp.file("short.key")
        try makeRandomFile(short, size: 31)
        let destination = temp.file("never-made")
        let restored = try s3restore(["--sse-c-key", short, "--to", destination, "s3://\(bucket)/any/"])
        XCTAssertEqual(restored.status, 64, restored.summary)
        XCTAssertEqual(restored.err.split(separator: "\n").count, 1, restored.err)
        XCTAssertTrue(restored.err.contains("32 bytes") && restored.err.contains("31 bytes"), restored.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination), "the destination made for a run that cannot read")

        let records = temp.file("none.jsonl")
        try Data().write(to: URL(fileURLWithPath: records))
        let text = try s3verify(["--sse-c-key", "file://\(short)", records])
        XCTAssertEqual(text.status, 64, text.summary)
        XCTAssertTrue(text.err.contains("fileb://"), text.err)
        let missing = try s3verify(["--sse-c-key", temp.file("no-such.key"), records])
        XCTAssertEqual(missing.status, 66, missing.summary)

        let key = try makeKey("key.bin")
        let data = temp.file("data.bin")
        try makeRandomFile(data, size: 100)
        let local = try s3put(["--no-catalog", "--sse-c-key", key, data, "file://\(temp.file("store"))/"])
        XCTAssertEqual(local.status, 64, local.summary)
        XCTAssertTrue(local.err.contains("--sse-c-key") && local.err.contains("unencrypted"), local.err)
        // Read from a directory, where nothing is encrypted, the key is ignored.
        let plain = try s3put(["--no-catalog", data, "file://\(temp.file("store"))/"])
        XCTAssertEqual(plain.status, 0, plain.summary)
        let plainRecords = temp.file("plain.jsonl")
        try plain.stdout.write(to: URL(fileURLWithPath: plainRecords))
        let read = try s3verify(["--no-catalog", "--deep", "--sse-c-key", key, plainRecords])
        XCTAssertEqual(read.status, 0, read.summary)
    }
}
