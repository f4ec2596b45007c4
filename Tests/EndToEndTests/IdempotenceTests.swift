import Foundation
import XCTest

/// DESIGN.md, Upload: "an identical object already there (same size and ETag) is skipped". Requests go through
/// the pass-through proxy (with no fault) so the test sees whether any data was sent.
final class IdempotenceTests: EndToEndCase {
    private var proxy: FaultProxy?

    override func tearDownWithError() throws {
        proxy?.stop()
        proxy = nil
        try super.tearDownWithError()
    }

    /// Data-carrying requests (PUT, POST) in the proxy's log.
    private func writes(_ log: [String]) -> [String] {
        log.filter { $0.hasPrefix("PUT ") || $0.hasPrefix("POST ") }
    }

    func testIdenticalObjectIsSkippedAndForceSendsItAgain() throws {
        let bucket = try bucket
        let proxy = try FaultProxy(upstream: env.endpoint, directory: temp.path, environment: env.processEnvironment(),
                                   failPart: 0, status: 500, code: "None", times: 0)
        self.proxy = proxy
        let source = temp.file("same.bin")
        try makeRandomFile(source, size: 11 * MiB)
        let url = "s3://\(bucket)/idempotent/same.bin"
        let base = ["--endpoint-url", proxy.endpoint, "--part-size", "5MiB"]

        let first = try s3put(base + [source, url], endpoint: false)
        let stored = singleRecord(first)
        XCTAssertNotEqual(stored?.skipped, true)
        XCTAssertFalse(writes(proxy.requestLog()).isEmpty, "the first upload sends data")

        // Again, same catalog: nothing sent, a record saying so.
        var seen = proxy.requestLog().count
        let again = try s3put(base + [source, url], endpoint: false)
        let skipped = singleRecord(again)
        XCTAssertEqual(skipped?.skipped, true, "an identical object is skipped: \(again.out)")
        XCTAssertEqual(skipped?.etag, stored?.etag)
        XCTAssertEqual(skipped?.size, 11 * MiB)
        XCTAssertEqual(writes(Array(proxy.requestLog().dropFirst(seen))), [], "nothing may be sent for an identical object")

        // Without the catalog's memory (another catalog): the file is hashed against the remote ETag, still skipped.
        seen = proxy.requestLog().count
        let fresh = try s3put(base + [source, url], endpoint: false,
                              environment: ["S3_ARCHIVE_CATALOG": temp.file("other-catalog.sqlite")])
        XCTAssertEqual(singleRecord(fresh)?.skipped, true, fresh.out)
        XCTAssertEqual(writes(Array(proxy.requestLog().dropFirst(seen))), [])

        // --force sends it anyway.
        seen = proxy.requestLog().count
        let forced = try s3put(base + ["--force", source, url], endpoint: false)
        XCTAssertNotEqual(singleRecord(forced)?.skipped, true)
        XCTAssertFalse(writes(Array(proxy.requestLog().dropFirst(seen))).isEmpty, "--force uploads again")

        // Same size, different bytes: not identical, so refused (nothing sent); with --replace, uploaded.
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: source))
        try handle.seek(toOffset: 6 * UInt64(MiB))
        try handle.write(contentsOf: Data("changed".utf8))
        try handle.close()
        seen = proxy.requestLog().count
        let refused = try s3put(base + [source, url], endpoint: false)
        XCTAssertEqual(refused.status, 73, refused.summary)
        XCTAssertEqual(writes(Array(proxy.requestLog().dropFirst(seen))), [], "nothing is sent for a refused input")
        seen = proxy.requestLog().count
        let changed = try s3put(base + ["--replace", source, url], endpoint: false)
        let changedRecord = singleRecord(changed)
        XCTAssertNotEqual(changedRecord?.skipped, true)
        XCTAssertNotEqual(changedRecord?.etag, stored?.etag)
        XCTAssertFalse(writes(Array(proxy.requestLog().dropFirst(seen))).isEmpty, "changed bytes are uploaded")
        XCTAssertEqual(try readBackSHA256(bucket, "idempotent/same.bin"), try sha256(ofFile: source))
    }
}
