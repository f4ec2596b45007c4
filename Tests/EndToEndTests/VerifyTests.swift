import Foundation
import XCTest

/// s3-verify end to end: records from s3-put checked shallow (HEAD) and deep (read back), objects changed behind our
/// back, bit rot in a file:// store found by file name, comparisons with local data, bad input, and the catalog.
final class VerifyTests: EndToEndCase {
    /// A 7 MiB file put in 5 MiB parts, and a small archive: their two records (JSON Lines) and their URLs.
    private func uploadFileAndArchive(_ label: String) throws -> (records: String, urls: [String])? {
        let bucket = try bucket
        let file = temp.file("\(label).bin")
        try makeRandomFile(file, size: 7 * MiB)
        let put = try s3put(["--part-size", "5MiB", file, "s3://\(bucket)/\(label)/file.bin"])
        guard let record = singleRecord(put) else { return nil }
        XCTAssertEqual(record.parts, 2)
        let session = temp.file("src/\(label)-session")
        try RestoreTree.make(at: session, bigSizes: [MiB + 5, 300_000])
        guard let archive = try archiveAndPut(session, to: "s3://\(bucket)/\(label)/session.tar") else { return nil }
        return (put.out + archive.line + "\n", [record.url, "s3://\(bucket)/\(label)/session.tar"])
    }

    // MARK: 1. Fresh uploads

    func testFreshUploadsVerifyShallowAndDeep() throws {
        guard let uploaded = try uploadFileAndArchive("fresh") else { return }
        let recordsPath = temp.file("records.jsonl")
        try Data(uploaded.records.utf8).write(to: URL(fileURLWithPath: recordsPath))

        let shallow = try s3verify([], input: .redirectedFile(recordsPath))
        XCTAssertEqual(shallow.status, 0, shallow.summary)
        XCTAssertEqual(shallow.lines, uploaded.urls.map { "OK \($0)" })

        let deep = try s3verify(["--deep"], input: .data(Data(uploaded.records.utf8)))
        XCTAssertEqual(deep.status, 0, deep.summary)
        XCTAssertEqual(deep.lines, uploaded.urls.map { "OK \($0)" })

        // Record files as arguments work the same as standard input.
        let fromFile = try s3verify([recordsPath])
        XCTAssertEqual(fromFile.status, 0, fromFile.summary)
        XCTAssertEqual(fromFile.lines, uploaded.urls.map { "OK \($0)" })
    }

    // MARK: 2. Changed behind our back

    func testOverwrittenAndDeletedObjectsFail() throws {
        let bucket = try bucket
        let original = temp.file("original.bin"), other = temp.file("other.bin"), gone = temp.file("gone.bin")
        try makeRandomFile(original, size: 100_000)
        try makeRandomFile(other, size: 100_000)
        try makeRandomFile(gone, size: 5_000)
        let first = try s3put([original, "s3://\(bucket)/changed/original.bin"])
        let second = try s3put([gone, "s3://\(bucket)/changed/gone.bin"])
        guard singleRecord(first) != nil, singleRecord(second) != nil else { return }
        let records = first.out + second.out

        let before = try s3verify([], input: .data(Data(records.utf8)))
        XCTAssertEqual(before.status, 0, before.summary)

        // Same size, other bytes: only the ETag tells.
        let overwrite = try aws(["s3", "cp", other, "s3://\(bucket)/changed/original.bin"])
        XCTAssertEqual(overwrite.status, 0, overwrite.summary)
        let remove = try aws(["s3", "rm", "s3://\(bucket)/changed/gone.bin"])
        XCTAssertEqual(remove.status, 0, remove.summary)

        let after = try s3verify([], input: .data(Data(records.utf8)))
        XCTAssertEqual(after.status, 1, after.summary)
        XCTAssertEqual(after.lines.count, 2, after.out)
        let changed = after.lines.first { $0.hasPrefix("FAILED s3://\(bucket)/changed/original.bin: ") }
        XCTAssertNotNil(changed, after.out)
        XCTAssertTrue(changed?.contains("ETag") ?? false, "the reason names the ETag: \(changed ?? "")")
        let missing = after.lines.first { $0.hasPrefix("FAILED s3://\(bucket)/changed/gone.bin: ") }
        XCTAssertNotNil(missing, after.out)
        XCTAssertTrue(missing?.contains("no such object") ?? false, "the reason: \(missing ?? "")")
    }

    // MARK: 3. Bit rot found by name

    func testDeepVerifyNamesTheDamagedFileInAnArchive() throws {
        let session = "sess-rot"
        let source = temp.file("src/" + session)
        try RestoreTree.make(at: source, bigSizes: [MiB, MiB + 1, 2 * MiB])
        let store = try makeDirectory("store")
        let url = "file://\(store)/\(session).tar"
        guard let put = try archiveAndPut(source, to: url) else { return }
        let records = put.line + "\n"
        let tar = store + "/\(session).tar"

        let index = try IndexFile(path: put.index)
        let victim = "\(session)/data/raw/frame2.fits"
        guard let entry = index.entries.first(where: { $0["path"] as? String == victim }),
              let offset = (entry["offset"] as? NSNumber)?.intValue else {
            XCTFail("\(victim) not in the index")
            return
        }
        // Bit rot: one byte changes inside that member's data, and the file's mtime stays what it was, so the store
        // still answers HEAD with the ETag it recorded.
        let reference = temp.file("mtime-reference")
        let copy = try runProcess("/bin/cp", ["--preserve=timestamps", tar, reference], environment: env.processEnvironment())
        XCTAssertEqual(copy.status, 0, copy.summary)
        try flipByte(tar, at: offset + 4_321)
        let touch = try runProcess(which("touch") ?? "/usr/bin/touch", ["-r", reference, tar], environment: env.processEnvironment())
        XCTAssertEqual(touch.status, 0, touch.summary)

        let shallow = try s3verify([], input: .data(Data(records.utf8)))
        XCTAssertEqual(shallow.status, 0, "HEAD cannot see bit rot: \(shallow.summary)")
        XCTAssertEqual(shallow.lines, ["OK \(url)"])

        let deep = try s3verify(["--deep"], input: .data(Data(records.utf8)))
        XCTAssertEqual(deep.status, 1, deep.summary)
        XCTAssertEqual(deep.lines, ["FAILED \(url): damaged: \(victim)"], "exactly that file is named")
    }

    // MARK: 4. Against local data

    func testAgainstLocalFileAndDirectory() throws {
        let bucket = try bucket
        let local = temp.file("local.bin")
        try makeRandomFile(local, size: 6 * MiB)
        let put = try s3put(["--part-size", "5MiB", local, "s3://\(bucket)/against/local.bin"])
        XCTAssertNotNil(singleRecord(put))
        let url = "s3://\(bucket)/against/local.bin"

        let same = try s3verify([url, "--against", local])
        XCTAssertEqual(same.status, 0, same.summary)
        XCTAssertEqual(same.lines, ["OK \(url)"])

        try flipByte(local, at: 5 * MiB + 3)
        let changed = try s3verify([url, "--against", local])
        XCTAssertEqual(changed.status, 1, changed.summary)
        XCTAssertEqual(changed.lines.count, 1, changed.out)
        XCTAssertTrue(changed.lines.first?.hasPrefix("FAILED \(url): ") ?? false, changed.out)

        // A prefix against a folder that holds one file more than the store.
        let folder = try makeDirectory("raw")
        for (name, size) in [("a", 1_000), ("b", 20_000), ("c", 0)] { try makeRandomFile(folder + "/" + name, size: size) }
        let prefixPut = try s3put(["a", "b", "c"].map { folder + "/" + $0 } + ["s3://\(bucket)/vraw/"])
        XCTAssertEqual(prefixPut.status, 0, prefixPut.summary)
        try makeRandomFile(folder + "/d", size: 10)
        let prefix = try s3verify(["s3://\(bucket)/vraw/", "--against", folder])
        XCTAssertEqual(prefix.status, 1, prefix.summary)
        let failed = prefix.lines.filter { $0.hasPrefix("FAILED") }
        XCTAssertEqual(failed.count, 1, prefix.out)
        XCTAssertTrue(failed.first?.hasPrefix("FAILED s3://\(bucket)/vraw/d: ") ?? false, "names the missing file: \(prefix.out)")
        XCTAssertEqual(Set(prefix.lines.filter { $0.hasPrefix("OK") }), Set(["a", "b", "c"].map { "OK s3://\(bucket)/vraw/\($0)" }))
    }

    // MARK: 5. Malformed records

    func testMalformedRecordIsADataErrorNamingTheLine() throws {
        let bucket = try bucket
        let small = temp.file("small.bin")
        try makeRandomFile(small, size: 100)
        let put = try s3put([small, "s3://\(bucket)/malformed/small.bin"])
        guard singleRecord(put) != nil else { return }
        let input = put.out + "this is not a record\n"
        let result = try s3verify([], input: .data(Data(input.utf8)))
        XCTAssertEqual(result.status, 65, result.summary)
        XCTAssertTrue(result.err.contains("line 2"), "names the line: \(result.err)")
        XCTAssertEqual(result.out, "", "nothing verified from a malformed input")
    }

    // MARK: 6. The catalog

    func testVerificationsAreRecordedInTheCatalog() throws {
        guard let uploaded = try uploadFileAndArchive("catalog") else { return }
        let catalog = temp.file("verify-catalog.sqlite")
        let shallow = try s3verify(["--catalog", catalog], input: .data(Data(uploaded.records.utf8)))
        XCTAssertEqual(shallow.status, 0, shallow.summary)
        let deep = try s3verify(["--catalog", catalog, "--deep"], input: .data(Data(uploaded.records.utf8)))
        XCTAssertEqual(deep.status, 0, deep.summary)
        let bucket = try bucket
        let remove = try aws(["s3", "rm", "s3://\(bucket)/catalog/file.bin"])
        XCTAssertEqual(remove.status, 0, remove.summary)
        let failing = try s3verify(["--catalog", catalog], input: .data(Data(uploaded.records.utf8)))
        XCTAssertEqual(failing.status, 1, failing.summary)

        guard let python = which("python3") else {
            XCTFail("python3 is not on PATH")
            return
        }
        let query = """
            import sqlite3, sys
            for row in sqlite3.connect(sys.argv[1]).execute("SELECT url, deep, outcome FROM verifications ORDER BY id"):
                print("|".join(str(v) for v in row))
            """
        let rows = try runProcess(python, ["-c", query, catalog], environment: env.processEnvironment())
        XCTAssertEqual(rows.status, 0, rows.summary)
        let (file, archive) = (uploaded.urls[0], uploaded.urls[1])
        XCTAssertEqual(rows.lines, ["\(file)|0|ok", "\(archive)|0|ok", "\(file)|1|ok", "\(archive)|1|ok",
                                    "\(file)|0|failed", "\(archive)|0|ok"])
    }
}
