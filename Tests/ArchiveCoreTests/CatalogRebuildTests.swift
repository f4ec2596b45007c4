@testable import ArchiveCore
import Foundation
import XCTest

/// What rebuild reads from a listing (which objects are archives, of which generation) and from a ROOT (where a
/// moved session is now), what refresh lists, and restore states in the users' words.
final class CatalogRebuildTests: XCTestCase {
    private func listing(_ keys: [String]) -> [ObjectInfo] { keys.map { ObjectInfo(key: $0, size: 1, etag: "e") } }

    func testArchivesAreObjectsWithAnIndexAndGenerationsNeedTheirFirst() {
        let found = StoredArchives(listing([
            "raw/2024/S.tar", "raw/2024/S.tar.index.json", "raw/2024/S.gen2.tar", "raw/2024/S.gen2.tar.index.json",
            "raw/2024/S.gen3.tar", "raw/2024/S.gen3.tar.index.json",
            // A session named X.gen2 whose first archive is not there: its own first generation.
            "raw/X.gen2.tar", "raw/X.gen2.tar.index.json",
            // No extension: S2.gen2 beside S2.
            "raw/S2", "raw/S2.index.json", "raw/S2.gen2", "raw/S2.gen2.index.json",
            "raw/plain.bin", "raw/gone.tar.index.json",
        ]))
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: found.archives.map { ($0.object.key, $0.generation) }),
                       ["raw/2024/S.tar": 1, "raw/2024/S.gen2.tar": 2, "raw/2024/S.gen3.tar": 3, "raw/X.gen2.tar": 1,
                        "raw/S2": 1, "raw/S2.gen2": 2])
        XCTAssertEqual(found.orphanIndexes, ["raw/gone.tar.index.json"])
    }

    func testSessionsThatMovedAreFoundByYearFolderAndName() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rebuild-places-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for folder in ["2024/A", "B", "2023/C"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        let places = try SessionPlaces(root: root)
        let resolved = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        XCTAssertEqual(places.path(for: "/old/disk/2024/A"), resolved + "/2024/A")
        XCTAssertEqual(places.path(for: "/old/disk/B"), resolved + "/B")
        XCTAssertEqual(places.path(for: resolved + "/2023/C"), resolved + "/2023/C")
        XCTAssertEqual(places.path(for: "/old/disk/2025/A"), "/old/disk/2025/A", "another year: not this session")
        XCTAssertEqual(places.path(for: "/old/disk/2023/B"), "/old/disk/2023/B", "B is straight under ROOT")
        XCTAssertNil(places.path(for: nil), "no recorded directory: matched by name, as before")
    }

    func testRefreshListsTheFolderAllKeysShare() {
        XCTAssertEqual(sharedFolder(["raw/2024/a.tar", "raw/2023/b.tar"]), "raw/")
        XCTAssertEqual(sharedFolder(["raw/2024/a.tar"]), "raw/2024/")
        XCTAssertEqual(sharedFolder(["raw/a.tar", "rawer/b.tar"]), "")
        XCTAssertEqual(sharedFolder([]), "")
    }

    func testRestoreStatesInWords() {
        XCTAssertEqual(RestoreState.describe(nil), "")
        XCTAssertEqual(RestoreState.describe("ongoing-request=\"true\""), "restoring")
        XCTAssertEqual(RestoreState.describe("ongoing-request=\"false\", expiry-date=\"Fri, 23 Dec 2012 00:00:00 GMT\""),
                       "restored until 2012-12-23T00:00:00Z")
    }
}
