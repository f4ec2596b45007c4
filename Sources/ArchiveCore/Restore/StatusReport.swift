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
    /// Which generation of the archive asked for was restored (s3-restore --latest), for the header.
    public var generation: String?
    /// Each file's path inside the archive or prefix (bytes: a Latin-1 name is reported as it is) and outcome.
    public var files: [(path: ArchivePath, outcome: FileOutcome)] = []

    public var failed: Int { files.filter { !$0.outcome.isSuccess }.count }
    public var status: String {
        failed == 0 ? "SUCCESS" : failed == files.count ? "COMPLETE FAILURE" : "PARTIAL FAILURE"
    }

    /// The report's bytes: text, but for file names, which are written byte for byte.
    public var bytes: [UInt8] {
        var header = ["Download Status Report", "======================", ""]
        header.append("\(sourceLabel): \(source)")
        if let generation { header.append("Generation: \(generation)") }
        header.append("Session: \(session)")
        header.append("Bucket: \(bucket)")
        header.append("Timestamp: \(UTC.format(started, "yyyy-MM-dd HH:mm:ss")) UTC")
        header.append("Destination: \(destination)")
        header.append("")
        header.append("Files:")
        var result = Array((header.joined(separator: "\n") + "\n").utf8)
        for file in files { result += file.path.bytes + Array(": \(file.outcome.line)\n".utf8) }
        let summary = ["", "Summary:", "Total files: \(files.count)", "Successful: \(files.count - failed)",
                       "Failed: \(failed)", "Status: \(status)"]
        result += Array((summary.joined(separator: "\n") + "\n").utf8)
        return result
    }

    /// The report as text (names that are not UTF-8 shown with replacement characters).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Writes the report beside the restored files (atomically) and returns its path.
    public func write(in directory: String) throws -> String {
        let id = session.replacingOccurrences(of: "/", with: "_")
        var path = directory + "/_download_status_\(id)_\(UTC.format(started, "yyyyMMdd_HHmmss")).txt"
        // Two restores of one session within a second keep both reports.
        var copy = 2
        while FileManager.default.fileExists(atPath: path) {
            path = directory + "/_download_status_\(id)_\(UTC.format(started, "yyyyMMdd_HHmmss"))_\(copy).txt"
            copy += 1
        }
        let writer = try AtomicFileWriter(path: path, createDirectories: false)
        try writer.write(bytes)
        try writer.commit()
        return path
    }
}
