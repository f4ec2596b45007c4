import Foundation

/// The HTTP date S3 servers send in `Last-Modified` and `x-amz-restore` (RFC 7231's IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`), read without a `DateFormatter`: building one for every HEAD response was
/// a sixth of a rebuild's CPU time, and a shared one would be mutable state shared between tasks.
public enum HTTPDate {
    /// The date in `text`, or nil when it is not an IMF-fixdate (RFC 7231's obsolete forms, which no S3 server
    /// sends, are not read). The weekday is not checked against the date: the date is what the server meant.
    public static func parse(_ text: some StringProtocol) -> Date? {
        let bytes = Array(text.utf8)
        // "Sun, 06 Nov 1994 08:49:37 GMT": 29 bytes, fields at fixed offsets.
        guard bytes.count == 29, bytes[3] == UInt8(ascii: ","), bytes[4] == space, bytes[7] == space,
              bytes[11] == space, bytes[16] == space, bytes[19] == colon, bytes[22] == colon, bytes[25] == space,
              weekdays.contains(Array(bytes[0..<3])),
              ["GMT", "UTC"].contains(where: { Array($0.utf8) == Array(bytes[26..<29]) }),
              let monthIndex = months.firstIndex(of: Array(bytes[8..<11])),
              let day = number(bytes[5..<7]), let year = number(bytes[12..<16]),
              let hour = number(bytes[17..<19]), let minute = number(bytes[20..<22]), let second = number(bytes[23..<25])
        else { return nil }
        let month = monthIndex + 1
        guard (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60, second <= 60 else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        return Date(timeIntervalSince1970: TimeInterval(days * 86400 + hour * 3600 + minute * 60 + second))
    }

    /// The time of an S3 listing's `LastModified`, `2026-11-30T11:40:00.000Z` or `2026-11-30T11:40:00Z`, or nil
    /// for any other form (an offset, more digits), left to an `ISO8601DateFormatter`: through the formatter,
    /// 200,000 of them were a tenth of a rebuild's CPU. The same `Date` the formatter gives, to the bit: it reads
    /// milliseconds since 1970 and divides them as this does.
    public static func parseListingTime(_ text: some StringProtocol) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20 || (bytes.count == 24 && bytes[19] == UInt8(ascii: ".")),
              bytes[4] == dash, bytes[7] == dash, bytes[10] == UInt8(ascii: "T"), bytes[13] == colon,
              bytes[16] == colon, bytes[bytes.count - 1] == UInt8(ascii: "Z"),
              let year = number(bytes[0..<4]), let month = number(bytes[5..<7]), let day = number(bytes[8..<10]),
              let hour = number(bytes[11..<13]), let minute = number(bytes[14..<16]), let second = number(bytes[17..<19]),
              let millis = bytes.count == 24 ? number(bytes[20..<23]) : 0,
              (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60,
              second < 60
        else { return nil }
        let seconds = daysSinceEpoch(year: year, month: month, day: day) * 86400 + hour * 3600 + minute * 60 + second
        let sinceReference = Double(seconds * 1000 + millis) / 1000 - Date.timeIntervalBetween1970AndReferenceDate
        return Date(timeIntervalSinceReferenceDate: sinceReference)
    }

    private static let dash = UInt8(ascii: "-")
    private static let space = UInt8(ascii: " ")
    private static let colon = UInt8(ascii: ":")
    private static let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map { Array($0.utf8) }
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .map { Array($0.utf8) }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil), so no calendar
    /// object is needed either.
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }
}
