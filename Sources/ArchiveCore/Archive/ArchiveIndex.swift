import Foundation

/// The index of one session archive: every entry with its SHA-256 and the offset of its data in the tar, and the
/// tar's own size and SHA-256. Stored beside the archive as `KEY.index.json` (see s3-records(5)).
public struct ArchiveIndex: Codable, Sendable, Equatable {
    public static let formatName = "s3-archive-index/1"

    public struct Entry: Codable, Sendable, Equatable {
        public var path: String
        /// `file`, `directory`, `symlink` or `hardlink`.
        public var type: String
        public var size: Int
        public var mode: UInt32
        /// Seconds since 1970, with the fraction the file system keeps.
        public var mtime: Double
        /// Symlinks: what the link points to. Hard links: the archive path of the file holding the data.
        public var target: String?
        /// Files (and hard links: the same as their target's).
        public var sha256: String?
        /// Files: where their data starts in the tar.
        public var offset: Int?
    }

    public struct Totals: Codable, Sendable, Equatable {
        public var size: Int
        public var sha256: String
    }

    public var format: String
    public var session: String
    /// The session directory's absolute path when it was archived: what tells two sessions of one name apart.
    public var source: String?
    public var created: String
    public var archive: Totals
    /// The session's fingerprint: regular files, their bytes, and the newest mtime among them.
    public var files: Int
    public var bytes: Int
    public var newestMtime: Double
    public var entries: [Entry]

    enum CodingKeys: String, CodingKey {
        case format, session, source, created, archive, files, bytes, entries
        case newestMtime = "newest_mtime"
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    public static func decode(_ data: Data, source: String) throws -> ArchiveIndex {
        do {
            let index = try JSONDecoder().decode(ArchiveIndex.self, from: data)
            guard index.format == formatName else {
                throw Failure(.dataError, "\(source): index format '\(index.format)' is not \(formatName)")
            }
            return index
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(.dataError, "\(source): not an archive index (\(error.localizedDescription))")
        }
    }
}
