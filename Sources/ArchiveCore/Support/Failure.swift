import Foundation

/// The exit statuses of every tool (sysexits), as DESIGN.md lists them.
public enum ExitStatus: Int32, Sendable {
    case ok = 0
    /// A check failed: a mismatch, or some files failed.
    case checkFailed = 1
    case usage = 64
    case dataError = 65
    case noInput = 66
    case unavailable = 69
    case software = 70
    /// Refused: an object with other bytes is already at the key (s3-put without --replace).
    case objectExists = 73
    case ioError = 74
    case tryAgainLater = 75
    case noPermission = 77
}

/// An error a tool can report: one line for the operator and the exit status it maps to.
public protocol ReportableError: Error, CustomStringConvertible {
    var exitStatus: ExitStatus { get }
}

/// A plain failure with its message and exit status, for the cases no more specific type fits.
public struct Failure: ReportableError {
    public let exitStatus: ExitStatus
    public let message: String
    public init(_ exitStatus: ExitStatus, _ message: String) {
        self.exitStatus = exitStatus
        self.message = message
    }
    public var description: String { message }

    public static func usage(_ m: String) -> Failure { Failure(.usage, m) }
    public static func noInput(_ m: String) -> Failure { Failure(.noInput, m) }
    public static func io(_ m: String) -> Failure { Failure(.ioError, m) }
    public static func check(_ m: String) -> Failure { Failure(.checkFailed, m) }
}

extension Failure {
    /// What `error` says, on one line: GRDB's description (which names the SQL statement, over several lines) or,
    /// for Foundation's errors, the path and the system's reason, without the "The operation could not be
    /// completed." that Foundation on Linux puts first.
    public static func describing(_ error: Error) -> String {
        let bridged = error as NSError
        let text: String
        if [NSCocoaErrorDomain, NSPOSIXErrorDomain].contains(bridged.domain) {
            let cause = bridged.userInfo[NSUnderlyingErrorKey] as? Error ?? error
            let reason = (cause as NSError).localizedDescription
            let filler = "The operation could not be completed. "
            text = (bridged.userInfo[NSFilePathErrorKey].map { "\($0): " } ?? "")
                + (reason.hasPrefix(filler) ? String(reason.dropFirst(filler.count)) : reason)
        } else {
            text = String(describing: error)
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }
}
