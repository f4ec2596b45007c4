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

    func testAWholeFileLockKeepsOutEveryByteAndWaitsForThem() throws {
        let path = NSTemporaryDirectory() + "locks-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let small = try FileLock(path: path)
        let large = try FileLock(path: path)
        defer { large.close() }
        let url = DestinationLocks.offset(of: "s3://bucket/raw/S.tar")
        XCTAssertTrue(try small.tryLock(at: url))
        XCTAssertFalse(try large.tryLockAll(), "a large run is refused while any byte is held")
        small.close()
        XCTAssertTrue(try large.tryLockAll())
        let later = try FileLock(path: path)
        defer { later.close() }
        XCTAssertFalse(try later.tryLock(at: DestinationLocks.offset(of: "s3://bucket/raw/T.tar")),
                       "and, holding the whole file, keeps out a run writing any URL")
    }

    func testAManyURLRunTakesTheWholeFileAndKeepsOthersOut() throws {
        let directory = NSTemporaryDirectory() + "locks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let catalog = try Catalog(path: directory + "/catalog.sqlite")
        defer { catalog.close() }
        let urls = (0..<(DestinationLocks.mostBytes + 1)).map { "s3://bucket/raw/2026/session-\($0).tar" }
        let locks = try DestinationLocks.acquire(urls, catalog: catalog, waiting: { XCTFail("nobody else runs: \($0)") })
        let other = try FileLock(path: catalog.path + ".lock")
        defer { other.close() }
        XCTAssertFalse(try other.tryLock(at: DestinationLocks.offset(of: "s3://elsewhere/x")))
        locks.release()
        XCTAssertTrue(try other.tryLock(at: DestinationLocks.offset(of: "s3://elsewhere/x")))
    }

    func testOffsetsAreStablePositiveAndDistinct() {
        let urls = (0..<10_000).map { "s3://bucket/raw/2026/session-\($0).tar" }
        let offsets = urls.map(DestinationLocks.offset(of:))
        XCTAssertTrue(offsets.allSatisfy { $0 >= 0 })
        XCTAssertEqual(Set(offsets).count, urls.count)
        XCTAssertEqual(DestinationLocks.offset(of: urls[0]), offsets[0], "the same URL, the same byte, in every run")
    }
}
