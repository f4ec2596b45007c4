@testable import ArchiveCore
import Foundation
import XCTest

/// The `Last-Modified` dates of HEAD responses, read without a DateFormatter: the same instants Foundation
/// reads, and nothing from text that is not an IMF-fixdate.
final class HTTPDateTests: XCTestCase {
    private func seconds(_ text: String) -> Double? { HTTPDate.parse(text)?.timeIntervalSince1970 }

    func testIMFFixdatesAreTheirInstants() {
        XCTAssertEqual(seconds("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777)   // RFC 7231's example
        XCTAssertEqual(seconds("Thu, 01 Jan 1970 00:00:00 GMT"), 0)
        XCTAssertEqual(seconds("Thu, 29 Feb 2024 23:59:59 GMT"), 1_709_251_199)
        XCTAssertEqual(seconds("Wed, 01 Mar 2000 12:00:00 GMT"), 951_912_000)
        XCTAssertEqual(seconds("Thu, 31 Dec 2105 06:07:08 GMT"), 4_291_682_828)
    }

    func testAgreesWithFoundationOverAFewYears() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var instant = Date(timeIntervalSince1970: 946_684_800 - 3 * 86400)   // 1999-12-29
        for _ in 0..<400 {
            let text = formatter.string(from: instant)
            XCTAssertEqual(HTTPDate.parse(text), instant, text)
            instant += 86400 * 11 + 3671
        }
    }

    func testAnythingElseIsNil() {
        for text in ["", "Sun, 06 Nov 1994 08:49:37", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                     "Sun, 06 Nov 1994 08:49:37 CET", "Sun, 31 Nov 1994 08:49:37 GMT", "Sun, 29 Feb 2023 08:49:37 GMT",
                     "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 0x Nov 1994 08:49:37 GMT",
                     "Sun, 06 Foo 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT", "2024-02-29T23:59:59Z",
                     "Sun, 06 Nov 1994 08:49:37 GMT "] {
            XCTAssertNil(HTTPDate.parse(text), text)
        }
    }
}
