import Foundation

/// How firmly a retention period holds (S3 Object Lock). Under `governance`, someone granted
/// `s3:BypassGovernanceRetention` can still shorten it or delete the version; under `compliance`, nobody can,
/// not even the account's root user, until the date has passed.
public enum RetentionMode: String, Sendable, CaseIterable {
    case governance = "GOVERNANCE"
    case compliance = "COMPLIANCE"

    /// `GOVERNANCE` or `COMPLIANCE`, in any case; anything else is a usage error naming the value.
    public init(parsing text: String) throws {
        guard let mode = Self(rawValue: text.uppercased()) else {
            throw Failure.usage("invalid retention mode '\(text)': use GOVERNANCE or COMPLIANCE")
        }
        self = mode
    }
}

/// The Object Lock settings an object is written with: a retention period (a mode and the date it lasts until),
/// a legal hold, both, or neither. S3 refuses them on a bucket created without Object Lock.
public struct ObjectLock: Sendable, Equatable {
    public var mode: RetentionMode?
    /// The version cannot be deleted or overwritten before this instant.
    public var retainUntil: Date?
    /// A legal hold keeps the version until it is lifted, whatever its retention says.
    public var legalHold: Bool

    public init(mode: RetentionMode? = nil, retainUntil: Date? = nil, legalHold: Bool = false) {
        self.mode = mode
        self.retainUntil = retainUntil
        self.legalHold = legalHold
    }

    /// Whether anything was asked: only then does the bucket need Object Lock.
    public var isRequested: Bool { retainUntil != nil || legalHold }

    /// The headers of PutObject and CreateMultipartUpload that ask for it.
    public var headers: [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        if let mode, let retainUntil {
            headers.append(("x-amz-object-lock-mode", mode.rawValue))
            headers.append(("x-amz-object-lock-retain-until-date", UTC.iso8601(retainUntil)))
        }
        if legalHold { headers.append(("x-amz-object-lock-legal-hold", "ON")) }
        return headers
    }
}

/// `--retain-until`: a date (`2031-12-31`, midnight UTC at its start), a date and time (`2031-12-31T18:00:00Z`,
/// `…+02:00`), or a period from now in days, weeks, months or years (`30d`, `12w`, `18mo`, `7y`). A bare `m` is
/// refused: months and minutes are too easily confused for a promise that cannot be taken back.
public enum RetainUntil {
    /// S3's longest default retention: a later date is far more likely a typo than a wish, and under COMPLIANCE
    /// a typo could never be taken back.
    static let longest: (component: Calendar.Component, value: Int) = (.year, 100)

    static let units: [String: Calendar.Component] = [
        "d": .day, "day": .day, "days": .day,
        "w": .weekOfYear, "week": .weekOfYear, "weeks": .weekOfYear,
        "mo": .month, "month": .month, "months": .month,
        "y": .year, "year": .year, "years": .year,
    ]

    public static func parse(_ text: String, now: Date = Date()) throws -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let date = try period(trimmed, now: now) ?? instant(trimmed) else {
            throw Failure.usage("invalid --retain-until '\(text)': write a date (2031-12-31, 2031-12-31T00:00:00Z) or a period from now (30d, 12w, 18mo, 7y)")
        }
        guard date > now else {
            throw Failure.usage("--retain-until '\(text)' is not in the future (\(UTC.iso8601(date))): give a later date")
        }
        if let limit = UTC.calendar.date(byAdding: longest.component, value: longest.value, to: now), date > limit {
            throw Failure.usage("--retain-until '\(text)' is more than 100 years away (\(UTC.iso8601(date))): s3-put accepts at most 100 years, S3's longest default retention; check the value")
        }
        return date
    }

    /// A period from now, nil when `text` does not start with a number (a date does: it has a '-' after it).
    private static func period(_ text: String, now: Date) throws -> Date? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let unit = text.dropFirst(digits.count).lowercased()
        guard !digits.isEmpty, !unit.hasPrefix("-") else { return nil }
        if unit == "m" || unit == "min" || unit == "minutes" {
            throw Failure.usage("ambiguous --retain-until '\(text)': write \(digits)mo for months; retention is counted in days (d), weeks (w), months (mo) or years (y)")
        }
        guard let component = units[unit], let count = Int(digits), count > 0 else {
            throw Failure.usage("invalid --retain-until '\(text)': a period is a positive number of days (d), weeks (w), months (mo) or years (y), e.g. 30d, 18mo, 7y")
        }
        // Calendar arithmetic in UTC: 1mo from January 31st is the end of February, never March 3rd.
        return UTC.calendar.date(byAdding: component, value: count, to: now)
    }

    /// A date alone, or an ISO 8601 date and time with its zone; nil when it is neither.
    private static func instant(_ text: String) -> Date? {
        if text.count == 10 {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd"
            formatter.isLenient = false
            // Written back the same, or it was no real day (2031-02-30).
            guard let date = formatter.date(from: text), formatter.string(from: date) == text else { return nil }
            return date
        }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return ISO8601DateFormatter().date(from: text) ?? fractional.date(from: text)
    }
}

/// What a bucket's Object Lock configuration says: whether it is enabled, and the retention objects get when
/// they are written without one of their own.
public struct BucketLock: Sendable, Equatable {
    public var enabled: Bool
    public var defaultMode: RetentionMode?
    public var defaultDays: Int?
    public var defaultYears: Int?

    public init(enabled: Bool, defaultMode: RetentionMode? = nil, defaultDays: Int? = nil, defaultYears: Int? = nil) {
        self.enabled = enabled
        self.defaultMode = defaultMode
        self.defaultDays = defaultDays
        self.defaultYears = defaultYears
    }

    /// From GetObjectLockConfiguration's answer; nil (no configuration) is Object Lock off.
    public init(xml: XMLElement?) {
        guard let xml else {
            self.init(enabled: false)
            return
        }
        let retention = xml.first("DefaultRetention")
        // moto writes the unit it was not given as 0.
        let positive = { (name: String) in retention?.text(of: name).flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } }
        self.init(enabled: xml.text(of: "ObjectLockEnabled") == "Enabled",
                  defaultMode: retention?.text(of: "Mode").flatMap(RetentionMode.init(rawValue:)),
                  defaultDays: positive("Days"), defaultYears: positive("Years"))
    }

    /// `GOVERNANCE, 30 days`, or nil when the bucket sets no default retention.
    public var defaultRetention: String? {
        guard let defaultMode else { return nil }
        let period = defaultYears.map { "\($0) year\($0 == 1 ? "" : "s")" }
            ?? defaultDays.map { "\($0) day\($0 == 1 ? "" : "s")" } ?? "no period"
        return "\(defaultMode.rawValue), \(period)"
    }
}

extension S3Client {
    /// The bucket's Object Lock configuration: off when the bucket has none, or the server has no Object Lock.
    public func objectLock(bucket: String) throws -> BucketLock {
        do {
            return BucketLock(xml: try getObjectLockConfiguration(bucket: bucket))
        } catch let error as S3Error where error.code == "NotImplemented" || error.status == 501 {
            return BucketLock(enabled: false)
        }
    }
}

/// Refuses retention or a legal hold where it cannot hold, before any byte moves: in a `file://` store, or in a
/// bucket without Object Lock (S3 would refuse every PUT; some servers would accept the upload and ignore it).
/// Credentials not allowed to read the configuration let the upload go on: the PUT itself is then refused by a
/// bucket without Object Lock, and nothing is stored.
public func checkObjectLock(_ lock: ObjectLock, destination: String, s3: S3Configuration.Overrides) throws {
    guard lock.isRequested else { return }
    guard let bucket = try StorageURL(parsing: destination).bucket else {
        throw Failure.usage("\(destination): a file:// store has no Object Lock: drop --retain-until, --retention-mode and --legal-hold")
    }
    let configuration: BucketLock
    do {
        configuration = try S3Client(try S3Configuration.resolve(s3)).objectLock(bucket: bucket)
    } catch let error as S3Error where error.code == "AccessDenied" {
        return
    }
    guard configuration.enabled else {
        throw Failure.usage("s3://\(bucket) has no Object Lock, so it cannot keep --retain-until or --legal-hold: use a bucket created with Object Lock (aws s3api create-bucket --object-lock-enabled-for-bucket), or drop the options")
    }
}
