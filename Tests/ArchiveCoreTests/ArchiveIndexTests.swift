@testable import ArchiveCore
import Foundation
import XCTest

/// The index s3-archive writes by hand (IndexWriter) reads back through JSONDecoder as the same entries: names
/// that are not UTF-8, quotes, backslashes, control characters and fractional times included.
final class ArchiveIndexTests: XCTestCase {
    func testStreamedIndexReadsBackExactly() throws {
        let directory = NSTemporaryDirectory() + "index-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/S.idx"
        let entries: [ArchiveIndex.Entry] = [
            .init(path: "S", type: "directory", size: 0, mode: 0o755, mtime: 1_700_000_000),
            .init(path: ArchivePath(bytes: Array("S/caf".utf8) + [0xE9] + Array(".fits".utf8)), type: "file", size: 5,
                  mode: 0o644, mtime: 1_700_000_000.123456, sha256: String(repeating: "a", count: 64), offset: 1536),
            .init(path: "S/quote\"back\\slash\ttab\u{1}ctl/é", type: "file", size: 0, mode: 0o600, mtime: 0.5,
                  sha256: String(repeating: "b", count: 64), offset: 3072),
            .init(path: "S/link", type: "symlink", size: 0, mode: 0o777, mtime: 1e9,
                  target: ArchivePath(bytes: [0x2E, 0x2E, 0x2F, 0xFF])),
            .init(path: "S/hard", type: "hardlink", size: 5, mode: 0o644, mtime: 2, target: "S/quote\"back\\slash\ttab\u{1}ctl/é",
                  sha256: String(repeating: "b", count: 64)),
        ]
        let writer = try IndexWriter(path: path)
        for entry in entries { try writer.add(entry) }
        let totals = ArchiveIndex(format: ArchiveIndex.formatName, session: "S \"quoted\"", source: "/data/S", created: "2026-11-30T00:00:00Z",
                                  archive: .init(size: 10240, sha256: String(repeating: "c", count: 64), crc64nvme: "rosUhgp5mIg="),
                                  files: 2, bytes: 5, newestMtime: 1_700_000_000.123456, entries: [])
        try writer.finish(totals)

        let read = try ArchiveIndex.decode(try Data(contentsOf: URL(fileURLWithPath: path)), source: path)
        XCTAssertEqual(read.entries, entries, "every entry, byte for byte")
        var expected = totals
        expected.entries = entries
        XCTAssertEqual(read, expected, "the totals too")
        let spools = try FileManager.default.contentsOfDirectory(atPath: ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp")
            .filter { $0.hasPrefix(".s3-archive-entries.tmp-\(ProcessInfo.processInfo.processIdentifier)-") }
        XCTAssertEqual(spools, [], "no spool left behind")
        // The same document JSONEncoder writes, but for layout: both decode to the same index.
        XCTAssertEqual(try ArchiveIndex.decode(try expected.encoded(), source: "encoded"), read)
    }
}
