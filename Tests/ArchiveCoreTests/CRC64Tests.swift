@testable import ArchiveCore
import XCTest

/// CRC-64/NVME against published check values (the CRC catalogue's, AWS's, SPDK's) and values awscrt gave for
/// pseudo-random data of odd lengths; the carry-less path against the tables, and joined parts against the whole.
final class CRC64Tests: XCTestCase {
    /// xorshift64 bytes, the generator the awscrt values below were computed from.
    static func bytes(_ count: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    func testPublishedCheckValues() {
        XCTAssertEqual(CRC64NVME.checksum(Array("123456789".utf8)).value, 0xae8b_1486_0a79_9888) // CRC catalogue
        XCTAssertEqual(CRC64NVME.checksum([UInt8]()).value, 0)
        XCTAssertEqual(CRC64NVME.checksum([UInt8](repeating: 0, count: 32)).value, 0xcf34_7343_4d4e_cf3b) // aws-c-checksums
        XCTAssertEqual(CRC64NVME.checksum(Array("aaaaaaaaaa".utf8)).value, 0x0c1a_8003_6d65_c555) // aws-c-s3
        XCTAssertEqual(CRC64NVME.checksum(Array("hello world!".utf8)).value, 0xd916_0d1f_a8e4_18e3) // crc64fast-nvme
        XCTAssertEqual(CRC64NVME.checksum([UInt8](repeating: 0, count: 4096)).value, 0x6482_d367_eb22_b64e) // SPDK
        XCTAssertEqual(CRC64NVME.checksum([UInt8](repeating: 0xff, count: 4096)).value, 0xc0dd_ba73_02ec_a3ac) // SPDK
    }

    func testAgreesWithAwscrtOnOddLengths() {
        let expected: [(Int, UInt64)] = [
            (1, 0xae67c41692bb501c), (7, 0x1523465daec91ede), (15, 0x823c215fbb10c755), (127, 0x204c15c1bf37f86c),
            (255, 0x107e5e5020be9c6f), (256, 0x590c92ea383440e9), (257, 0x576d26e7a0639056),
            (1023, 0xc2a9f90688510f26), (4099, 0x9da37465d35b2dfa), (65537, 0x3e7bf58817183d4c),
            (1_048_577, 0xc188584780555506),
        ]
        let data = Self.bytes(1_048_577)
        for (count, value) in expected {
            XCTAssertEqual(CRC64NVME.checksum(data[..<count]).value, value, "\(count) bytes")
            XCTAssertEqual(CRC64NVME.portableValue(data[..<count]), value, "\(count) bytes, tables")
        }
    }

    /// Every length and alignment around the fast path's 128-byte rounds, streamed in uneven pieces.
    func testStreamingAndAlignmentMatchTables() {
        let data = Self.bytes(3000)
        for start in 0..<9 {
            for count in stride(from: 0, through: data.count - start, by: 37) {
                let slice = data[start..<(start + count)]
                let whole = CRC64NVME.checksum(slice)
                XCTAssertEqual(whole.value, CRC64NVME.portableValue(slice), "at \(start), \(count) bytes")
                var streamed = CRC64NVME()
                var position = slice.startIndex
                var piece = 1
                while position < slice.endIndex {
                    let end = min(position + piece, slice.endIndex)
                    streamed.update(slice[position..<end])
                    position = end
                    piece = piece * 3 + 1
                }
                XCTAssertEqual(streamed, whole)
            }
        }
    }

    func testCombinedPartsEqualTheWhole() {
        let data = Self.bytes(100_003)
        let whole = CRC64NVME.checksum(data)
        for cuts in [[0], [1], [50_000], [256, 9_999, 77_777], [100_003]] {
            let bounds = [0] + cuts + [data.count]
            let parts = zip(bounds, bounds.dropFirst()).map { CRC64NVME.checksum(data[$0..<$1]) }
            XCTAssertEqual(CRC64NVME.combine(parts), whole, "cut at \(cuts)")
        }
    }

    func testBase64IsTheBigEndianBytes() {
        // awscrt/botocore: base64 of crc64nvme(b"123456789").to_bytes(8, "big")
        let crc = CRC64NVME.checksum(Array("123456789".utf8))
        XCTAssertEqual(crc.base64, "rosUhgp5mIg=")
        XCTAssertEqual(CRC64NVME.value(base64: "rosUhgp5mIg="), crc.value)
        XCTAssertNil(CRC64NVME.value(base64: "AAAA"))
    }
}
