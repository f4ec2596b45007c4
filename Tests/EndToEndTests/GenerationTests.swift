import Foundation
import XCTest

/// A changed session is archived beside its earlier archive, never over it: `S.tar`, then `S.gen2.tar`, each with
/// its index. The sessions view names the newest and counts them, s3-restore restores the first by its key and the
/// newest with --latest, and the latest generation's very bytes are not stored twice. Against SeaweedFS.
final class GenerationTests: EndToEndCase {
    private let session = "2024-04-04_g"

    func testChangedSessionIsStoredAsSecondGenerationBesideTheFirst() throws {
        let bucket = try bucket
        let root = temp.file("gen-root")
        let path = "\(root)/2024/\(session)"
        try reportRandomFile(path + "/raw/data.bin", size: 5000)
        try reportWrite(path + "/meta.txt", "first\n")
        let catalog = temp.file("gen-catalog.sqlite")
        let args = nightlyArguments(root: root, dest: "s3://\(bucket)/gen/{year}/{session}.tar", catalog: catalog)
        let first = try reportNightly(args)
        XCTAssertEqual(first.status, 0, first.summary)
        let firstKey = "gen/2024/\(session).tar", secondKey = "gen/2024/\(session).gen2.tar"
        let before = try reportObjects(bucket, prefix: "gen/")
        let firstSHA = try readBackSHA256(bucket, firstKey)

        try reportWrite(path + "/meta.txt", "second, longer\n")
        XCTAssertEqual(try nightlySessions(root, catalog: catalog).first?["state"], "changed")
        let second = try reportNightly(args)
        XCTAssertEqual(second.status, 0, second.summary)
        XCTAssertEqual(second.err, "", "quiet")
        let after = try reportObjects(bucket, prefix: "gen/")
        XCTAssertEqual(Set(after.keys), [firstKey, firstKey + ".index.json", secondKey, secondKey + ".index.json"])
        for key in before.keys {
            XCTAssertEqual(after[key]?.etag, before[key]?.etag, "\(key): the first generation is intact")
            XCTAssertEqual(after[key]?.modified, before[key]?.modified, "\(key) not rewritten")
        }
        XCTAssertEqual(try readBackSHA256(bucket, firstKey), firstSHA, "the first generation reads back as it was")
        XCTAssertEqual(try nightlyPuts(catalog).count, 2)

        // The sessions view: backed up, by the newest generation, two of them; the status counts one session.
        let row = try nightlySessions(root, catalog: catalog).first
        XCTAssertEqual(row?["state"], "backed up")
        XCTAssertEqual(row?["archive"], "s3://\(bucket)/\(secondKey)")
        XCTAssertEqual(row?["generations"], "2")
        let status = try reportRun(["status", "--catalog", catalog, "--format", "tsv"])
        let stored = reportSplitTSV(status.out, headers: ReportTests.statusHeaders)?.first?.rows.first
        XCTAssertEqual(stored?["archives"], "2", status.out)
        XCTAssertEqual(stored?["sessions"], "1", status.out)

        // A third night: nothing changed, nothing stored.
        XCTAssertEqual(try reportNightly(args).status, 0)
        XCTAssertEqual(try nightlyPuts(catalog).count, 2)

        // The first key restores the first generation; --latest the second, and the report says so.
        let oldCopy = try makeDirectory("restored-first"), newCopy = try makeDirectory("restored-latest")
        let restoredFirst = try s3restore(["--to", oldCopy, "s3://\(bucket)/\(firstKey)"])
        XCTAssertEqual(restoredFirst.status, 0, restoredFirst.summary)
        XCTAssertEqual(try String(contentsOfFile: "\(oldCopy)/\(session)/meta.txt", encoding: .utf8), "first\n")
        XCTAssertNil(try onlyReport(in: oldCopy)?.value("Generation"), "no generation chosen")
        let latest = try s3restore(["--to", newCopy, "--latest", "s3://\(bucket)/\(firstKey)"])
        XCTAssertEqual(latest.status, 0, latest.summary)
        XCTAssertEqual(latest.err, "", "which generation is said in the report, not on stderr")
        XCTAssertEqual(try String(contentsOfFile: "\(newCopy)/\(session)/meta.txt", encoding: .utf8), "second, longer\n")
        let report = try onlyReport(in: newCopy)
        XCTAssertEqual(report?.value("Archive"), "s3://\(bucket)/\(secondKey)")
        XCTAssertEqual(report?.value("Generation"), "2, the latest of s3://\(bucket)/\(firstKey)")
        XCTAssertEqual(try sha256(ofFile: "\(newCopy)/\(session)/raw/data.bin"), try sha256(ofFile: path + "/raw/data.bin"))

        let prefix = try s3restore(["--to", newCopy, "--latest", "s3://\(bucket)/gen/"])
        XCTAssertEqual(prefix.status, 64, "--latest takes archive URLs: \(prefix.summary)")
    }

    /// s3-put --index straight: the same archive again is the latest generation's bytes (skipped, nothing stored,
    /// no upload left behind, multipart or not); a changed one goes to the next generation, whose record says so.
    func testSameArchiveIsSkippedAndAChangedOneIsTheNextGeneration() throws {
        let bucket = try bucket
        let path = temp.file("direct/S")
        try reportRandomFile(path + "/big.bin", size: 11 << 20)
        try reportWrite(path + "/meta.txt", "one\n")
        let catalog = temp.file("direct-catalog.sqlite")
        let url = "s3://\(bucket)/direct/S.tar"
        func put(_ label: String) throws -> [String: Any]? {
            let result = try reportArchiveAndPut(path, index: temp.file("S.index.json"),
                                                 ["--catalog", catalog, "--part-size", "5MiB", url])
            XCTAssertEqual(result.status, 0, "\(label): \(result.summary)")
            return reportJSONLines(result.out).first
        }
        let first = try put("first")
        XCTAssertNil(first?["generation"], "the first generation has no number in its record")
        XCTAssertNil(first?["skipped"])
        let firstETag = try reportObjects(bucket, prefix: "direct/")["direct/S.tar"]?.etag

        let again = try put("the same again")
        XCTAssertEqual(again?["skipped"] as? Bool, true, "the latest generation's very bytes")
        XCTAssertEqual(again?["url"] as? String, url)
        XCTAssertEqual(again?["etag"] as? String, firstETag)
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "direct/").keys), ["direct/S.tar", "direct/S.tar.index.json"])
        assertNoMultipartUploads(bucket)

        try reportAppend(path + "/meta.txt", "two\n")
        let changed = try put("changed")
        XCTAssertEqual(changed?["url"] as? String, "s3://\(bucket)/direct/S.gen2.tar")
        XCTAssertEqual(changed?["index"] as? String, "s3://\(bucket)/direct/S.gen2.tar.index.json")
        XCTAssertEqual(reportNumber(changed?["generation"]), 2)
        XCTAssertEqual(try reportObjects(bucket, prefix: "direct/")["direct/S.tar"]?.etag, firstETag, "generation 1 untouched")

        let latestAgain = try put("the changed one again")
        XCTAssertEqual(latestAgain?["skipped"] as? Bool, true)
        XCTAssertEqual(latestAgain?["url"] as? String, "s3://\(bucket)/direct/S.gen2.tar", "compared with the latest")
        XCTAssertEqual(reportNumber(latestAgain?["generation"]), 2)
        XCTAssertEqual(try reportObjects(bucket, prefix: "direct/").count, 4, "nothing more stored")
    }

    /// --replace with --index: the archive goes over the first key, as asked, with its index; no generation is made.
    func testReplaceWritesTheArchiveAtTheFirstKey() throws {
        let bucket = try bucket
        let path = temp.file("replaced/S")
        try reportWrite(path + "/meta.txt", "one\n")
        let url = "s3://\(bucket)/replaced/S.tar"
        func put(_ extra: [String]) throws -> [String: Any]? {
            let result = try reportArchiveAndPut(path, index: temp.file("R.index.json"), extra + ["--no-catalog", url])
            XCTAssertEqual(result.status, 0, result.summary)
            return reportJSONLines(result.out).first
        }
        let first = try put([])
        try reportAppend(path + "/meta.txt", "two\n")
        let replaced = try put(["--replace"])
        XCTAssertEqual(replaced?["url"] as? String, url)
        XCTAssertNil(replaced?["generation"])
        XCTAssertNotEqual(replaced?["etag"] as? String, first?["etag"] as? String, "other bytes")
        let objects = try reportObjects(bucket, prefix: "replaced/")
        XCTAssertEqual(Set(objects.keys), ["replaced/S.tar", "replaced/S.tar.index.json"])
        XCTAssertEqual(objects["replaced/S.tar"]?.etag, replaced?["etag"] as? String, "the new archive is at the key")
    }
}
