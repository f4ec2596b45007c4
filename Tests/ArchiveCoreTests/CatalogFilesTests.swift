@testable import ArchiveCore
import Foundation
import XCTest

/// The catalog keeps each archive's files (what tells a pruned session from a changed one): recording them for a
/// 100,000-file session must stay well under a second, and they read back by path bytes.
final class CatalogFilesTests: XCTestCase {
    private func index(files count: Int) -> ArchiveIndex {
        var entries = [ArchiveIndex.Entry(path: ArchivePath("S"), type: "directory", size: 0, mode: 0o755, mtime: 1)]
        for n in 0..<count {
            entries.append(ArchiveIndex.Entry(path: ArchivePath("S/raw/\(n / 1000)/frame_\(n).fits"), type: "file",
                                              size: 1000 + n, mode: 0o644, mtime: 1_700_000_000.123456 + Double(n),
                                              sha256: String(repeating: "a", count: 64), offset: 512 * n))
        }
        entries.append(ArchiveIndex.Entry(path: ArchivePath(bytes: Array("S/caf".utf8) + [0xE9]), type: "hardlink", size: 1000,
                                          mode: 0o644, mtime: 1_700_000_000.123456, target: ArchivePath("S/raw/0/frame_0.fits")))
        entries.append(ArchiveIndex.Entry(path: ArchivePath("S/link"), type: "symlink", size: 0, mode: 0o777, mtime: 5,
                                          target: ArchivePath("raw")))
        return ArchiveIndex(format: ArchiveIndex.formatName, session: "S", source: "/data/S", created: "now",
                            archive: .init(size: 1, sha256: "b"), files: count, bytes: 0, newestMtime: 0, entries: entries)
    }

    func testHundredThousandFilesAreRecorded() throws {
        let directory = NSTemporaryDirectory() + "catalog-files-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let catalog = try Catalog(path: directory + "/catalog.sqlite")
        defer { catalog.close() }
        let archive = index(files: 100_000)
        var record = Record(url: "s3://bkt/raw/S.gen2.tar", bucket: "bkt", key: "raw/S.gen2.tar", size: 1, etag: "e",
                            layout: PartLayout(partSize: 1), parts: 1, storageClass: "STANDARD")
        record.generation = 2
        // How long this takes is measured, not asserted (a loaded machine is no failure): about 0.8 s in a debug
        // build, 77 ms of CPU in a release s3-put (issue 11's closing note).
        try catalog.recordStored(record, source: nil, archive: archive, sessionPath: "/data/S")

        let files = try catalog.archivedFiles(record.url)
        XCTAssertEqual(files.count, 100_001, "files and the hard link, not the folder or the symlink")
        XCTAssertEqual(files[Array("raw/7/frame_7001.fits".utf8)]?.size, 8001, "paths relative to the session")
        XCTAssertEqual(files[Array("raw/7/frame_7001.fits".utf8)]?.mtime, 1_700_000_000.123456 + 7001)
        XCTAssertNotNil(files[Array("caf".utf8) + [0xE9]], "a Latin-1 name, byte for byte")
        XCTAssertEqual(Catalog.firstURL(of: record.url, generation: 2), "s3://bkt/raw/S.tar",
                       "the second generation belongs to the first's archive")
        XCTAssertEqual(Catalog.firstURL(of: "file:///data/b/S.gen3", generation: 3), "file:///data/b/S")

        // Recorded again (a retried put): the same rows, not twice as many.
        try catalog.recordStored(record, source: nil, archive: archive, sessionPath: "/data/S")
        XCTAssertEqual(try catalog.archivedFiles(record.url).count, 100_001)
    }
}
