import ArchiveCore
import XCTest

/// The keys of an archive's generations: `.genN` before the last extension of the last path component, and only
/// exactly that (no leading zero, no `.gen1`, no other stem) counts as a generation.
final class GenerationKeyTests: XCTestCase {
    func testKeysOfGenerations() {
        XCTAssertEqual(Generation.key("raw/2024/S.tar", number: 1), "raw/2024/S.tar")
        XCTAssertEqual(Generation.key("raw/2024/S.tar", number: 2), "raw/2024/S.gen2.tar")
        XCTAssertEqual(Generation.key("raw/2024/S.tar", number: 12), "raw/2024/S.gen12.tar")
        XCTAssertEqual(Generation.key("raw/2024/S", number: 2), "raw/2024/S.gen2", "no extension: at the end")
        XCTAssertEqual(Generation.key("raw/2024.d/S", number: 3), "raw/2024.d/S.gen3", "a dot in a folder is no extension")
        XCTAssertEqual(Generation.key("raw/M31.v2.final.tar", number: 2), "raw/M31.v2.final.gen2.tar",
                       "dots in the session name: before the last extension only")
        XCTAssertEqual(Generation.key("raw/.hidden", number: 2), "raw/.hidden.gen2", "a leading dot is no extension")
        XCTAssertEqual(Generation.listingPrefix("raw/2024/S.tar"), "raw/2024/S")
    }

    func testNumbersReadBack() {
        let base = "raw/2024/S.tar"
        for n in [1, 2, 9, 10, 123] {
            XCTAssertEqual(Generation.number(of: Generation.key(base, number: n), base: base), n)
            XCTAssertEqual(Generation.firstKey(of: Generation.key(base, number: n), number: n), base)
        }
        for base in ["raw/S", "raw/M31.v2.final.tar", "raw/.hidden", "raw/A.gen2", "raw/2024.d/S"] {
            for n in [2, 3, 40] {
                let key = Generation.key(base, number: n)
                XCTAssertEqual(Generation.number(of: key, base: base), n, key)
                XCTAssertEqual(Generation.firstKey(of: key, number: n), base, key)
            }
        }
    }

    func testLookalikesAreNoGenerations() {
        let base = "raw/2024/S.tar"
        for key in ["raw/2024/S.gen02.tar", "raw/2024/S.gen1.tar", "raw/2024/S.gen0.tar", "raw/2024/S.gen.tar",
                    "raw/2024/S.genx.tar", "raw/2024/S.gen2.tar.index.json", "raw/2024/S.tar.index.json",
                    "raw/2024/S2.tar", "raw/2024/S.gen2.tgz", "raw/2024/SS.gen2.tar", "raw/2024/S.gen-2.tar",
                    "raw/2024/S.gen٢.tar"] {
            XCTAssertNil(Generation.number(of: key, base: base), key)
        }
        XCTAssertNil(Generation.firstKey(of: "raw/2024/S.gen3.tar", number: 2))
        XCTAssertNil(Generation.firstKey(of: "raw/2024/S.tar", number: 0))
    }
}
