@testable import ArchiveCore
import Foundation
import XCTest

/// `--retain-until` and the Object Lock answers, without a server: the calendar arithmetic of periods, the date
/// forms, what is refused, the headers sent and a bucket's configuration read.
final class RetainUntilTests: XCTestCase {
    private func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    func testPeriodsCountOnTheUTCCalendar() throws {
        let now = date("2027-01-31T10:20:30Z")
        XCTAssertEqual(try RetainUntil.parse("30d", now: now), date("2027-03-02T10:20:30Z"))
        XCTAssertEqual(try RetainUntil.parse("2w", now: now), date("2027-02-14T10:20:30Z"))
        XCTAssertEqual(try RetainUntil.parse("1mo", now: now), date("2027-02-28T10:20:30Z"), "the end of February, not March 3rd")
        XCTAssertEqual(try RetainUntil.parse("18months", now: now), date("2028-07-31T10:20:30Z"))
        XCTAssertEqual(try RetainUntil.parse("7y", now: now), date("2034-01-31T10:20:30Z"))
        XCTAssertEqual(try RetainUntil.parse("1Y", now: date("2028-02-29T00:00:00Z")), date("2029-02-28T00:00:00Z"))
    }

    func testDatesAndTimes() throws {
        let now = date("2027-01-01T00:00:00Z")
        XCTAssertEqual(try RetainUntil.parse("2031-12-31", now: now), date("2031-12-31T00:00:00Z"))
        XCTAssertEqual(try RetainUntil.parse("2031-12-31T18:00:00Z", now: now), date("2031-12-31T18:00:00Z"))
        XCTAssertEqual(try RetainUntil.parse("2031-12-31T18:00:00+02:00", now: now), date("2031-12-31T16:00:00Z"))
        XCTAssertEqual(try RetainUntil.parse("2031-12-31T18:00:00.250Z", now: now).timeIntervalSince(date("2031-12-31T18:00:00Z")),
                       0.25, accuracy: 0.001)
    }

    func testRefusedValuesNameThemselves() {
        let now = date("2027-01-01T00:00:00Z")
        for bad in ["", "7", "18m", "5min", "0d", "-3d", "7x", "d", "2026-12-31", "2027-01-01", "2031-02-30", "2031-13-01",
                    "2031-12-31T00:00:00", "31/12/2031", "2128-01-02", "101y"] {
            XCTAssertThrowsError(try RetainUntil.parse(bad, now: now), bad) { error in
                XCTAssertEqual((error as? ReportableError)?.exitStatus, .usage, bad)
                XCTAssertTrue("\(error)".contains("'\(bad)'"), "the message names '\(bad)': \(error)")
            }
        }
        XCTAssertThrowsError(try RetainUntil.parse("18m", now: now)) { error in
            XCTAssertTrue("\(error)".contains("18mo"), "months are spelled mo: \(error)")
        }
        XCTAssertNoThrow(try RetainUntil.parse("100y", now: now))
    }

    func testModes() throws {
        XCTAssertEqual(try RetentionMode(parsing: "governance"), .governance)
        XCTAssertEqual(try RetentionMode(parsing: "COMPLIANCE"), .compliance)
        XCTAssertThrowsError(try RetentionMode(parsing: "LEGAL")) { error in
            XCTAssertTrue("\(error)".contains("'LEGAL'"), "\(error)")
        }
    }

    func testHeaders() {
        XCTAssertTrue(ObjectLock().headers.isEmpty)
        XCTAssertFalse(ObjectLock().isRequested)
        let lock = ObjectLock(mode: .compliance, retainUntil: date("2031-12-31T00:00:00Z"), legalHold: true)
        XCTAssertEqual(lock.headers.map { "\($0.name): \($0.value)" }, [
            "x-amz-object-lock-mode: COMPLIANCE",
            "x-amz-object-lock-retain-until-date: 2031-12-31T00:00:00Z",
            "x-amz-object-lock-legal-hold: ON",
        ])
        XCTAssertEqual(ObjectLock(legalHold: true).headers.map(\.name), ["x-amz-object-lock-legal-hold"])
    }

    func testBucketConfiguration() {
        func read(_ xml: String) -> BucketLock { BucketLock(xml: XMLElement.parse(Array(xml.utf8))) }
        XCTAssertEqual(BucketLock(xml: nil), BucketLock(enabled: false))
        let plain = read("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>")
        XCTAssertTrue(plain.enabled)
        XCTAssertNil(plain.defaultRetention)
        // moto's answer: the unit not given comes back as 0.
        let moto = read("""
            <ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
            <Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>30</Days><Years>0</Years></DefaultRetention></Rule>\
            </ObjectLockConfiguration>
            """)
        XCTAssertEqual(moto.defaultRetention, "COMPLIANCE, 30 days")
        let years = read("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>"
            + "<Mode>GOVERNANCE</Mode><Years>1</Years></DefaultRetention></Rule></ObjectLockConfiguration>")
        XCTAssertEqual(years.defaultRetention, "GOVERNANCE, 1 year")
    }
}
