@testable import ArchiveCore
import Foundation
import XCTest

final class ETagTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("etag-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func file(_ bytes: [UInt8]) throws -> FileReader {
        let url = directory.appendingPathComponent(UUID().uuidString)
        try Data(bytes).write(to: url)
        return try FileReader(path: url.path)
    }

    /// The definition, written out slowly and independently of ETag.compute.
    func reference(_ bytes: [UInt8], partSize: Int) -> String {
        if bytes.count <= partSize { return Digest.md5(bytes).hex }
        var digests: [UInt8] = []
        var count = 0
        for start in stride(from: 0, to: bytes.count, by: partSize) {
            digests += Digest.md5(Array(bytes[start..<min(start + partSize, bytes.count)]))
            count += 1
        }
        return Digest.md5(digests).hex + "-\(count)"
    }

    func testKnownDigests() {
        XCTAssertEqual(Digest.md5(Array("".utf8)).hex, "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(Digest.sha256(Array("abc".utf8)).hex,
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Digest.hmacSHA256(key: Array("key".utf8), Array("The quick brown fox jumps over the lazy dog".utf8)).hex,
                       "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
    }

    func testFileETagsAtBoundariesMatchTheDefinition() throws {
        let part = 1000
        for size in [0, 1, part - 1, part, part + 1, 3 * part, 3 * part + 7] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255) }
            let expected = reference(bytes, partSize: part)
            XCTAssertEqual(try ETag.compute(file(bytes), layout: PartLayout(partSize: part)), expected, "size \(size)")
            XCTAssertEqual(try ETag.compute(file(bytes), layout: PartLayout(partSize: part), workers: 1), expected)
        }
    }

    func testStreamsGiveTheSameETagAsFiles() throws {
        let bytes = (0..<5_432).map { _ in UInt8.random(in: 0...255) }
        let pipe = Pipe()
        let writer = pipe.fileHandleForWriting
        DispatchQueue.global().async { writer.write(Data(bytes)); try? writer.close() }
        let reader = try FileReader(fileDescriptor: pipe.fileHandleForReading.fileDescriptor, path: "-")
        XCTAssertNil(reader.size)
        XCTAssertEqual(try ETag.compute(reader, layout: PartLayout(partSize: 1000)), reference(bytes, partSize: 1000))
    }

    func testStreamingETagAgreesWhateverTheChunks() {
        for size in [0, 1, 999, 1000, 1001, 7_777] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255) }
            for layout in [PartLayout(partSize: 1000), PartLayout(partSize: 300, doublingEvery: 2)] {
                let streaming = StreamingETag(layout: layout)
                var offset = 0
                while offset < bytes.count {
                    let n = min(Int.random(in: 1...1500), bytes.count - offset)
                    bytes[offset..<(offset + n)].withUnsafeBytes { streaming.update($0) }
                    offset += n
                }
                var parts: [[UInt8]] = []
                for part in layout.parts(total: size) {
                    parts.append(Digest.md5(Array(bytes[part.offset..<(part.offset + part.length)])))
                }
                XCTAssertEqual(streaming.finish(), ETag.combine(parts), "size \(size), layout \(layout)")
            }
        }
    }

    func testDoublingLayout() {
        let layout = PartLayout(partSize: 8, doublingEvery: 2)
        XCTAssertEqual((1...6).map(layout.size(ofPart:)), [8, 8, 16, 16, 32, 32])
        XCTAssertEqual(layout.parts(total: 40).map(\.length), [8, 8, 16, 8])
        // A simulated 5 TiB stream: from s3-put's default 16 MiB (and from 8 MiB) it fits in 10,000 parts, every
        // part between S3's 5 MiB minimum and 5 GiB maximum, and the parts cover the stream exactly.
        for first in [16 << 20, 8 << 20] {
            let stream = PartLayout(partSize: first, doublingEvery: PartLayout.streamDoubling)
            let parts = stream.parts(total: 5 << 40)
            XCTAssertLessThanOrEqual(parts.count, PartLayout.maxParts, "from \(first >> 20) MiB")
            XCTAssertTrue(parts.dropLast().allSatisfy { $0.length >= 5 << 20 && $0.length <= PartLayout.maxPartSize })
            XCTAssertEqual(parts.reduce(0) { $0 + $1.length }, 5 << 40)
            XCTAssertEqual(parts.last.map { $0.offset + $0.length }, 5 << 40)
        }
        // From the 5 MiB minimum the schedule holds 1,023,000 × 5 MiB ≈ 4.88 TiB: s3-put stops with a message
        // at part 10,001 rather than go past S3's limit (documented in s3-put(1)).
        let smallest = PartLayout(partSize: 5 << 20, doublingEvery: PartLayout.streamDoubling)
        XCTAssertEqual((1...PartLayout.maxParts).reduce(0) { $0 + smallest.size(ofPart: $1) }, 1_023_000 * (5 << 20))
    }

    /// The memory budget over the same simulated 5 TiB stream (and a 5 TiB file): at s3-put's defaults (1 GiB,
    /// concurrency 4) and at a tight budget, every part held in memory is within budget / concurrency, every
    /// larger part is spooled, the parts in hand together never exceed the budget, and the count stays within
    /// S3's 10,000. Without the budget the last stream parts (512 MiB × 4 in flight) would need 2 GiB.
    func testMemoryBudgetHoldsForAFiveTiBSchedule() {
        let total = 5 << 40
        for (memory, concurrency, partSize) in [(1 << 30, 4, 16 << 20), (256 << 20, 8, 16 << 20), (32 << 20, 4, 8 << 20)] {
            var options = UploadOptions()
            options.memory = memory
            options.concurrency = concurrency
            options.partSize = partSize
            let label = "\(memory >> 20) MiB, concurrency \(concurrency), parts from \(partSize >> 20) MiB"
            let layouts = [("stream", PartLayout(partSize: partSize, doublingEvery: PartLayout.streamDoubling), true),
                           ("file", PartLayout.forFile(size: total, preferred: partSize), false)]
            for (kind, layout, isStream) in layouts {
                let budget = MemoryBudget(options, isStream: isStream)
                let parts = layout.parts(total: total)
                XCTAssertLessThanOrEqual(parts.count, PartLayout.maxParts, "\(kind), \(label)")
                XCTAssertEqual(budget.share, max(memory / max(isStream ? 2 : 1, concurrency), partSize))
                let inMemory = parts.filter { budget.keepsInMemory($0.length) }
                let spooled = parts.filter { !budget.keepsInMemory($0.length) }
                XCTAssertTrue(inMemory.allSatisfy { $0.length <= memory / concurrency }, "\(kind), \(label)")
                XCTAssertTrue(spooled.allSatisfy { $0.length > budget.share }, "\(kind), \(label)")
                // The worst moment: every slot holding the largest part kept in memory.
                let peak = budget.slots * (inMemory.map(\.length).max() ?? 0)
                XCTAssertLessThanOrEqual(peak, memory, "\(kind), \(label)")
                XCTAssertFalse(spooled.isEmpty, "5 TiB outgrows \(label) (\(kind))")
            }
        }
        // The benchmark's case: 5 MiB parts under 32 MiB at concurrency 4 (8 MiB shares): the first 1,000 parts
        // stay in memory and the doubled ones (10 MiB, from part 1,001) are spooled.
        var options = UploadOptions()
        (options.memory, options.concurrency, options.partSize) = (32 << 20, 4, 5 << 20)
        let budget = MemoryBudget(options, isStream: true)
        let stream = PartLayout(partSize: 5 << 20, doublingEvery: PartLayout.streamDoubling)
        XCTAssertTrue(budget.keepsInMemory(stream.size(ofPart: 1000)))
        XCTAssertFalse(budget.keepsInMemory(stream.size(ofPart: 1001)))
    }

    func testFileLayoutGrowsToFitTenThousandParts() {
        XCTAssertEqual(PartLayout.forFile(size: 100 << 20, preferred: 8 << 20).partSize, 8 << 20)
        let huge = PartLayout.forFile(size: 1 << 40, preferred: 8 << 20)
        XCTAssertLessThanOrEqual(huge.parts(total: 1 << 40).count, PartLayout.maxParts)
        XCTAssertEqual(huge.partSize, 128 << 20)
    }

    func testMatchInfersThePartSize() throws {
        let bytes = (0..<(12 << 20) + 5).map { _ in UInt8.random(in: 0...255) }
        let reader = try file(bytes)
        for size in [5 << 20, 8 << 20, 3 << 20] {
            let etag = reference(bytes, partSize: size)
            XCTAssertEqual(try ETag.findPartSize(reader, matching: "\"\(etag)\""), size, "part size \(size)")
        }
        XCTAssertEqual(try ETag.findPartSize(reader, matching: Digest.md5(bytes).hex), bytes.count)
        XCTAssertNil(try ETag.findPartSize(reader, matching: "0123456789abcdef0123456789abcdef-3"))
    }

    func testCandidateSizesAllGiveTheRightPartCount() {
        let size = 100_000_000
        let candidates = ETag.candidatePartSizes(count: 12, size: size)
        XCTAssertEqual(candidates.first, 8 << 20)
        XCTAssertTrue(candidates.allSatisfy { (size + $0 - 1) / $0 == 12 })
    }

    /// The first part's length is the part size only when it splits the object into the parts both the server
    /// and the ETag count.
    func testLayoutFromTheFirstPart() {
        let size = 12_000_000
        XCTAssertEqual(PartLayout(FirstPart(length: 5_632_000, partsCount: 3), size: size, etagParts: 3),
                       PartLayout(partSize: 5_632_000))
        XCTAssertEqual(PartLayout(FirstPart(length: 5_631_901, partsCount: 3), size: size, etagParts: 3)?.partSize, 5_631_901)
        XCTAssertNil(PartLayout(FirstPart(length: 5_632_000, partsCount: 4), size: size, etagParts: 3), "counts disagree")
        XCTAssertNil(PartLayout(FirstPart(length: 5_632_000, partsCount: nil), size: size, etagParts: 3), "no count")
        XCTAssertNil(PartLayout(FirstPart(length: 3_000_000, partsCount: 3), size: size, etagParts: 3), "4 parts of that size")
        XCTAssertNil(PartLayout(FirstPart(length: 0, partsCount: 3), size: size, etagParts: 3))
        XCTAssertEqual(PartLayout(FirstPart(length: 8 << 20, partsCount: 2), size: 16 << 20, etagParts: 2)?.partSize, 8 << 20)
    }

    func testPartSizesPrintExactly() {
        XCTAssertEqual(exactSize(8 << 20), "8 MiB")
        XCTAssertEqual(exactSize(5500 * 1024), "5500 KiB")
        XCTAssertEqual(exactSize(5_631_901), "5631901 B")
        XCTAssertEqual(exactSize(1 << 30), "1 GiB")
        XCTAssertEqual(exactSize(1536 << 20), "1536 MiB")
    }

    func testWellFormedETags() {
        XCTAssertTrue(ETag.isWellFormed("d41d8cd98f00b204e9800998ecf8427e"))
        XCTAssertTrue(ETag.isWellFormed("d41d8cd98f00b204e9800998ecf8427e-12"))
        XCTAssertFalse(ETag.isWellFormed("d41d8cd98f00b204e9800998ecf8427"))
        XCTAssertFalse(ETag.isWellFormed("d41d8cd98f00b204e9800998ecf8427e-0"))
        XCTAssertFalse(ETag.isWellFormed("zz1d8cd98f00b204e9800998ecf8427e"))
        XCTAssertEqual(ETag.unquote("\"ABC\""), "abc")
    }
}
