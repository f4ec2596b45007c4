import Foundation

/// A moment broken down in UTC by the C library (gmtime_r): a signature is made per request, and Foundation's
/// calendar and formatters cost tens of microseconds each where this costs well under one.
struct CalendarTime: Sendable, Equatable {
    var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int

    /// `date` to the second below it, in UTC.
    init(_ date: Date) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var fields = tm()
        gmtime_r(&seconds, &fields)
        year = Int(fields.tm_year) + 1900
        month = Int(fields.tm_mon) + 1
        day = Int(fields.tm_mday)
        hour = Int(fields.tm_hour)
        minute = Int(fields.tm_min)
        second = Int(fields.tm_sec)
    }

    /// `value` in `width` digits, zeros in front (years, months, days and times are never negative here).
    static func digits(_ value: Int, _ width: Int) -> String { String(value).leftPadded(to: width) }
}
