/// The 512-byte ustar header that precedes a file's data in the tar, read to check the index against the archive.
/// The index says where a file's bytes are and what they hash to, but not that they are that file's: an index with
/// one path byte changed would restore `b.fits`'s bytes, hash and all, as `c.fits`. The tar names each file just
/// before its data, so the block before the index's offset must be a valid header naming the entry's path.
struct UstarBlock {
    static let size = 512
    let bytes: [UInt8]

    /// Why the block does not describe `path` with `size` bytes of data; nil when it does, or when the path is one
    /// a pax_restricted tar cannot hold in its ustar fields (long or not ASCII: the pax record before the block has
    /// it, and it is not fetched), where the block is still checked to be a valid header of a regular file.
    func mismatch(path: ArchivePath, size: Int) -> String? {
        guard bytes.count == Self.size, hasValidChecksum else {
            return "the tar has no header just before the index's offset for this file (the index is damaged)"
        }
        guard [0x30, 0x00, 0x37].contains(bytes[156]) else {
            return "the tar's header before the index's offset is not a regular file's (the index is damaged)"
        }
        if let recorded = octal(124..<136), size < 0o77777777777, recorded != size {
            return "the tar's header gives \(recorded) bytes, the index \(size) (the index is damaged)"
        }
        let named = self.path
        if named == path.bytes || !Self.fitsUstar(path.bytes) { return nil }
        return "the tar's header names \(ArchivePath(bytes: named)), not this path (the index is damaged)"
    }

    /// prefix/name, as a ustar header splits a path.
    var path: [UInt8] {
        let name = field(0..<100), prefix = field(345..<500)
        return prefix.isEmpty ? name : prefix + [0x2F] + name
    }

    /// True when a pax_restricted writer surely stores `path` in the ustar name field as it is: printable ASCII
    /// of at most 100 bytes. (Longer ones may be split into prefix and name, or left to the pax record.)
    static func fitsUstar(_ path: [UInt8]) -> Bool {
        path.count <= 100 && path.allSatisfy { (0x20..<0x7F).contains($0) }
    }

    private func field(_ range: Range<Int>) -> [UInt8] { Array(bytes[range].prefix { $0 != 0 }) }

    private func octal(_ range: Range<Int>) -> Int? {
        let digits = bytes[range].drop { $0 == 0x20 || $0 == 0x30 }.prefix { (0x30...0x37).contains($0) }
        guard bytes[range].first.map({ $0 & 0x80 == 0 }) ?? false else { return nil }
        return digits.reduce(0) { $0 * 8 + Int($1 - 0x30) }
    }

    /// The header's checksum field equals the sum of its bytes with that field taken as spaces.
    private var hasValidChecksum: Bool {
        guard let recorded = octal(148..<156) else { return false }
        let sum = bytes.enumerated().reduce(0) { $0 + ((148..<156).contains($1.offset) ? 0x20 : Int($1.element)) }
        return sum == recorded
    }
}
