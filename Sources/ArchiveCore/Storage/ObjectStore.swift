import Foundation

/// What a store knows of one stored object.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int
    public var etag: String
    public var storageClass: String
    public var lastModified: Date?
    public var metadata: [String: String]
    /// S3's `x-amz-restore` answer for a cold object: `ongoing-request="true"`, or `"false"` with an expiry date.
    public var restore: String?
    /// The whole object's CRC64NVME as the store holds it (base64, `x-amz-checksum-crc64nvme` on a HEAD with
    /// `x-amz-checksum-mode: ENABLED`), nil when the object was stored without one.
    public var checksumCRC64NVME: String?
    /// `FULL_OBJECT` or `COMPOSITE` (a checksum of the parts' checksums, not comparable with the object's).
    public var checksumType: String?
    /// False for SSE-KMS and SSE-C objects, whose ETag is no digest of their bytes: only the stored checksum is.
    public var etagIsMD5 = true

    public init(key: String, size: Int, etag: String, storageClass: String = "STANDARD",
                lastModified: Date? = nil, metadata: [String: String] = [:], restore: String? = nil) {
        self.key = key
        self.size = size
        self.etag = etag
        self.storageClass = storageClass
        self.lastModified = lastModified
        self.metadata = metadata
        self.restore = restore
    }

    /// GLACIER and DEEP_ARCHIVE objects must be restored before their bytes can be read (GLACIER_IR need not).
    public var isCold: Bool { ["GLACIER", "DEEP_ARCHIVE"].contains(storageClass) }
    public var restoreInProgress: Bool { restore?.contains("ongoing-request=\"true\"") ?? false }
    /// Readable now: not cold, or cold with a restored copy available.
    public var isReadable: Bool { !isCold || (restore?.contains("ongoing-request=\"false\"") ?? false) }

    /// The part layout s3-put recorded in the object's metadata (`s3a-part-size`, `s3a-part-doubling-every`),
    /// which makes its ETag computable again years later; nil for objects other clients wrote.
    public var recordedLayout: PartLayout? {
        guard let partSize = metadata[PartLayout.partSizeKey].flatMap(Int.init) else { return nil }
        guard let every = metadata[PartLayout.doublingKey].flatMap(Int.init) else {
            return PartLayout.forFile(size: size, preferred: partSize)
        }
        return PartLayout(partSize: partSize, doublingEvery: every)
    }

    init(key: String, response: HTTPResponse) {
        var metadata: [String: String] = [:]
        for (name, value) in response.headers where name.hasPrefix("x-amz-meta-") {
            metadata[String(name.dropFirst("x-amz-meta-".count))] = value
        }
        self.init(key: key,
                  size: Int(response.headers["content-length"] ?? "") ?? 0,
                  etag: ETag.unquote(response.headers["etag"] ?? ""),
                  storageClass: response.headers["x-amz-storage-class"] ?? "STANDARD",
                  lastModified: response.headers["last-modified"].flatMap(HTTPDate.parse),
                  metadata: metadata, restore: response.headers["x-amz-restore"])
        checksumCRC64NVME = response.headers[CRC64NVME.header]
        checksumType = response.headers["x-amz-checksum-type"]
        etagIsMD5 = response.headers["x-amz-server-side-encryption"] != "aws:kms"
            && response.headers["x-amz-server-side-encryption-customer-algorithm"] == nil
    }

    /// The stored whole-object CRC64NVME, when there is one that a whole-object checksum can be compared with.
    public var fullObjectCRC64NVME: UInt64? {
        guard checksumType != "COMPOSITE", let stored = checksumCRC64NVME else { return nil }
        return CRC64NVME.value(base64: stored)
    }
}

/// Settings that travel with an object when it is written.
public struct ObjectOptions: Sendable {
    public var storageClass: String?
    public var contentType: String?
    public var metadata: [String: String]
    /// Object tags (`archive=fast`): lifecycle rules select on them.
    public var tags: [(key: String, value: String)]
    /// `AES256` or `aws:kms` (server-side encryption with S3's or KMS's keys).
    public var serverSideEncryption: String?
    public var kmsKeyID: String?
    /// Retention and legal hold (S3 Object Lock); none by default.
    public var lock = ObjectLock()
    /// The checksum every body carries and the store keeps for the whole object (`--checksum`).
    public var checksum: ChecksumAlgorithm = .crc64nvme

    public init(storageClass: String? = nil, contentType: String? = nil, metadata: [String: String] = [:],
                tags: [(key: String, value: String)] = [], serverSideEncryption: String? = nil, kmsKeyID: String? = nil) {
        self.storageClass = storageClass
        self.contentType = contentType
        self.metadata = metadata
        self.tags = tags
        self.serverSideEncryption = serverSideEncryption
        self.kmsKeyID = kmsKeyID
    }

    /// Set when the store encrypts with the caller's key (SSE-C).
    public var customerEncrypted = false

    /// S3 reports an MD5 ETag only for objects it encrypts with its own keys (or not at all), not for
    /// SSE-KMS or SSE-C objects.
    public var etagIsMD5: Bool { serverSideEncryption != "aws:kms" && !customerEncrypted }
}

/// The full-object checksum s3-put has S3 check and keep beside the ETag (`--checksum`).
public enum ChecksumAlgorithm: String, Sendable, CaseIterable {
    case crc64nvme, none
}

/// What a store answered to the write that made an object visible (a PUT, a completed multipart upload).
public struct WrittenObject: Sendable, Equatable {
    public var etag: String
    /// The version the write created, on a bucket that keeps versions; nil elsewhere.
    public var versionID: String?
    /// False when the answer says the store encrypted the bytes with KMS or a customer's key: its ETag is then
    /// no MD5 of them, whatever s3-put asked for (a bucket that encrypts with KMS by default).
    public var etagIsMD5 = true

    public init(etag: String, versionID: String? = nil) {
        self.etag = etag
        self.versionID = versionID
    }

    init(answer response: HTTPResponse, etag: String?) {
        self.init(etag: ETag.unquote(etag ?? ""), versionID: response.headers["x-amz-version-id"])
        etagIsMD5 = response.headers["x-amz-server-side-encryption"] != "aws:kms"
            && response.headers["x-amz-server-side-encryption-customer-algorithm"] == nil
    }
}

/// A write that did not happen as asked although the key may already hold its bytes: a conditional write
/// (`ifAbsent`) found an object at the key, or a completion retried after an attempt whose answer was lost
/// found its upload gone. The caller reads the key and compares before deciding.
public struct WriteNotApplied: Error, CustomStringConvertible {
    public enum Reason: Sendable { case keyTaken, uploadGone }
    public let reason: Reason
    /// An earlier attempt of the same request went unanswered: it may be what wrote the object.
    public let afterLostAnswer: Bool
    /// What the store said, for the message when the comparison does not settle it.
    public let underlying: Error

    public init(_ reason: Reason, afterLostAnswer: Bool, underlying: Error) {
        self.reason = reason
        self.afterLostAnswer = afterLostAnswer
        self.underlying = underlying
    }

    public var description: String { String(describing: underlying) }
}

/// A part a store holds for an unfinished multipart upload.
public struct StoredPart: Sendable, Equatable {
    public var number: Int
    public var etag: String
    public var size: Int
}

/// A multipart upload that was started and neither completed nor aborted.
public struct PendingUpload: Sendable, Equatable {
    public var key: String
    public var uploadID: String
    public var initiated: Date
}

/// One interface to every place objects live: S3 (`s3://bucket/key`) and a local directory (`file:///path`).
/// Tools hold an `ObjectStore` and never ask which one it is. Keys are relative to the store's location.
public protocol ObjectStore: Sendable {
    /// Where the store is, for messages: `s3://bucket` or `file:///path`.
    var location: String { get }

    /// Throws when the store cannot be written to (missing bucket, refused credentials) — before any byte moves.
    func checkWritable() throws

    /// The object's metadata, or nil when there is none under `key`.
    func head(_ key: String) throws -> ObjectInfo?

    /// The first part of a multipart object as the store answers `HEAD ?partNumber=1`, which tells the part size
    /// of uploads by other clients; nil when the store cannot say (a directory holds no parts).
    func firstPart(_ key: String) throws -> FirstPart?

    /// Stores `body` in one request; `md5` is its digest, checked by the receiver. With `ifAbsent` the write
    /// happens only when nothing is at the key (`If-None-Match: *`), else it throws `WriteNotApplied`.
    func put(_ key: String, body: ArraySlice<UInt8>, md5: [UInt8], checksum: CRC64NVME?, options: ObjectOptions,
             ifAbsent: Bool) throws -> WrittenObject

    /// Starts a multipart upload; returns its id.
    func startMultipart(_ key: String, options: ObjectOptions) throws -> String
    /// Stores part `number` (from 1); returns the part's ETag, which the completion names it by.
    func putPart(_ key: String, uploadID: String, number: Int, body: ArraySlice<UInt8>, md5: [UInt8],
                 checksum: CRC64NVME?) throws -> WrittenObject
    /// Joins the parts into the object, only when nothing is at the key if `ifAbsent` (else `WriteNotApplied`).
    /// `checksum`: the whole object's CRC64NVME (FULL_OBJECT), which the store checks against the parts'.
    func completeMultipart(_ key: String, uploadID: String, parts: [(number: Int, etag: String)],
                           checksum: CRC64NVME?, ifAbsent: Bool) throws -> WrittenObject
    func abortMultipart(_ key: String, uploadID: String) throws
    /// Removes the object, or only `versionID` of it on a bucket that keeps versions.
    func delete(_ key: String, versionID: String?) throws

    /// The parts stored so far for an upload, or nil when the store no longer knows the upload.
    func listParts(_ key: String, uploadID: String) throws -> [StoredPart]?
    /// Unfinished multipart uploads under a prefix.
    func listUploads(prefix: String) throws -> [PendingUpload]

    /// The object's bytes, or `range` of them.
    func get(_ key: String, range: ClosedRange<Int>?) throws -> [UInt8]
    /// Streams the object's bytes (or `range` of them) to `receive`, each byte once, in order; a transfer resumed
    /// after a cut asks for the object of ETag `ifMatch` (when given) and fails if it changed.
    func download(_ key: String, range: ClosedRange<Int>?, ifMatch: String?,
                  receive: @escaping (UnsafeRawBufferPointer) throws -> Void) throws
    /// Every object under `prefix`.
    func list(prefix: String) throws -> [ObjectInfo]
    /// Asks for a cold object to be brought back for `days` days (`tier`: Standard, Bulk, Expedited).
    func requestRestore(_ key: String, days: Int, tier: String) throws
}

extension ObjectStore {
    /// Streams the object's bytes (or `range` of them) to `receive`, each byte once, in order.
    public func download(_ key: String, range: ClosedRange<Int>?,
                         receive: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        try download(key, range: range, ifMatch: nil, receive: receive)
    }

    /// Writes without a checksum beside the MD5 (tests, callers that have none).
    public func put(_ key: String, body: ArraySlice<UInt8>, md5: [UInt8], options: ObjectOptions,
                    ifAbsent: Bool) throws -> WrittenObject {
        try put(key, body: body, md5: md5, checksum: nil, options: options, ifAbsent: ifAbsent)
    }

    public func putPart(_ key: String, uploadID: String, number: Int, body: ArraySlice<UInt8>, md5: [UInt8]) throws -> WrittenObject {
        try putPart(key, uploadID: uploadID, number: number, body: body, md5: md5, checksum: nil)
    }

    public func completeMultipart(_ key: String, uploadID: String, parts: [(number: Int, etag: String)],
                                  ifAbsent: Bool) throws -> WrittenObject {
        try completeMultipart(key, uploadID: uploadID, parts: parts, checksum: nil, ifAbsent: ifAbsent)
    }

    /// The URL of a key in this store, for messages and reports.
    public func url(of key: String) -> String {
        location.hasSuffix("/") ? location + key : location + "/" + key
    }
}

/// The stores a run of many URLs uses, opened once each (one S3 client, one connection pool, per bucket).
public final class OpenStores {
    private var byLocation: [String: ObjectStore] = [:]
    private let s3: S3Configuration.Overrides
    /// Sent with every read of an S3 object (SSE-C); a directory's files are not encrypted, so it does not apply there.
    private let customerKey: CustomerKey?

    public init(s3: S3Configuration.Overrides, customerKey: CustomerKey? = nil) {
        self.s3 = s3
        self.customerKey = customerKey
    }

    public func store(for url: StorageURL) throws -> ObjectStore {
        let location: String
        switch url {
        case .s3(let bucket, _): location = "s3://" + bucket
        case .file: location = "file:///"
        }
        if let known = byLocation[location] { return known }
        let key = url.bucket == nil ? nil : customerKey
        let opened = try Storage.open(url, customerKey: key) { [s3] in try S3Configuration.resolve(s3) }.store
        byLocation[location] = opened
        return opened
    }
}

/// Opens the store a URL names, and the key within it.
public enum Storage {
    public static func open(_ url: StorageURL, customerKey: CustomerKey? = nil,
                            s3: () throws -> S3Configuration) throws -> (store: ObjectStore, key: String) {
        switch url {
        case .s3(let bucket, _):
            return (S3Store(client: S3Client(try s3()), bucket: bucket, customerKey: customerKey), key(of: url))
        case .file:
            // Written there as plain bytes, an object meant to be encrypted would only look protected.
            if customerKey != nil {
                throw Failure.usage("\(url): --sse-c-key encrypts objects in S3; a file:// destination stores them unencrypted: drop the option or write to s3://")
            }
            return (LocalStore(root: "/"), key(of: url))
        }
    }

    /// The key of a URL within the store `open` gives for it.
    public static func key(of url: StorageURL) -> String {
        switch url {
        case .s3(_, let key): return key
        case .file(let path): return String(path.drop { $0 == "/" })
        }
    }
}
