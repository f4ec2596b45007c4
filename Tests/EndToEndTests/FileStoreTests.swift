import Foundation
import XCTest

/// The local directory store (`file:///path`): what s3-put stores there is the same bytes, and the record's
/// ETag is the one S3 would report for the same upload, as s3-etag computes it.
final class FileStoreTests: EndToEndCase {
    func testFileAndStreamRoundTripThroughAFileStore() throws {
        let store = temp.file("store")
        let big = temp.file("session.tar")
        try makeRandomFile(big, size: 11 * MiB + 5)  // 3 parts of 5 MiB
        let small = temp.file("notes.txt")
        try makeRandomFile(small, size: 4_096)

        // A file, multipart.
        let put = try s3put(["--part-size", "5MiB", big, "file://\(store)/archive/session.tar"], endpoint: false)
        if let record = singleRecord(put) {
            XCTAssertEqual(record.url, "file://\(store)/archive/session.tar")
            XCTAssertEqual(record.size, 11 * MiB + 5)
            XCTAssertEqual(record.parts, 3)
            XCTAssertEqual(record.partSize, 5 * MiB)
            XCTAssertEqual(record.etag, try etagOf(big, partSize: "5MiB"))
            XCTAssertTrue(matches(record.etag, "-3$"), record.etag)
        }
        XCTAssertEqual(try sha256(ofFile: "\(store)/archive/session.tar"), try sha256(ofFile: big))

        // A stream of unknown length, multipart.
        let stream = try s3put(["--part-size", "5MiB", "file://\(store)/archive/stream.tar"],
                               input: .pipedFile(big), endpoint: false)
        if let record = singleRecord(stream) {
            XCTAssertEqual(record.size, 11 * MiB + 5)
            XCTAssertEqual(record.parts, 3)
            XCTAssertEqual(record.etag, try etagOf(big, partSize: "5MiB"))
        }
        XCTAssertEqual(try sha256(ofFile: "\(store)/archive/stream.tar"), try sha256(ofFile: big))

        // A small stream, one PUT: a plain MD5.
        let one = try s3put(["file://\(store)/archive/notes-stream.txt"], input: .pipedFile(small), endpoint: false)
        XCTAssertEqual(singleRecord(one)?.etag, try md5(ofFile: small))
        XCTAssertEqual(try sha256(ofFile: "\(store)/archive/notes-stream.txt"), try sha256(ofFile: small))

        // Several files to a prefix of the store.
        let several = try s3put(["--part-size", "5MiB", big, small, "file://\(store)/prefix/"], endpoint: false)
        XCTAssertEqual(several.status, 0, several.summary)
        XCTAssertEqual(records(several).map(\.url), ["file://\(store)/prefix/session.tar", "file://\(store)/prefix/notes.txt"])
        XCTAssertEqual(try sha256(ofFile: "\(store)/prefix/session.tar"), try sha256(ofFile: big))
        XCTAssertEqual(try sha256(ofFile: "\(store)/prefix/notes.txt"), try sha256(ofFile: small))

        // No multipart upload state is left in the store once the uploads are done.
        let leftovers = (FileManager.default.enumerator(atPath: store)?.allObjects as? [String] ?? [])
            .filter { $0.contains(".upload-") }
        XCTAssertEqual(leftovers, [], "unfinished upload directories left in the store")
    }

    /// The store needs no credentials and no server: s3-put must not ask for either.
    func testFileStoreNeedsNoCredentials() throws {
        let store = temp.file("store")
        let source = temp.file("x.bin")
        try makeRandomFile(source, size: 6 * MiB)
        let result = try s3put(["--part-size", "5MiB", source, "file://\(store)/x.bin"], endpoint: false,
                               environment: ["AWS_ACCESS_KEY_ID": nil, "AWS_SECRET_ACCESS_KEY": nil])
        XCTAssertEqual(singleRecord(result)?.etag, try etagOf(source, partSize: "5MiB"))
        XCTAssertEqual(try sha256(ofFile: "\(store)/x.bin"), try sha256(ofFile: source))
    }
}

/// A directory has no thaw: what is stored there as GLACIER or DEEP_ARCHIVE is readable at once, so it restores
/// and passes a deep check on the first run.
final class FileStoreColdClassTests: EndToEndCase {
    func testColdClassesInAFileStoreRestoreAndVerifyAtOnce() throws {
        let store = temp.file("store")
        let source = temp.file("a.raw"), big = temp.file("big.raw")
        try makeRandomFile(source, size: 4_000)
        try makeRandomFile(big, size: 6 * MiB)
        var records = ""
        for (path, storageClass) in [(source, "DEEP_ARCHIVE"), (big, "GLACIER")] {
            let put = try s3put(["--storage-class", storageClass, "--part-size", "5MiB", path,
                                 "file://\(store)/cold/\((path as NSString).lastPathComponent)"], endpoint: false)
            XCTAssertEqual(put.status, 0, put.summary)
            XCTAssertEqual(singleRecord(put)?.storageClass, storageClass)
            records += put.out
        }
        let recordFile = temp.file("records.jsonl")
        try records.write(toFile: recordFile, atomically: true, encoding: .utf8)
        let destination = try makeDirectory("dest")
        let restored = try s3restore(["--to", destination, "file://\(store)/cold/"])
        XCTAssertEqual(restored.status, 0, restored.summary)
        XCTAssertEqual(try sha256(ofFile: destination + "/a.raw"), try sha256(ofFile: source))
        XCTAssertEqual(try sha256(ofFile: destination + "/big.raw"), try sha256(ofFile: big))
        let deep = try s3verify(["--deep", recordFile])
        XCTAssertEqual(deep.status, 0, deep.summary)
        XCTAssertEqual(deep.lines.count, 2, deep.out)

        // An archive stored in DEEP_ARCHIVE there, with its index.
        let session = try makeDirectory("S2")
        try makeRandomFile(session + "/c.fits", size: 5_000)
        let url = "file://\(store)/cold/S2.tar"
        guard let archived = try archiveAndPut(session, to: url, extra: ["--storage-class", "DEEP_ARCHIVE"]) else { return }
        let archiveRestore = try makeDirectory("archive-dest")
        let fromArchive = try s3restore(["--to", archiveRestore, url])
        XCTAssertEqual(fromArchive.status, 0, fromArchive.summary)
        XCTAssertEqual(try sha256(ofFile: archiveRestore + "/S2/c.fits"), try sha256(ofFile: session + "/c.fits"))
        let deepArchive = try s3verify(["--deep"], input: .data(Data((archived.line + "\n").utf8)))
        XCTAssertEqual(deepArchive.status, 0, deepArchive.summary)
    }
}
