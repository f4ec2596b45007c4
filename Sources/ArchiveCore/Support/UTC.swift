import Foundation

/// Times as the tools write them: in UTC and the POSIX locale, never the machine's zone or language, so that a
/// key, a signature or a report reads the same wherever it was made.
public enum UTC {
    /// The Gregorian calendar, in UTC.
    public static var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }

    /// ISO 8601 to the second: `2026-11-30T02:38:29Z`.
    public static func iso8601(_ date: Date) -> String {
        let t = CalendarTime(date)
        let d = CalendarTime.digits
        return d(t.year, 4) + "-" + d(t.month, 2) + "-" + d(t.day, 2) + "T" + d(t.hour, 2) + ":" + d(t.minute, 2) + ":"
            + d(t.second, 2) + "Z"
    }

    /// `date` written with a `DateFormatter` pattern, e.g. `yyyy-MM-dd HH:mm:ss`.
    public static func format(_ date: Date, _ pattern: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = pattern
        return formatter.string(from: date)
    }
}
