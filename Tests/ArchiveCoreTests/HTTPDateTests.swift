@testable import ArchiveCore
import Foundation
import XCTest

/// The `Last-Modified` dates of HEAD responses and the times of listings, read without a DateFormatter: the same
/// instants Foundation reads, and nothing from text of another form.
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

    /// A listing's times: the very `Date` ISO8601DateFormatter gives, with and without milliseconds.
    func testListingTimesAreTheFormattersToTheBit() {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        var instant = Date(timeIntervalSince1970: 946_684_800 - 3 * 86400 + 0.001)
        for step in 0..<400 {
            for text in [fractional.string(from: instant), plain.string(from: instant)] {
                let expected = fractional.date(from: text) ?? plain.date(from: text)
                XCTAssertEqual(HTTPDate.parseListingTime(text)?.timeIntervalSinceReferenceDate.bitPattern,
                               expected?.timeIntervalSinceReferenceDate.bitPattern, text)
            }
            instant += 86400 * 11 + 3671 + Double(step % 1000) / 997
        }
        for text in ["2024-02-29T23:59:59+01:00", "2023-02-29T23:59:59Z", "2024-02-29T23:59:59.1234Z", "2024-02-29 23:59:59Z",
                     "2024-13-01T00:00:00Z", "2024-02-29T23:59:59.12Z", "Sun, 06 Nov 1994 08:49:37 GMT", ""] {
            XCTAssertNil(HTTPDate.parseListingTime(text), text)
        }
    }

    /// SigV4's `X-Amz-Date`, computed without a calendar: what a UTC calendar's components say, over centuries.
    func testSigV4TimestampsAreTheCalendars() {
        var instant = Date(timeIntervalSince1970: -2_208_988_800)   // 1900-01-01
        while instant.timeIntervalSince1970 < 4_102_444_800 {        // 2100-01-01
            let c = UTC.calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: instant)
            let expected = String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
            XCTAssertEqual(SigV4Signer.timestamp(instant), expected)
            instant += 86400 * 13 + 3671.25
        }
        XCTAssertEqual(SigV4Signer.timestamp(Date(timeIntervalSince1970: 1_440_938_160)), "20150830T123600Z")
    }
}
