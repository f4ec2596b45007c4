import Foundation

/// The index of one session archive: every entry with its SHA-256 and the offset of its data in the tar, and the
/// tar's own size and CRC64NVME (older indexes: its SHA-256). Stored beside the archive as `KEY.index.json` (see
/// s3-records(5)).
public struct ArchiveIndex: Codable, Sendable, Equatable {
    public static let formatName = "s3-archive-index/1"

    public struct Entry: Codable, Sendable, Equatable {
        /// The path inside the archive, as bytes (see `ArchivePath`).
        public var path: ArchivePath
        /// `file`, `directory`, `symlink` or `hardlink`.
        public var type: String
        public var size: Int
        public var mode: UInt32
        /// Seconds since 1970, with the fraction the file system keeps.
        public var mtime: Double
        /// Symlinks: what the link points to. Hard links: the archive path of the file holding the data.
        public var target: ArchivePath?
        /// Files (and hard links: the same as their target's).
        public var sha256: String?
        /// Files: where their data starts in the tar.
        public var offset: Int?

        public init(path: ArchivePath, type: String, size: Int, mode: UInt32, mtime: Double, target: ArchivePath? = nil,
                    sha256: String? = nil, offset: Int? = nil) {
            self.path = path
            self.type = type
            self.size = size
            self.mode = mode
            self.mtime = mtime
            self.target = target
            self.sha256 = sha256
            self.offset = offset
        }

        // JSON strings are Unicode: a name that is not UTF-8 is written as its `\xNN` display form in `path` (for
        // people and jq) and exactly, base64-encoded, in `path_base64`, which readers prefer (s3-records(5)).
        enum CodingKeys: String, CodingKey {
            case path, type, size, mode, mtime, target, sha256, offset
            case pathBase64 = "path_base64", targetBase64 = "target_base64"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            guard let path = try Self.decodePath(c, text: .path, exact: .pathBase64) else {
                throw DecodingError.keyNotFound(CodingKeys.path, .init(codingPath: c.codingPath, debugDescription: "an entry has no path"))
            }
            self.path = path
            type = try c.decode(String.self, forKey: .type)
            size = try c.decode(Int.self, forKey: .size)
            mode = try c.decode(UInt32.self, forKey: .mode)
            mtime = try c.decode(Double.self, forKey: .mtime)
            target = try Self.decodePath(c, text: .target, exact: .targetBase64)
            sha256 = try c.decodeIfPresent(String.self, forKey: .sha256)
            offset = try c.decodeIfPresent(Int.self, forKey: .offset)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try Self.encodePath(path, &c, text: .path, exact: .pathBase64)
            try c.encode(type, forKey: .type)
            try c.encode(size, forKey: .size)
            try c.encode(mode, forKey: .mode)
            try c.encode(mtime, forKey: .mtime)
            if let target { try Self.encodePath(target, &c, text: .target, exact: .targetBase64) }
            try c.encodeIfPresent(sha256, forKey: .sha256)
            try c.encodeIfPresent(offset, forKey: .offset)
        }

        private static func decodePath(_ c: KeyedDecodingContainer<CodingKeys>, text: CodingKeys, exact: CodingKeys) throws -> ArchivePath? {
            if let base64 = try c.decodeIfPresent(String.self, forKey: exact) {
                guard let data = Data(base64Encoded: base64) else {
                    throw DecodingError.dataCorruptedError(forKey: exact, in: c, debugDescription: "not base64")
                }
                return ArchivePath(bytes: Array(data))
            }
            return try c.decodeIfPresent(String.self, forKey: text).map { ArchivePath($0) }
        }

        private static func encodePath(_ path: ArchivePath, _ c: inout KeyedEncodingContainer<CodingKeys>, text: CodingKeys, exact: CodingKeys) throws {
            try c.encode(path.description, forKey: text)
            if !path.isUTF8 { try c.encode(Data(path.bytes).base64EncodedString(), forKey: exact) }
        }
    }

    public struct Totals: Codable, Sendable, Equatable {
        public var size: Int
        /// The tar's SHA-256: only in indexes written before s3-archive 2026-11 (read, never written now). The
        /// whole tar is checked by its CRC64NVME; every file's bytes by their own SHA-256.
        public var sha256: String?
        /// The tar's CRC64NVME as S3 writes it (base64 of the eight bytes, most significant first): what a HEAD
        /// of the stored archive returns, so that the archive is checked whole without reading it back. Absent
        /// from indexes written before it was recorded (those have `sha256`).
        public var crc64nvme: String?

        public init(size: Int, sha256: String? = nil, crc64nvme: String? = nil) {
            self.size = size
            self.sha256 = sha256
            self.crc64nvme = crc64nvme
        }

        /// The same bytes: the same size, and the same SHA-256 and CRC64NVME wherever both indexes have one; two
        /// indexes with no whole-archive checksum in common cannot say, so they are not the same.
        public func describesSameBytes(as other: Totals) -> Bool {
            func agree(_ a: String?, _ b: String?) -> Bool? { a.flatMap { a in b.map { a == $0 } } }
            let compared = [agree(sha256, other.sha256), agree(crc64nvme, other.crc64nvme)].compactMap { $0 }
            return size == other.size && !compared.isEmpty && !compared.contains(false)
        }
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
