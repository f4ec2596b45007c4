/// The S3 implementation of `ObjectStore`: one bucket, reached through an `S3Client`.
public struct S3Store: ObjectStore {
    public let client: S3Client
    public let bucket: String

    public init(client: S3Client, bucket: String) {
        self.client = client
        self.bucket = bucket
    }

    public var location: String { "s3://\(bucket)" }

    public func checkWritable() throws { try client.headBucket(bucket) }

    public func head(_ key: String) throws -> ObjectInfo? { try client.headObject(bucket: bucket, key: key) }

    public func put(_ key: String, body: ArraySlice<UInt8>, md5: [UInt8], options: ObjectOptions) throws -> String {
        try client.putObject(bucket: bucket, key: key, body: body, md5: md5, headers: headers(options))
    }

    public func startMultipart(_ key: String, options: ObjectOptions) throws -> String {
        try client.createMultipartUpload(bucket: bucket, key: key, headers: headers(options))
    }

    public func putPart(_ key: String, uploadID: String, number: Int, body: ArraySlice<UInt8>, md5: [UInt8]) throws -> String {
        try client.uploadPart(bucket: bucket, key: key, uploadID: uploadID, number: number, body: body, md5: md5)
    }

    public func completeMultipart(_ key: String, uploadID: String, parts: [(number: Int, etag: String)]) throws -> String {
        try client.completeMultipartUpload(bucket: bucket, key: key, uploadID: uploadID, parts: parts)
    }

    public func abortMultipart(_ key: String, uploadID: String) throws {
        try client.abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID)
    }

    public func get(_ key: String, range: ClosedRange<Int>?) throws -> [UInt8] {
        try client.getObject(bucket: bucket, key: key, range: range)
    }

    private func headers(_ options: ObjectOptions) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        if let type = options.contentType { headers.append(("Content-Type", type)) }
        if let storageClass = options.storageClass { headers.append(("x-amz-storage-class", storageClass)) }
        for (name, value) in options.metadata.sorted(by: { $0.key < $1.key }) {
            headers.append(("x-amz-meta-\(name)", value))
        }
        return headers
    }
}
