import Foundation

/// What happened to one file of a restore.
public enum FileOutcome: Sendable, Equatable {
    case downloaded(bytes: Int, seconds: Double)
    case skipped
    case healed(reason: String)
    case failed(String)

    public var isSuccess: Bool {
        if case .failed = self { return false }
        return true
    }

    var line: String {
        switch self {
        case .downloaded(let bytes, let seconds):
            return String(format: "OK - Downloaded and verified (%.1f MB in %.1fs)", Double(bytes) / 1e6, seconds)
        case .skipped: return "OK - Skipped (already exists)"
        case .healed(let reason): return "OK - Self-healed (\(reason), re-downloaded)"
        case .failed(let reason): return "FAILURE - \(reason)"
        }
    }
}

/// The plain-text report a restore leaves in the destination: `_download_status_<id>_<YYYYmmdd_HHMMSS>.txt`.
public struct StatusReport: Sendable {
    public var source: String
    public var sourceLabel: String
    public var session: String
    public var bucket: String
    public var destination: String
    public var started: Date
    public var files: [(path: String, outcome: FileOutcome)] = []

    public var failed: Int { files.filter { !$0.outcome.isSuccess }.count }
    public var status: String {
        failed == 0 ? "SUCCESS" : failed == files.count ? "COMPLETE FAILURE" : "PARTIAL FAILURE"
    }

    static func stamp(_ date: Date, format: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = format
        return formatter.string(from: date)
    }

    public var text: String {
        var lines = ["Download Status Report", "======================", ""]
        lines.append("\(sourceLabel): \(source)")
        lines.append("Session: \(session)")
        lines.append("Bucket: \(bucket)")
        lines.append("Timestamp: \(Self.stamp(started, format: "yyyy-MM-dd HH:mm:ss")) UTC")
        lines.append("Destination: \(destination)")
        lines.append("")
        lines.append("Files:")
        for file in files { lines.append("\(file.path): \(file.outcome.line)") }
        lines.append("")
        lines.append("Summary:")
        lines.append("Total files: \(files.count)")
        lines.append("Successful: \(files.count - failed)")
        lines.append("Failed: \(failed)")
        lines.append("Status: \(status)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the report beside the restored files (atomically) and returns its path.
    public func write(in directory: String) throws -> String {
        let id = session.replacingOccurrences(of: "/", with: "_")
        var path = directory + "/_download_status_\(id)_\(Self.stamp(started, format: "yyyyMMdd_HHmmss")).txt"
        // Two restores of one session within a second keep both reports.
        var copy = 2
        while FileManager.default.fileExists(atPath: path) {
            path = directory + "/_download_status_\(id)_\(Self.stamp(started, format: "yyyyMMdd_HHmmss"))_\(copy).txt"
            copy += 1
        }
        let writer = try AtomicFileWriter(path: path, createDirectories: false)
        try writer.write(Array(text.utf8))
        try writer.commit()
        return path
    }
}
