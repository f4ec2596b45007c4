import Foundation

/// One stored object, as tools pass it along a pipe: a JSON Lines record (see man/s3-records.5).
public struct Record: Codable, Sendable, Equatable {
    public var url: String
    public var bucket: String?
    public var key: String
    public var size: Int
    public var etag: String
    public var partSize: Int
    public var parts: Int
    /// Present when the part size doubled along the way (long streams): every this many parts.
    public var partSizeDoublingEvery: Int?
    public var storageClass: String?
    /// True when the object was already there, identical, and nothing was sent.
    public var skipped: Bool?
    /// Archives: the SHA-256 of the whole tar, the session it holds, and where its index is stored.
    public var sha256: String?
    public var session: String?
    public var index: String?
    /// Parts a resumed upload found already stored (and did not send again).
    public var resumedParts: Int?
    /// Archives stored beside an earlier archive of the same session: 2 for the second, and so on (absent for the
    /// first). The key is the first key with `.genN` before its extension (see `Generation`).
    public var generation: Int?
    /// The object's CRC64NVME as S3 stores it (`x-amz-checksum-crc64nvme`, base64): of the whole object, also
    /// when it was uploaded in parts (FULL_OBJECT). Absent when no checksum was sent (`--checksum none`).
    public var checksumCRC64NVME: String?

    enum CodingKeys: String, CodingKey {
        case url, bucket, key, size, etag, parts, skipped, sha256, session, index, generation
        case partSize = "part_size"
        case partSizeDoublingEvery = "part_size_doubling_every"
        case storageClass = "storage_class"
        case resumedParts = "resumed_parts"
        case checksumCRC64NVME = "checksum_crc64nvme"
    }

    public init(url: String, bucket: String?, key: String, size: Int, etag: String, layout: PartLayout, parts: Int,
                storageClass: String?, skipped: Bool? = nil) {
        self.url = url
        self.bucket = bucket
        self.key = key
        self.size = size
        self.etag = etag
        self.partSize = layout.partSize
        self.parts = parts
        self.partSizeDoublingEvery = parts > (layout.doublingEvery ?? Int.max) ? layout.doublingEvery : nil
        self.storageClass = storageClass
        self.skipped = skipped
    }

    public var layout: PartLayout { PartLayout(partSize: partSize, doublingEvery: partSizeDoublingEvery) }

    /// One line of JSON, keys in a stable order.
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
