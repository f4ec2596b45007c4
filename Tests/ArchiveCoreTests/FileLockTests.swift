@testable import ArchiveCore
import Foundation
import XCTest

/// The locks beside the catalog: one byte per URL, held through one descriptor. Two descriptors of the same
/// file stand for two runs (open-file-description locks conflict between descriptions, even in one process).
final class FileLockTests: XCTestCase {
    func testAByteHeldByOneRunIsRefusedToAnotherUntilReleased() throws {
        let path = NSTemporaryDirectory() + "locks-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try FileLock(path: path)
        let second = try FileLock(path: path)
        defer { second.close() }
        let url = DestinationLocks.offset(of: "s3://bucket/raw/S.tar")
        let other = DestinationLocks.offset(of: "s3://bucket/raw/T.tar")
        XCTAssertTrue(try first.tryLock(at: url))
        XCTAssertTrue(try first.tryLock(at: url), "a run never waits for itself")
        XCTAssertFalse(try second.tryLock(at: url), "another run is refused the same URL")
        XCTAssertTrue(try second.tryLock(at: other), "but not another URL")
        first.close()
        XCTAssertTrue(try second.tryLock(at: url), "closing releases every lock")
    }

    func testOffsetsAreStablePositiveAndDistinct() {
        let urls = (0..<10_000).map { "s3://bucket/raw/2026/session-\($0).tar" }
        let offsets = urls.map(DestinationLocks.offset(of:))
        XCTAssertTrue(offsets.allSatisfy { $0 >= 0 })
        XCTAssertEqual(Set(offsets).count, urls.count)
        XCTAssertEqual(DestinationLocks.offset(of: urls[0]), offsets[0], "the same URL, the same byte, in every run")
    }
}
