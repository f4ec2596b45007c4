import Foundation
import GRDB

/// Multipart uploads the catalog follows, so that an interrupted one can be resumed or aborted.
extension Catalog {
    public func uploadStarted(_ uploadID: String, url: String, bucket: String?, key: String, source: SourceFingerprint?,
                              layout: PartLayout) throws {
        try database.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO uploads (upload_id, url, bucket, key, source_path, source_size, source_mtime,
                    part_size, part_size_doubling_every, state, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'in_progress', ?)
                """, arguments: [uploadID, url, bucket, key, source?.path, source?.size, source?.modified,
                                 layout.partSize, layout.doublingEvery, Date().timeIntervalSince1970])
        }
    }

    public func partStored(_ uploadID: String, number: Int, size: Int, md5: String) throws {
        try database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO upload_parts (upload_id, number, size, md5) VALUES (?, ?, ?, ?)",
                           arguments: [uploadID, number, size, md5])
        }
    }

    /// `completed` or `aborted`; the parts are forgotten either way.
    public func uploadEnded(_ uploadID: String, state: String) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE uploads SET state = ?, ended_at = ? WHERE upload_id = ?",
                           arguments: [state, Date().timeIntervalSince1970, uploadID])
            try db.execute(sql: "DELETE FROM upload_parts WHERE upload_id = ?", arguments: [uploadID])
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
