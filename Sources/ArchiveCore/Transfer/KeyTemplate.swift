import Foundation

/// Key layouts: `backups/raw/{year}/{session}.tar`, `project-P/instrument-I/{name}`,
/// `xml-events/{year}/{month}/{day}/{name}`. Dates are the session's when its name starts with `YYYYMMDD` or
/// `YYYY-MM-DD`, else today's (UTC).
public enum KeyTemplate {
    public static let placeholders = ["{year}", "{month}", "{day}", "{session}", "{name}"]

    public static func expand(_ template: String, name: String?, session: String?, now: Date = Date()) throws -> String {
        guard template.contains("{") else { return template }
        var result = template
        if result.contains("{name}") {
            guard let name else { throw Failure.usage("{name} needs a file: standard input has no name") }
            result = result.replacingOccurrences(of: "{name}", with: name)
        }
        if result.contains("{session}") {
            guard let session else { throw Failure.usage("{session} needs --session NAME when reading standard input") }
            result = result.replacingOccurrences(of: "{session}", with: session)
        }
        let (year, month, day) = date(fromSession: session) ?? today(now)
        result = result.replacingOccurrences(of: "{year}", with: year)
            .replacingOccurrences(of: "{month}", with: month)
            .replacingOccurrences(of: "{day}", with: day)
        if let unknown = result.range(of: #"\{[a-z]*\}"#, options: .regularExpression) {
            throw Failure.usage("unknown placeholder \(result[unknown]) in '\(template)': use \(placeholders.joined(separator: ", "))")
        }
        return result
    }

    /// A session or file name as it goes into a key, which S3 wants in UTF-8: UTF-8 as it is (keys made before
    /// stay the same), each byte that is not part of valid UTF-8 as `%XX` (a Latin-1 `caf\xE9_s` gives
    /// `caf%E9_s`). A UTF-8 name that reads the same gets the same key: the conditional write then keeps both,
    /// as generations, never one over the other.
    public static func keyText(_ bytes: [UInt8]) -> String {
        PathDisplay.text(bytes) { "%" + String($0, radix: 16, uppercase: true).leftPadded(to: 2) }
    }

    /// `20240315_M31` and `2024-03-15-night` give 2024, 03, 15 (when they are a real date).
    static func date(fromSession session: String?) -> (String, String, String)? {
        guard let session else { return nil }
        let digits = Array(session.prefix(10))
        var y = "", m = "", d = ""
        if digits.count >= 8, digits[0..<8].allSatisfy(\.isNumber) {
            y = String(digits[0..<4]); m = String(digits[4..<6]); d = String(digits[6..<8])
        } else if digits.count >= 10, digits[4] == "-", digits[7] == "-" {
            y = String(digits[0..<4]); m = String(digits[5..<7]); d = String(digits[8..<10])
        } else {
            return nil
        }
        guard let year = Int(y), let month = Int(m), let day = Int(d), (1900...2999).contains(year),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        return (y, m, d)
    }

    static func today(_ now: Date) -> (String, String, String) {
        let t = CalendarTime(now)
        return (CalendarTime.digits(t.year, 4), CalendarTime.digits(t.month, 2), CalendarTime.digits(t.day, 2))
    }
}
