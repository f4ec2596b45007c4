import Foundation
import Synchronization

/// How an object is cut into parts. Files use one size throughout; a stream of unknown length doubles its part
/// size every `doublingEvery` parts, so that 10,000 parts reach S3's 5 TiB limit.
public struct PartLayout: Sendable, Equatable, Codable {
    public var partSize: Int
    public var doublingEvery: Int?

    /// The schedule s3-put uses for standard input: double every 1,000 parts.
    public static let streamDoubling = 1000
    public static let maxParts = 10_000
    public static let maxPartSize = 5 << 30
    /// The object metadata (`x-amz-meta-…`) in which s3-put records the layout (see `ObjectInfo.recordedLayout`).
    public static let partSizeKey = "s3a-part-size"
    public static let doublingKey = "s3a-part-doubling-every"

    public init(partSize: Int, doublingEvery: Int? = nil) {
        self.partSize = partSize
        self.doublingEvery = doublingEvery
    }

    /// The size of part `number` (from 1).
    public func size(ofPart number: Int) -> Int {
        guard let every = doublingEvery else { return partSize }
        return min(partSize << min((number - 1) / every, 20), Self.maxPartSize)
    }

    /// The parts of an object of `total` bytes: (number, offset, length); one empty part for an empty object.
    public func parts(total: Int) -> [(number: Int, offset: Int, length: Int)] {
        var result: [(number: Int, offset: Int, length: Int)] = []
        var offset = 0
        var number = 1
        repeat {
            let length = min(size(ofPart: number), total - offset)
            result.append((number, offset, length))
            offset += length
            number += 1
        } while offset < total
        return result
    }

    /// A fixed layout for a file of known size, grown (by doubling, as aws-cli does) until it fits 10,000 parts.
    public static func forFile(size: Int, preferred: Int) -> PartLayout {
        var partSize = preferred
        while partSize < maxPartSize, (size + partSize - 1) / partSize > maxParts { partSize *= 2 }
        return PartLayout(partSize: partSize)
    }
}

/// The ETag S3 reports: the MD5 of a single-PUT object, or for a multipart upload the MD5 of the parts' binary
/// MD5s followed by `-N`.
public enum ETag {
    public static func unquote(_ etag: String) -> String {
        etag.trimmingCharacters(in: CharacterSet(charactersIn: "\" ")).lowercased()
    }

    /// The part count in a multipart ETag (`…-12` → 12), or nil for a single-part one.
    public static func partCount(_ etag: String) -> Int? {
        guard let dash = etag.lastIndex(of: "-") else { return nil }
        return Int(etag[etag.index(after: dash)...])
    }

    public static func isWellFormed(_ etag: String) -> Bool {
        let hexPart = etag.prefix { $0 != "-" }
        let hex = Set("0123456789abcdef")
        return hexPart.count == 32 && hexPart.allSatisfy { hex.contains($0) }
            && (etag.count == 32 || (partCount(etag).map { $0 >= 1 && $0 <= PartLayout.maxParts } ?? false))
    }

    static func bytes(ofHex hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            out.append(UInt8(hexValue(high) << 4 | hexValue(low)))
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> Int {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(c - UInt8(ascii: "A") + 10)
        default: return 0
        }
    }

    /// The ETag of parts whose MD5s are given, in order.
    public static func combine(_ partDigests: [[UInt8]]) -> String {
        if partDigests.count == 1 { return partDigests[0].hex }
        return Digest.md5(partDigests.flatMap { $0 }).hex + "-\(partDigests.count)"
    }

    /// The ETag of everything `reader` holds, cut by `layout`. Regular files hash their parts in parallel
    /// (positioned reads, one buffer per worker); streams are read once, in order.
    public static func compute(_ reader: FileReader, layout: PartLayout,
                               workers: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> String {
        if let size = reader.size {
            let parts = layout.parts(total: size)
            return combine(try hashParts(reader, parts, workers: max(1, workers)))
        }
        var digests: [[UInt8]] = []
        let digest = Digest(.md5)
        var buffer: [UInt8] = []
        let chunk = 1 << 20
        var number = 1
        while true {
            var remaining = layout.size(ofPart: number)
            var readAny = false
            while remaining > 0 {
                let n = try reader.read(into: &buffer, count: min(chunk, remaining))
                if n == 0 { break }
                readAny = true
                digest.update(buffer[..<n])
                remaining -= n
            }
            if !readAny && number > 1 { break }
            digests.append(digest.finish())
            if remaining > 0 { break }
            number += 1
        }
        return combine(digests)
    }

    static func hashParts(_ reader: FileReader, _ parts: [(number: Int, offset: Int, length: Int)],
                          workers: Int) throws -> [[UInt8]] {
        let results = PartDigests(count: parts.count)
        DispatchQueue.concurrentPerform(iterations: min(workers, parts.count)) { worker in
            let digest = Digest(.md5)
            var buffer: [UInt8] = []
            let chunk = 4 << 20
            var index = worker
            while index < parts.count, !results.failed {
                let part = parts[index]
                var done = 0
                do {
                    repeat {
                        let want = min(chunk, part.length - done)
                        let n = try reader.read(into: &buffer, count: want, at: part.offset + done)
                        if n < want {
                            throw Failure.io("\(reader.path): the file shrank while it was read")
                        }
                        digest.update(buffer[..<n])
                        done += n
                    } while done < part.length
                    results.set(index, digest.finish())
                } catch {
                    results.fail(error)
                }
                index += workers
            }
        }
        return try results.all()
    }

    /// Part sizes worth trying for an ETag with `count` parts over `size` bytes: the sizes the common tools use
    /// first (aws-cli 8 MiB, s3cmd 15 MiB, s5cmd 50 MiB, rclone 5 MiB, s3-put 16 MiB, and aws-cli's doublings),
    /// then every whole MiB that gives exactly `count` parts.
    public static func candidatePartSizes(count: Int, size: Int, preferred: [Int] = []) -> [Int] {
        let mib = 1 << 20
        let known = preferred + [8, 15, 50, 5, 16, 32, 64, 100, 128, 256, 512, 1024].map { $0 * mib }
        func fits(_ p: Int) -> Bool { p > 0 && (size + p - 1) / p == count && (count > 1 || size <= p) }
        var seen = Set<Int>()
        var result = known.filter { fits($0) && seen.insert($0).inserted }
        if count > 1 {
            // ceil(size/p) == count  ⇔  size/count ≤ p < size/(count-1)
            let low = max(1, (size + count - 1) / count)
            let high = (size - 1) / (count - 1)
            var p = ((low + mib - 1) / mib) * mib
            while p <= high {
                if seen.insert(p).inserted { result.append(p) }
                p += mib
            }
        }
        return result
    }

    /// The part size with which `reader`'s bytes give `etag`, or nil when none of the candidates does.
    public static func findPartSize(_ reader: FileReader, matching etag: String, preferred: [Int] = [],
                                    maxCandidates: Int = 64) throws -> Int? {
        let etag = unquote(etag)
        guard let size = reader.size else {
            throw Failure.usage("\(reader.path): --match and -c need a regular file, not a stream")
        }
        guard let count = partCount(etag) else {
            let whole = try compute(reader, layout: PartLayout(partSize: max(size, 1)))
            return whole == etag ? max(size, 1) : nil
        }
        for partSize in candidatePartSizes(count: count, size: size, preferred: preferred).prefix(maxCandidates) {
            if try compute(reader, layout: PartLayout(partSize: partSize)) == etag { return partSize }
        }
        return nil
    }
}

/// Results of parallel part hashing, filled in by index; the first error stops the other workers.
private final class PartDigests: Sendable {
    private let state: Mutex<(digests: [[UInt8]], error: Error?)>

    init(count: Int) { state = Mutex((Array(repeating: [], count: count), nil)) }

    var failed: Bool { state.withLock { $0.error != nil } }
    func set(_ index: Int, _ digest: [UInt8]) { state.withLock { $0.digests[index] = digest } }
    func fail(_ e: Error) { state.withLock { if $0.error == nil { $0.error = e } } }
    func all() throws -> [[UInt8]] {
        try state.withLock {
            if let error = $0.error { throw error }
            return $0.digests
        }
    }
}

/// An ETag taken from bytes as they stream past (a download, a read-back), cut into parts by a layout:
/// the bytes are hashed once, in order, whatever the chunks' sizes.
public final class StreamingETag {
    private let layout: PartLayout
    private let digest = Digest(.md5)
    private var digests: [[UInt8]] = []
    private var number = 1
    private var filled = 0

    public init(layout: PartLayout) { self.layout = layout }

    public func update(_ chunk: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < chunk.count {
            let take = min(layout.size(ofPart: number) - filled, chunk.count - offset)
            digest.update(UnsafeRawBufferPointer(rebasing: chunk[offset..<(offset + take)]))
            filled += take
            offset += take
            if filled == layout.size(ofPart: number) {
                digests.append(digest.finish())
                number += 1
                filled = 0
            }
        }
    }

    /// The ETag of everything fed; an empty stream is one empty part.
    public func finish() -> String {
        if filled > 0 || digests.isEmpty { digests.append(digest.finish()) }
        return ETag.combine(digests)
    }
}
