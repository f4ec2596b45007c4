import Foundation
import GRDB

/// The catalog: what was stored where, uploads in progress (for resume), verifications, and an operations log.
/// SQLite through GRDB, migrated on open. S3 and the index stay the truth; the catalog is the memory.
public final class Catalog: Sendable {
    public let path: String
    let database: DatabaseQueue

    /// `--catalog PATH`, else `$S3_ARCHIVE_CATALOG`, else `$XDG_DATA_HOME/s3-archive/catalog.sqlite`
    /// (`~/.local/share/...` when XDG_DATA_HOME is unset).
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["S3_ARCHIVE_CATALOG"], !path.isEmpty { return path }
        let data = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.local/share")
        return data + "/s3-archive/catalog.sqlite"
    }

    /// Opens (creating it and its directory when `create`) and migrates the catalog.
    public init(path: String, create: Bool = true) throws {
        self.path = path
        let busyTimeout = try Self.busyTimeout(opening: path)
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists && !create {
            throw Failure.noInput("\(path): no catalog yet: it is created by the first s3-put (or set --catalog / S3_ARCHIVE_CATALOG)")
        }
        do {
            let folder = Paths.parent(path)
            if create, !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            // Two runs creating the catalog at once would both migrate it, the second into tables already made.
            let creating = create ? try? FileLock(path: path + ".lock") : nil
            try? creating?.lock(at: 0)
            defer { creating?.close() }
            var configuration = Configuration()
            configuration.busyMode = .timeout(busyTimeout)
            // While a tool writes, a write-ahead log flushed at checkpoints rather than at every commit: s3-put
            // records several rows for each of thousands of small objects, and a flush each (eight per object) was
            // 90% of its time. A crash can lose the last commits, never the file's consistency; the bucket stays
            // the truth. `close()` puts the file back in rollback-journal mode, which a reader without write access
            // to the folder can open (a write-ahead log needs its shared-memory file).
            // recursive_triggers: the rows INSERT OR REPLACE deletes must fire the delete triggers that keep
            // status's counts (v5-status-counts); SQLite fires them only with this set.
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA recursive_triggers = ON")
            }
            database = try DatabaseQueue(path: path, configuration: configuration)
            if create { try? database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") } }
            try Self.migrator.migrate(database)
        } catch let error as DatabaseError where CatalogBusy.recognizing(error) != nil {
            throw CatalogBusy(path: path, waited: busyTimeout)
        } catch let error as DatabaseError {
            throw Failure(.ioError, "\(path): cannot open the catalog (\(error.message ?? error.description)): move the file aside or use --no-catalog")
        } catch {
            throw Failure(.ioError, "\(path): cannot open the catalog (\(error.localizedDescription)): check the path or use --no-catalog")
        }
    }

    /// Ends the run's use of the catalog: the log is folded into the file, which goes back to rollback-journal
    /// mode, and the connection closes. Called by the tools that write, on their own thread, before they exit
    /// (a connection closed by whichever thread drops the last reference could race the process's exit).
    public func close() {
        try? database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
        try? database.close()
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE objects (
                    url TEXT PRIMARY KEY,
                    bucket TEXT, key TEXT NOT NULL,
                    size INTEGER NOT NULL, etag TEXT NOT NULL,
                    part_size INTEGER NOT NULL, parts INTEGER NOT NULL, part_size_doubling_every INTEGER,
                    storage_class TEXT, sha256 TEXT, session TEXT, index_url TEXT,
                    source_path TEXT, source_size INTEGER, source_mtime REAL,
                    stored_at REAL NOT NULL
                );
                CREATE INDEX objects_session ON objects(session);
                CREATE TABLE archives (
                    url TEXT PRIMARY KEY REFERENCES objects(url) ON DELETE CASCADE,
                    session TEXT NOT NULL, session_path TEXT,
                    files INTEGER NOT NULL, bytes INTEGER NOT NULL, newest_mtime REAL NOT NULL,
                    sha256 TEXT NOT NULL, index_url TEXT, stored_at REAL NOT NULL
                );
                CREATE INDEX archives_session ON archives(session);
                CREATE INDEX archives_path ON archives(session_path);
                CREATE TABLE uploads (
                    upload_id TEXT PRIMARY KEY,
                    url TEXT NOT NULL, bucket TEXT, key TEXT NOT NULL,
                    source_path TEXT, source_size INTEGER, source_mtime REAL,
                    part_size INTEGER NOT NULL, part_size_doubling_every INTEGER,
                    state TEXT NOT NULL DEFAULT 'in_progress',
                    started_at REAL NOT NULL, ended_at REAL
                );
                CREATE INDEX uploads_url ON uploads(url, state);
                CREATE TABLE upload_parts (
                    upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
                    number INTEGER NOT NULL, size INTEGER NOT NULL, md5 TEXT NOT NULL,
                    PRIMARY KEY (upload_id, number)
                );
                CREATE TABLE operations (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL, tool TEXT NOT NULL, action TEXT NOT NULL,
                    url TEXT, outcome TEXT NOT NULL, bytes INTEGER, seconds REAL, message TEXT
                );
                CREATE INDEX operations_at ON operations(at);
                CREATE TABLE verifications (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL, url TEXT NOT NULL, deep INTEGER NOT NULL,
                    outcome TEXT NOT NULL, detail TEXT
                );
                CREATE INDEX verifications_url ON verifications(url, at);
                """)
        }
        // Generations, and what tells a pruned session from a changed one: each archive's regular files (and
        // hard links) with their size and mtime, paths as bytes relative to the session folder.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                ALTER TABLE archives ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE archives ADD COLUMN first_url TEXT;
                UPDATE archives SET first_url = url;
                CREATE INDEX archives_first ON archives(first_url);
                CREATE TABLE archive_files (
                    archive_url TEXT NOT NULL REFERENCES archives(url) ON DELETE CASCADE,
                    path BLOB NOT NULL, size INTEGER NOT NULL, mtime REAL NOT NULL,
                    PRIMARY KEY (archive_url, path)
                ) WITHOUT ROWID;
                """)
        }
        registerRefreshColumns(&migrator)
        // `s3-report status` on a million objects reads indexes, not rows: the objects by class and year in
        // index order, each archive's class from an index beside its URL rather than from the wide row, and each
        // object's latest verification in one pass. verifications_latest serves everything verifications_url did.
        migrator.registerMigration("v4-status-indexes") { db in
            try db.execute(sql: """
                CREATE INDEX objects_class_year
                    ON objects(COALESCE(storage_class, 'STANDARD'), strftime('%Y', stored_at, 'unixepoch'), size);
                CREATE INDEX objects_url_class ON objects(url, storage_class, stored_at);
                CREATE INDEX archives_url_first ON archives(url, first_url);
                CREATE INDEX verifications_latest ON verifications(url, at, outcome);
                DROP INDEX IF EXISTS verifications_url;
                """)
        }
        registerStatusCounts(&migrator)
        return migrator
    }

    // MARK: stored objects

    /// Records an object that was stored and verified (and, for an archive, its session fingerprint, its files,
    /// and the first generation it belongs to).
    public func recordStored(_ record: Record, source: SourceFingerprint?, archive: ArchiveIndex?, sessionPath: String?) throws {
        let now = Date().timeIntervalSince1970
        try database.write { db in
            try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO objects (url, bucket, key, size, etag, part_size, parts, part_size_doubling_every,
                    storage_class, sha256, session, index_url, source_path, source_size, source_mtime, stored_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [record.url, record.bucket, record.key, record.size, record.etag, record.partSize,
                                 record.parts, record.partSizeDoublingEvery, record.storageClass, record.sha256,
                                 record.session, record.index, source?.path, source?.size, source?.modified, now])
            if let archive {
                // `sha256` (NOT NULL since v1, read by nothing) is empty for indexes without the tar's SHA-256.
                let generation = record.generation ?? 1
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO archives (url, session, session_path, files, bytes, newest_mtime, sha256,
                        index_url, stored_at, generation, first_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [record.url, archive.session, sessionPath, archive.files, archive.bytes,
                                     archive.newestMtime, archive.archive.sha256 ?? "", record.index, now, generation,
                                     Self.firstURL(of: record.url, generation: generation)])
                try Self.recordFiles(of: archive, url: record.url, in: db)
            }
        }
    }

    /// The URL of the first generation of the archive stored at `url` as generation `generation`.
    static func firstURL(of url: String, generation: Int) -> String {
        guard generation > 1, let parsed = try? StorageURL(parsing: url),
              let first = Generation.firstKey(of: parsed.key, number: generation) else { return url }
        return parsed.with(key: first).description
    }

    /// The archive's regular files and hard links, each once by path, relative to the session folder (the index's
    /// paths start with the session's name). One prepared statement: 100,000 rows must not cost a statement each.
    static func recordFiles(of archive: ArchiveIndex, url: String, in db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM archive_files WHERE archive_url = ?").execute(arguments: [url])
        let insert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO archive_files (archive_url, path, size, mtime) VALUES (?, ?, ?, ?)")
        for entry in archive.entries where entry.type == "file" || entry.type == "hardlink" {
            let bytes = entry.path.bytes
            guard let slash = bytes.firstIndex(of: 0x2F) else { continue }
            insert.setUncheckedArguments([url, Data(bytes[(slash + 1)...]), entry.size, entry.mtime])
            try insert.execute()
        }
    }

    /// The files the catalog holds for the archive at `url`: relative path bytes → (size, mtime). Empty for an
    /// archive recorded before the catalog kept them.
    public func archivedFiles(_ url: String) throws -> [[UInt8]: (size: Int, mtime: Double)] {
        try database.read { db in
            var files: [[UInt8]: (size: Int, mtime: Double)] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT path, size, mtime FROM archive_files WHERE archive_url = ?",
                                           arguments: [url])
            while let row = try rows.next() {
                let path: Data = row[0]
                files[Array(path)] = (row[1], row[2])
            }
            return files
        }
    }

    /// What the catalog knows of the object at `url`: its record and the source it came from.
    public func storedObject(_ url: String) throws -> (record: Record, source: SourceFingerprint?)? {
        // One statement, so no transaction of its own (SQLite reads it whole), and cached: it is asked once per
        // object of a recursive upload, where the transaction's statements and preparing this one anew took a
        // tenth of the run's CPU time.
        try database.unsafeRead { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM objects WHERE url = ?"), arguments: [url]) else {
                return nil
            }
            var record = Record(url: row["url"], bucket: row["bucket"], key: row["key"], size: row["size"],
                                etag: row["etag"],
                                layout: PartLayout(partSize: row["part_size"], doublingEvery: row["part_size_doubling_every"]),
                                parts: row["parts"], storageClass: row["storage_class"])
            record.partSizeDoublingEvery = row["part_size_doubling_every"]
            record.sha256 = row["sha256"]
            record.session = row["session"]
            record.index = row["index_url"]
            let path: String? = row["source_path"]
            let source = path.map { SourceFingerprint(path: $0, size: row["source_size"], modified: row["source_mtime"]) }
            return (record, source)
        }
    }

    // MARK: the operations log and verifications

    public func log(tool: String, action: String, url: String?, outcome: String, bytes: Int? = nil,
                    seconds: Double? = nil, message: String? = nil) throws {
        // One INSERT: atomic by itself, without a transaction's statements around it (one per object).
        try database.writeWithoutTransaction { db in
            try db.cachedStatement(sql: """
                INSERT INTO operations (at, tool, action, url, outcome, bytes, seconds, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [Date().timeIntervalSince1970, tool, action, url, outcome, bytes, seconds, message])
        }
    }

    public func recordVerification(url: String, deep: Bool, outcome: String, detail: String?) throws {
        // One INSERT, atomic with the triggers it fires (v5-status-counts) without a transaction around it.
        try database.writeWithoutTransaction { db in
            try db.cachedStatement(sql: "INSERT INTO verifications (at, url, deep, outcome, detail) VALUES (?, ?, ?, ?, ?)")
                .execute(arguments: [Date().timeIntervalSince1970, url, deep, outcome, detail])
        }
    }

    /// Runs a read-only query for the report views.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try database.read(body)
    }
}

/// What identifies a local source between runs: path, size and modification time.
public struct SourceFingerprint: Sendable, Equatable {
    public var path: String
    public var size: Int
    public var modified: Double

    public init(path: String, size: Int, modified: Double) {
        self.path = path
        self.size = size
        self.modified = modified
    }
}
