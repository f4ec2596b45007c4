import Foundation
import GRDB

/// The questions s3-report answers.
public enum ReportView: Sendable {
    case status
    case sessions(root: String, year: String?, only: SessionState?, excluding: [String] = [])
    case log(since: TimeInterval?, failedOnly: Bool)
    case cost(pricingPath: String?, region: String, bytes: Int?)
    case analyze(root: String, bandwidth: Int?)
}

/// s3-report's whole job: the view asked for, as tables. `sessions` and `analyze` work without a catalog;
/// the others need one (exit 66 when there is none).
public func report(_ view: ReportView, catalogPath: String?, now: Date = Date()) throws -> [Table] {
    func openCatalog(required: Bool) throws -> Catalog? {
        guard let catalogPath else {
            if required { throw Failure.noInput("this view reads the catalog: drop --no-catalog") }
            return nil
        }
        if !required && !FileManager.default.fileExists(atPath: catalogPath) { return nil }
        return try Catalog(path: catalogPath, create: false)
    }
    switch view {
    case .status:
        return try statusTables(try openCatalog(required: true)!, now: now)
    case .sessions(let root, let year, let only, let excluding):
        return [try sessionsTable(root: root, year: year, only: only, excluding: excluding,
                                  catalog: try openCatalog(required: false))]
    case .log(let since, let failedOnly):
        return [try logTable(try openCatalog(required: true)!, since: since.map { now.addingTimeInterval(-$0) }, failedOnly: failedOnly)]
    case .cost(let pricingPath, let region, let bytes):
        let pricing = try Pricing.load(path: pricingPath, region: region)
        var byClass: [String: Int] = [:]
        if let bytes {
            byClass["STANDARD"] = bytes
        } else if let catalog = try openCatalog(required: true) {
            try catalog.read { db in
                for row in try Row.fetchAll(db, sql: "SELECT storage_class, SUM(size) AS bytes FROM objects GROUP BY storage_class") {
                    byClass[(row["storage_class"] as String?) ?? "STANDARD"] = row["bytes"]
                }
            }
        }
        return pricing.tables(byClass: byClass)
    case .analyze(let root, let bandwidth):
        let catalog = try openCatalog(required: false)
        return [try analyzeTable(root: root, bandwidth: bandwidth ?? measuredBandwidth(catalog))]
    }
}

// MARK: status

func statusTables(_ catalog: Catalog, now: Date) throws -> [Table] {
    try catalog.read { db in
        var tables: [Table] = []
        // Each generation of an archive is an archive stored (and billed); `sessions` counts them once each, by
        // their first generation's URL.
        var stored = Table(columns: ["class", "year", "objects", "archives", "bytes", "size", "sessions"],
                           numeric: ["objects", "archives", "bytes", "sessions"], title: "Stored")
        // Counts kept as the catalog is written (v5-status-counts): a few rows, not a million.
        for row in try Row.fetchAll(db, sql: """
            SELECT class, year, objects, archives, bytes, sessions FROM stored_counts WHERE objects > 0 ORDER BY class, year
            """) {
            let bytes: Int = row["bytes"]
            stored.rows.append([row["class"], row["year"], String(row["objects"] as Int), String(row["archives"] as Int),
                                String(bytes), ByteSize.format(bytes), String(row["sessions"] as Int)])
        }
        tables.append(stored)

        // The last batch: everything logged within 12 hours of the newest operation.
        var batch = Table(columns: ["outcome", "operations", "bytes", "last"], numeric: ["operations", "bytes"], title: "Last batch")
        if let newest = try Double.fetchOne(db, sql: "SELECT MAX(at) FROM operations") {
            for row in try Row.fetchAll(db, sql: """
                SELECT outcome, COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes, MAX(at) AS last FROM operations
                WHERE at >= ? GROUP BY outcome ORDER BY outcome
                """, arguments: [newest - 12 * 3600]) {
                batch.rows.append([row["outcome"], String(row["n"] as Int), String(row["bytes"] as Int),
                                   isoStamp(row["last"])])
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT url, message FROM operations WHERE at >= ? AND outcome = 'failed' ORDER BY at
                """, arguments: [newest - 12 * 3600]) {
                batch.rows.append(["failed: " + ((row["url"] as String?) ?? ""), "", "", (row["message"] as String?) ?? ""])
            }
        }
        tables.append(batch)

        var uploads = Table(columns: ["state", "url", "started", "parts"], numeric: ["parts"], title: "Uploads in progress")
        for row in try Row.fetchAll(db, sql: """
            SELECT u.url, u.started_at, (SELECT COUNT(*) FROM upload_parts p WHERE p.upload_id = u.upload_id) AS parts
            FROM uploads u WHERE u.state = 'in_progress' ORDER BY u.started_at
            """) {
            let started: Double = row["started_at"]
            uploads.rows.append([now.timeIntervalSince1970 - started > 86400 ? "stale" : "in progress", row["url"],
                                 isoStamp(started), String(row["parts"] as Int)])
        }
        tables.append(uploads)

        // Each URL's latest verification, counted by outcome as the catalog is written (v5-status-counts); the
        // newest of each outcome from an index.
        var checks = Table(columns: ["outcome", "objects", "last"], numeric: ["objects"], title: "Last verifications")
        for row in try Row.fetchAll(db, sql: """
            SELECT c.outcome, c.objects AS n, (SELECT MAX(l.at) FROM latest_verifications l WHERE l.outcome = c.outcome) AS last
            FROM verification_counts c WHERE c.objects > 0 ORDER BY c.outcome
            """) {
            checks.rows.append([row["outcome"], String(row["n"] as Int), isoStamp(row["last"])])
        }
        tables.append(checks)
        return tables
    }
}

func isoStamp(_ seconds: Double?) -> String {
    guard let seconds else { return "" }
    return UTC.iso8601(Date(timeIntervalSince1970: seconds))
}

// MARK: sessions

func sessionsTable(root: String, year: String?, only: SessionState?, excluding: [String] = [], catalog: Catalog?) throws -> Table {
    var places = try SessionFinder.places(root: root, year: year)
    var backups = Backups()
    if only == .notBackedUp {
        // Only whether a backup exists matters: two small sets, no rows to decode. A session with any backup is
        // never "not backed up", so that question needs no walk of the backed-up ones.
        var paths = Set<String>(), names = Set<String>()
        try catalog?.read { db in
            paths = try String.fetchSet(db, sql: "SELECT DISTINCT session_path FROM archives WHERE session_path IS NOT NULL")
            names = try String.fetchSet(db, sql: "SELECT DISTINCT session FROM archives WHERE session_path IS NULL")
        }
        places = places.filter { !paths.contains($0.path) && !names.contains($0.name) }
    } else if let catalog {
        backups = try Backups(catalog)
    }
    let sessions = SessionFinder.fingerprints(of: places, excluding: excluding).filter { year == nil || $0.year == year }
    var table = Table(columns: ["session", "year", "files", "bytes", "size", "state", "archive", "path", "generations"],
                      numeric: ["files", "bytes", "generations"])
    for session in sessions {
        let found = backups.byPath[session.path] ?? backups.byName[session.name]
        let state = try found.map { try backupState(session, $0, catalog: catalog, excluding: excluding) } ?? .notBackedUp
        if let only, only != state { continue }
        table.rows.append([session.name, session.year, String(session.files), String(session.bytes),
                           ByteSize.format(session.bytes), state.rawValue, found?.url ?? "", session.path,
                           String(found.map { backups.generations[$0.first] ?? 1 } ?? 0)])
        // A folder named in other bytes than UTF-8: exactly, for scripts (s3-nightly) to find it.
        if !ArchivePath(bytes: session.folder.bytes).isUTF8 {
            let name = ArchivePath(bytes: session.folder.bytes).name.bytes
            table.exact[table.rows.count - 1] = [("session_base64", Data(name).base64EncodedString()),
                                                 ("path_base64", Data(session.folder.bytes).base64EncodedString())]
        }
    }
    return table
}

/// Each session's backup, from one query of every archive, newest first: the newest archive made from its
/// directory, or, for archives that did not record a directory, the newest of its name. All generations of an
/// archive share the first generation's URL, which counts them.
struct Backups {
    struct Backup {
        var files: Int, bytes: Int, newest: Double
        var url: String
        var first: String
    }
    var byPath: [String: Backup] = [:]
    var byName: [String: Backup] = [:]
    var generations: [String: Int] = [:]

    init() {}

    init(_ catalog: Catalog) throws {
        try catalog.read { db in
            for row in try Row.fetchAll(db, sql: """
                SELECT session, session_path, files, bytes, newest_mtime, url, COALESCE(first_url, url) AS first
                FROM archives ORDER BY stored_at DESC, generation DESC
                """) {
                let backup = Backup(files: row["files"], bytes: row["bytes"], newest: row["newest_mtime"], url: row["url"],
                                    first: row["first"])
                generations[backup.first, default: 0] += 1
                if let path = row["session_path"] as String? {
                    if byPath[path] == nil { byPath[path] = backup }
                } else if byName[row["session"]] == nil {
                    byName[row["session"]] = backup
                }
            }
        }
    }
}

/// Backed up when the fingerprint (files, bytes, newest mtime) is the backup's. Otherwise, only a session with
/// fewer files or bytes can be pruned, and only a file-by-file walk against the archive's files says so.
func backupState(_ session: SessionOnDisk, _ backup: Backups.Backup, catalog: Catalog?, excluding: [String]) throws -> SessionState {
    guard session.unreadable.isEmpty else { return .changed }
    if backup.files == session.files, backup.bytes == session.bytes, abs(backup.newest - session.newestMtime) < 0.001 {
        return .backedUp
    }
    guard let catalog, session.files <= backup.files, session.bytes <= backup.bytes,
          session.files < backup.files || session.bytes < backup.bytes else { return .changed }
    let archived = try catalog.archivedFiles(backup.url)
    // An archive recorded before the catalog kept its files cannot vouch for any of them.
    guard !archived.isEmpty else { return .changed }
    return SessionFinder.onlyRemoved(folder: session.folder, since: archived, excluding: excluding) ? .pruned : .changed
}

// MARK: log

func logTable(_ catalog: Catalog, since: Date?, failedOnly: Bool) throws -> Table {
    var table = Table(columns: ["time", "tool", "action", "outcome", "url", "bytes", "seconds", "message"],
                      numeric: ["bytes", "seconds"])
    try catalog.read { db in
        var sql = "SELECT * FROM operations WHERE at >= ?"
        if failedOnly { sql += " AND outcome = 'failed'" }
        sql += " ORDER BY at, id"
        for row in try Row.fetchAll(db, sql: sql, arguments: [since?.timeIntervalSince1970 ?? 0]) {
            let seconds: Double? = row["seconds"]
            table.rows.append([isoStamp(row["at"]), row["tool"], row["action"], row["outcome"], (row["url"] as String?) ?? "",
                               (row["bytes"] as Int?).map(String.init) ?? "", seconds.map { String(format: "%.2f", $0) } ?? "",
                               (row["message"] as String?) ?? ""])
        }
    }
    return table
}

// MARK: analyze

/// Bytes per second of recent uploads, from the operations log; nil when none is recorded.
func measuredBandwidth(_ catalog: Catalog?) throws -> Int? {
    try catalog?.read { db in
        guard let row = try Row.fetchOne(db, sql: """
            SELECT SUM(bytes) AS bytes, SUM(seconds) AS seconds FROM (SELECT bytes, seconds FROM operations
            WHERE tool = 's3-put' AND outcome = 'ok' AND bytes > 0 AND seconds > 0 ORDER BY at DESC LIMIT 100)
            """), let bytes = row["bytes"] as Int?, let seconds = row["seconds"] as Double?, seconds > 0 else { return nil }
        return Int(Double(bytes) / seconds)
    }
}

func analyzeTable(root: String, bandwidth: Int?) throws -> Table {
    let sessions = try SessionFinder.find(root: root)
    var byYear: [String: (sessions: Int, files: Int, bytes: Int)] = [:]
    for session in sessions {
        var entry = byYear[session.year] ?? (0, 0, 0)
        entry.sessions += 1
        entry.files += session.files
        entry.bytes += session.bytes
        byYear[session.year] = entry
    }
    var columns = ["year", "sessions", "files", "bytes", "size", "average session"]
    if bandwidth != nil { columns.append("upload time") }
    var table = Table(columns: columns, numeric: ["sessions", "files", "bytes"],
                      title: bandwidth.map { "At \(ByteSize.format($0))/s" })
    var total = (sessions: 0, files: 0, bytes: 0)
    func row(_ name: String, _ value: (sessions: Int, files: Int, bytes: Int)) -> [String] {
        var cells = [name, String(value.sessions), String(value.files), String(value.bytes), ByteSize.format(value.bytes),
                     ByteSize.format(value.sessions > 0 ? value.bytes / value.sessions : 0)]
        if let bandwidth { cells.append(duration(Double(value.bytes) / Double(max(1, bandwidth)))) }
        return cells
    }
    for year in byYear.keys.sorted() {
        let value = byYear[year]!
        table.rows.append(row(year.isEmpty ? "(unknown)" : year, value))
        total = (total.sessions + value.sessions, total.files + value.files, total.bytes + value.bytes)
    }
    table.rows.append(row("total", total))
    return table
}

func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s >= 86400 { return "\(s / 86400)d \((s % 86400) / 3600)h" }
    if s >= 3600 { return "\(s / 3600)h \((s % 3600) / 60)m" }
    return "\(s / 60)m \(s % 60)s"
}
