import CShims
import Foundation

/// CRC-64/NVME, the full-object checksum S3 stores as `x-amz-checksum-crc64nvme`: a running value (feed bytes
/// in order with `update`), joinable (`combine`) so that parts checksummed on different threads make the
/// whole object's. Carry-less multiplication where the CPU has it (~10 GB/s on one core), tables elsewhere.
public struct CRC64NVME: Sendable, Equatable {
    /// The checksum of the bytes fed so far (0 for none).
    public private(set) var value: UInt64 = 0
    /// How many bytes were fed: what `combine` needs of the second half.
    public private(set) var count: Int = 0

    public init() {}

    public init(value: UInt64, count: Int) {
        self.value = value
        self.count = count
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        value = s3a_crc64nvme_update(value, base, bytes.count)
        count += bytes.count
    }

    public mutating func update<Bytes: ContiguousBytes>(_ bytes: Bytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The checksum of these bytes followed by `next`'s.
    public mutating func append(_ next: CRC64NVME) {
        value = s3a_crc64nvme_combine(value, next.value, UInt64(next.count))
        count += next.count
    }

    public static func checksum<Bytes: ContiguousBytes>(_ bytes: Bytes) -> CRC64NVME {
        var crc = CRC64NVME(); crc.update(bytes); return crc
    }

    /// The checksum of the parts' bytes one after the other.
    public static func combine<Parts: Sequence>(_ parts: Parts) -> CRC64NVME where Parts.Element == CRC64NVME {
        parts.reduce(into: CRC64NVME()) { $0.append($1) }
    }

    /// As S3 writes it: base64 of the eight bytes, most significant first.
    public var base64: String {
        Data(withUnsafeBytes(of: value.bigEndian) { Array($0) }).base64EncodedString()
    }

    /// The value of S3's base64 form, nil when it is not eight bytes of base64.
    public static func value(base64: String) -> UInt64? {
        guard let data = Data(base64Encoded: base64), data.count == 8 else { return nil }
        return data.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// True when this CPU takes the carry-less multiply path (for the benchmark's report).
    public static var usesCarrylessMultiply: Bool { s3a_crc64nvme_uses_clmul() != 0 }

    /// The table path whatever the CPU, so the tests check both paths against each other on any machine.
    static func portableValue<Bytes: ContiguousBytes>(_ bytes: Bytes) -> UInt64 {
        bytes.withUnsafeBytes { s3a_crc64nvme_update_portable(0, $0.baseAddress, $0.count) }
    }

    /// The name S3 gives the algorithm, and its header.
    public static let algorithm = "CRC64NVME"
    public static let header = "x-amz-checksum-crc64nvme"
}

extension CRC64NVME {
    /// The checksum of a whole file, read at offsets (whatever its read position), in 4 MiB pieces at most.
    public static func checksum(of reader: FileReader) throws -> CRC64NVME {
        var crc = CRC64NVME()
        var buffer: [UInt8] = []
        let chunk = min(4 << 20, (reader.size ?? 0) + 1)
        while true {
            let n = try reader.read(into: &buffer, count: chunk, at: crc.count)
            if n == 0 { return crc }
            crc.update(buffer[..<n])
        }
    }
}
