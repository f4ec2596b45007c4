import Foundation

/// A customer-provided encryption key (SSE-C): sent with every request on the object, never printed or stored.
/// Read from a file, as aws-cli's `--sse-c-key fileb://PATH` reads it: the key's 32 bytes as they are (or the
/// same key as 44 characters of base64). The key itself is never taken on the command line, where `ps` shows it.
public struct CustomerKey: Sendable, CustomStringConvertible {
    let key: [UInt8]

    /// `file`: a path, or `fileb://PATH` as aws-cli writes it.
    public init(file: String) throws {
        if file.hasPrefix("file://") {
            throw Failure.usage("--sse-c-key \(file): the key is read as bytes: write fileb://PATH or PATH")
        }
        let path = file.hasPrefix("fileb://") ? String(file.dropFirst("fileb://".count)) : file
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure.noInput("\(path): cannot read the SSE-C key file (--sse-c-key): check the path and its permissions")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if data.count == 32 {
            key = Array(data)
        } else if let decoded = Data(base64Encoded: text), decoded.count == 32 {
            key = Array(decoded)
        } else {
            throw Failure.usage("\(path): an SSE-C key (--sse-c-key) is 32 bytes (or 44 characters of base64), this file holds \(data.count) bytes: make one with head -c 32 /dev/urandom")
        }
    }

    var headers: [(name: String, value: String)] {
        [("x-amz-server-side-encryption-customer-algorithm", "AES256"),
         ("x-amz-server-side-encryption-customer-key", Data(key).base64EncodedString()),
         ("x-amz-server-side-encryption-customer-key-MD5", ContentMD5.value(of: key))]
    }

    public var description: String { "CustomerKey(hidden)" }
}

/// An object encrypted with a customer key (SSE-C) read without that key: S3 refuses it with a bare 400 (a HEAD
/// has no body to say why) or, for another key, 403. Said as the option that supplies the key.
public struct CustomerKeyRefusal: ReportableError {
    public let resource: String
    /// A key was given, and it is not the object's.
    public let wrongKey: Bool

    public var exitStatus: ExitStatus { .noPermission }

    /// The refusal without the object's name, for a line that already names it (a report's, s3-verify's).
    public var reason: String {
        wrongKey ? "encrypted with a customer key (SSE-C) other than the one given with --sse-c-key: give the key it was stored with"
            : "encrypted with a customer key (SSE-C): give the key with --sse-c-key FILE"
    }

    public var description: String { "\(resource): \(reason)" }
}

/// The S3 implementation of `ObjectStore`: one bucket, reached through an `S3Client`.
public struct S3Store: ObjectStore {
    public let client: S3Client
    public let bucket: String
    public let customerKey: CustomerKey?

    public init(client: S3Client, bucket: String, customerKey: CustomerKey? = nil) {
        self.client = client
        self.bucket = bucket
        self.customerKey = customerKey
    }

    public var location: String { "s3://\(bucket)" }

    private var keyHeaders: [(name: String, value: String)] { customerKey?.headers ?? [] }

    public func checkWritable() throws { try client.headBucket(bucket) }

    public func head(_ key: String) throws -> ObjectInfo? {
        // The checksum is returned only when asked for; it is what shallow checks compare without reading bytes.
        try explainingKey(key) {
            try client.headObject(bucket: bucket, key: key, headers: keyHeaders + [("x-amz-checksum-mode", "ENABLED")])
        }
    }

    public func firstPart(_ key: String) throws -> FirstPart? {
        try explainingKey(key) { try client.headFirstPart(bucket: bucket, key: key, headers: keyHeaders) }
    }

    /// Runs a read of `key`, turning S3's refusal of an SSE-C object read without its key (400) or with another
    /// key (403) into `CustomerKeyRefusal`. Whether that is the cause is asked of the server, never guessed: a
    /// 400 is also a wrong region, a 403 also missing permission.
    private func explainingKey<T>(_ key: String, _ read: () throws -> T) throws -> T {
        do {
            return try read()
        } catch let error as S3Error where [400, 403].contains(error.status) && error.code != "NoSuchBucket" {
            let resource = "s3://\(bucket)/\(key)"
            if customerKey == nil, error.status == 400, needsCustomerKey(key, error) {
                throw CustomerKeyRefusal(resource: resource, wrongKey: false)
            }
            if customerKey != nil, error.status == 403, needsCustomerKey(key, nil) {
                throw CustomerKeyRefusal(resource: resource, wrongKey: true)
            }
            throw error
        }
    }

    /// Whether reading `key` without a customer key is refused because the object has one: S3 says so in the body
    /// of a GET ("…Server Side Encryption…", AWS's InvalidRequest, SeaweedFS's InvalidArgument). `refusal`: the
    /// answer already in hand, when it has a body.
    private func needsCustomerKey(_ key: String, _ refusal: S3Error?) -> Bool {
        var answer = refusal.flatMap { $0.message.isEmpty ? nil : $0 }
        if answer == nil {
            do { _ = try client.getObject(bucket: bucket, key: key, range: 0...0) } catch let error as S3Error {
                answer = error
            } catch {}
        }
        guard let answer, answer.status == 400 else { return false }
        return answer.message.lowercased().contains("server side encryption")
            || answer.message.lowercased().contains("customer")
    }

    public func put(_ key: String, body: ArraySlice<UInt8>, md5: [UInt8], checksum: CRC64NVME?, options: ObjectOptions,
                    ifAbsent: Bool) throws -> WrittenObject {
        try Self.conditional {
            try client.putObject(bucket: bucket, key: key, body: body, md5: md5,
                                 headers: headers(options) + Self.checksumHeaders(checksum)
                                    + (ifAbsent ? [Self.ifNoneMatch] : []))
        }
    }

    public func startMultipart(_ key: String, options: ObjectOptions) throws -> String {
        try client.createMultipartUpload(bucket: bucket, key: key, headers: headers(options) + Self.multipartChecksum(options))
    }

    public func putPart(_ key: String, uploadID: String, number: Int, body: ArraySlice<UInt8>, md5: [UInt8],
                        checksum: CRC64NVME?) throws -> WrittenObject {
        try client.uploadPart(bucket: bucket, key: key, uploadID: uploadID, number: number, body: body, md5: md5,
                              headers: keyHeaders + Self.checksumHeaders(checksum))
    }

    /// SeaweedFS 4.48 and moto 5.2.1 honour `If-None-Match: *` here as on PutObject (412, the upload kept).
    public func completeMultipart(_ key: String, uploadID: String, parts: [(number: Int, etag: String)],
                                  checksum: CRC64NVME?, ifAbsent: Bool) throws -> WrittenObject {
        // Not the SDK's algorithm header here: this request's body is the XML, which the checksum is not of.
        let whole = checksum.map { [(CRC64NVME.header, $0.base64), ("x-amz-checksum-type", "FULL_OBJECT")] } ?? []
        return try Self.conditional {
            try client.completeMultipartUpload(bucket: bucket, key: key, uploadID: uploadID, parts: parts,
                                               headers: whole + (ifAbsent ? [Self.ifNoneMatch] : []))
        }
    }

    public func abortMultipart(_ key: String, uploadID: String) throws {
        try client.abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID)
    }

    public func delete(_ key: String, versionID: String?) throws {
        try client.deleteObject(bucket: bucket, key: key, versionID: versionID)
    }

    /// The body's CRC64NVME, which S3 checks on arrival (refusing a damaged body) and keeps. The algorithm is
    /// named as the AWS SDKs name it: moto 5.2.1 keeps a PutObject's checksum only when it is.
    static func checksumHeaders(_ checksum: CRC64NVME?) -> [(name: String, value: String)] {
        checksum.map { [(CRC64NVME.header, $0.base64), ("x-amz-sdk-checksum-algorithm", CRC64NVME.algorithm)] } ?? []
    }

    /// A multipart upload whose object keeps one CRC64NVME of all its bytes (not a checksum of checksums), so
    /// that it can be compared with the checksum of the file, the stream or the tar, whatever the part size.
    static func multipartChecksum(_ options: ObjectOptions) -> [(name: String, value: String)] {
        guard options.checksum == .crc64nvme else { return [] }
        return [("x-amz-checksum-algorithm", CRC64NVME.algorithm), ("x-amz-checksum-type", "FULL_OBJECT")]
    }

    /// S3's conditional write: only when no object is at the key.
    static let ifNoneMatch = (name: "If-None-Match", value: "*")

    /// The answers that leave the key's content to be compared: a conditional write refused (412), and a
    /// completion whose upload is gone after an attempt that went unanswered (it may have completed it).
    private static func conditional(_ write: () throws -> WrittenObject) throws -> WrittenObject {
        do {
            return try write()
        } catch let error as S3Error where error.status == 412 || error.code == "PreconditionFailed" {
            throw WriteNotApplied(.keyTaken, afterLostAnswer: error.afterLostAnswer, underlying: error)
        } catch let error as S3Error where error.code == "NoSuchUpload" && error.afterLostAnswer {
            throw WriteNotApplied(.uploadGone, afterLostAnswer: true, underlying: error)
        }
    }

    public func listParts(_ key: String, uploadID: String) throws -> [StoredPart]? {
        try client.listParts(bucket: bucket, key: key, uploadID: uploadID)
    }

    public func listUploads(prefix: String) throws -> [PendingUpload] {
        try client.listMultipartUploads(bucket: bucket, prefix: prefix)
    }

    public func get(_ key: String, range: ClosedRange<Int>?) throws -> [UInt8] {
        try explainingKey(key) { try client.getObject(bucket: bucket, key: key, range: range, headers: keyHeaders) }
    }

    public func download(_ key: String, range: ClosedRange<Int>?, ifMatch: String?,
                         receive: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        try explainingKey(key) {
            try client.download(bucket: bucket, key: key, range: range, headers: keyHeaders, ifMatch: ifMatch, receive: receive)
        }
    }

    public func list(prefix: String) throws -> [ObjectInfo] {
        try client.listObjects(bucket: bucket, prefix: prefix)
    }

    public func requestRestore(_ key: String, days: Int, tier: String) throws {
        try client.restoreObject(bucket: bucket, key: key, days: days, tier: tier)
    }

    private func headers(_ options: ObjectOptions) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        if let type = options.contentType { headers.append(("Content-Type", type)) }
        if let storageClass = options.storageClass { headers.append(("x-amz-storage-class", storageClass)) }
        for (name, value) in options.metadata.sorted(by: { $0.key < $1.key }) {
            headers.append(("x-amz-meta-\(name)", value))
        }
        if !options.tags.isEmpty {
            headers.append(("x-amz-tagging", options.tags.map {
                SigV4Signer.uriEncode($0.key, keepSlash: false) + "=" + SigV4Signer.uriEncode($0.value, keepSlash: false)
            }.joined(separator: "&")))
        }
        if let sse = options.serverSideEncryption { headers.append(("x-amz-server-side-encryption", sse)) }
        if let kms = options.kmsKeyID { headers.append(("x-amz-server-side-encryption-aws-kms-key-id", kms)) }
        headers += options.lock.headers
        return headers + keyHeaders
    }
}
