@testable import ArchiveCore
import Foundation
import XCTest

/// The spool a part too large for memory goes through: what is appended reads back at any offset, and the
/// file never has a name another process could open.
final class SpoolFileTests: XCTestCase {
    func testBytesReadBackAndNoFileIsLeftInTheFolder() throws {
        let folder = NSTemporaryDirectory() + "spool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let chunks = (0..<5).map { n in (0..<(100_000 + n)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) } }
        let spool = try SpoolFile.make(in: folder) { append in
            for chunk in chunks { try append(chunk[...]) }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [], "the spool has no name")
        XCTAssertEqual(spool.count, chunks.reduce(0) { $0 + $1.count })
        XCTAssertEqual(try spool.readAll(), chunks.flatMap { $0 })
        // A read at an offset (a retried request reads from the start again; curl asks in pieces).
        var piece = [UInt8](repeating: 0, count: 1000)
        let n = try piece.withUnsafeMutableBytes { try spool.read(into: $0, at: spool.count - 600) }
        XCTAssertEqual(n, 600)
        XCTAssertEqual(Array(piece[..<n]), Array(chunks.flatMap { $0 }.suffix(600)))
    }

    func testAMissingFolderIsReportedWithWhatToDo() {
        XCTAssertThrowsError(try SpoolFile.make(in: "/nonexistent-\(UUID().uuidString)") { _ in }) { error in
            XCTAssertEqual((error as? ReportableError)?.exitStatus, .ioError)
            XCTAssertTrue("\(error)".contains("TMPDIR"), "\(error)")
        }
    }
}
