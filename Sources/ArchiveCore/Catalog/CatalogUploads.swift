import Foundation
import GRDB

/// Multipart uploads the catalog follows, so that an interrupted one can be resumed or aborted.
extension Catalog {
    public func uploadStarted(_ uploadID: String, url: String, bucket: String?, key: String, source: SourceFingerprint?,
                              layout: PartLayout) throws {
        try sayingBusy { try database.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO uploads (upload_id, url, bucket, key, source_path, source_size, source_mtime,
                    part_size, part_size_doubling_every, state, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'in_progress', ?)
                """, arguments: [uploadID, url, bucket, key, source?.path, source?.size, source?.modified,
                                 layout.partSize, layout.doublingEvery, Date().timeIntervalSince1970])
        } }
    }

    public func partStored(_ uploadID: String, number: Int, size: Int, md5: String) throws {
        try sayingBusy { try database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO upload_parts (upload_id, number, size, md5) VALUES (?, ?, ?, ?)",
                           arguments: [uploadID, number, size, md5])
        } }
    }

    /// `completed`, `aborted` (the store agreed to abort it) or `ended` (the store no longer knew it: completed
    /// or aborted by a run that could not say so); the parts are forgotten either way. An upload ends once: a
    /// later, less certain word (an abort that finds a completed upload gone) never replaces the first.
    public func uploadEnded(_ uploadID: String, state: String) throws {
        try sayingBusy { try database.write { db in
            try db.execute(sql: "UPDATE uploads SET state = ?, ended_at = ? WHERE upload_id = ? AND state = 'in_progress'",
                           arguments: [state, Date().timeIntervalSince1970, uploadID])
            try db.execute(sql: "DELETE FROM upload_parts WHERE upload_id = ?", arguments: [uploadID])
        } }
    }

    /// The uploads still in progress to any of `urls`, oldest first: those an earlier run left (the catalog is
    /// locked for these URLs while this is asked, so no other run is using them).
    func leftoverUploads(to urls: Set<String>) throws -> [LeftoverUpload] {
        try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT upload_id, url, key, source_path, source_size, source_mtime, started_at FROM uploads
                    WHERE state = 'in_progress' ORDER BY started_at
                """).compactMap { row in
                let url: String = row["url"]
                guard urls.contains(url) else { return nil }
                let path: String? = row["source_path"]
                return LeftoverUpload(uploadID: row["upload_id"], url: url, key: row["key"],
                                      source: path.map { SourceFingerprint(path: $0, size: row["source_size"],
                                                                            modified: row["source_mtime"]) },
                                      started: Date(timeIntervalSince1970: row["started_at"]))
            }
        }
    }

    /// An upload of this same source to this same URL that was left unfinished, with the parts it recorded.
    public func resumableUpload(url: String, source: SourceFingerprint, layout: PartLayout) throws -> ResumableUpload? {
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT upload_id FROM uploads WHERE url = ? AND state = 'in_progress' AND source_path = ?
                    AND source_size = ? AND source_mtime = ? AND part_size = ? ORDER BY started_at DESC LIMIT 1
                """, arguments: [url, source.path, source.size, source.modified, layout.partSize]) else { return nil }
            let uploadID: String = row["upload_id"]
            var parts: [Int: (size: Int, md5: String)] = [:]
            for part in try Row.fetchAll(db, sql: "SELECT number, size, md5 FROM upload_parts WHERE upload_id = ?",
                                         arguments: [uploadID]) {
                parts[part["number"]] = (part["size"], part["md5"])
            }
            return ResumableUpload(uploadID: uploadID, parts: parts)
        }
    }
}

/// An unfinished multipart upload the catalog remembers: its id and the parts it recorded as stored.
public struct ResumableUpload: Sendable {
    public var uploadID: String
    public var parts: [Int: (size: Int, md5: String)]
}

/// A multipart upload the catalog lists as in progress, as found at the start of a run.
struct LeftoverUpload: Sendable {
    var uploadID: String
    var url: String
    /// The key at the store (the URL's key as the store spells it).
    var key: String
    var source: SourceFingerprint?
    var started: Date
}
