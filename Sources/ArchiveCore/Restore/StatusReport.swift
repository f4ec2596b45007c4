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

    /// The project of the key layout `project-P/instrument-I/...` (`P`), or `-` where the key has none.
    public var project: String {
        let components = source.split(separator: "/").dropFirst(2)
        guard let folder = components.first(where: { $0.hasPrefix("project-") && $0.count > "project-".count }) else { return "-" }
        return String(folder.dropFirst("project-".count))
    }

    /// The report's bytes, in the layout of the restore reports its readers already parse, label for label (our
    /// source URL and generation follow `Destination:`): text, but for file names, written byte for byte, one
    /// line each in key order.
    public var bytes: [UInt8] {
        var header = ["S3 Download Status Report", "=========================",
                      "Raw File ID: \(session)", "Project ID: \(project)", "S3 Bucket: \(bucket)",
                      "Timestamp: \(UTC.format(started, "yyyy-MM-dd HH:mm:ss")) UTC", "Destination: \(destination)",
                      "\(sourceLabel): \(source)"]
        if let generation { header.append("Generation: \(generation)") }
        header += ["", "Files:", "------"]
        var result = Array((header.joined(separator: "\n") + "\n").utf8)
        for file in files.sorted(by: { $0.path.bytes.lexicographicallyPrecedes($1.path.bytes) }) {
            result += Self.escaped(file.path.bytes) + Array(": \(file.outcome.line)\n".utf8)
        }
        let summary = ["", "Summary:", "--------", "Total files: \(files.count)", "Successful: \(files.count - failed)",
                       "Failed: \(failed)", "Status: \(status)"]
        result += Array((summary.joined(separator: "\n") + "\n").utf8)
        return result
    }

    /// A name holding a newline, a carriage return or a backslash is written as sha256sum(1) writes it: the line
    /// starts with a backslash, and those become `\n`, `\r` and `\\`; so every file is one line, and a reader
    /// can tell the name back. Other names are written as they are.
    static func escaped(_ name: [UInt8]) -> [UInt8] {
        guard name.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0x5C }) else { return name }
        var result: [UInt8] = [0x5C]
        for byte in name {
            switch byte {
            case 0x0A: result += [0x5C, 0x6E]
            case 0x0D: result += [0x5C, 0x72]
            case 0x5C: result += [0x5C, 0x5C]
            default: result.append(byte)
            }
        }
        return result
    }

    /// The report as text (names that are not UTF-8 shown with replacement characters).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Whether a file name is one `write(in:)` gives: `_download_status_<id>_<YYYYmmdd_HHMMSS>[_<n>].txt`.
    public static func isReportName(_ name: String) -> Bool {
        name.range(of: #"^_download_status_.+_[0-9]{8}_[0-9]{6}(_[0-9]+)?\.txt$"#, options: .regularExpression) != nil
    }

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
