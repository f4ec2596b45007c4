import Foundation

/// A place objects are read from or written to: `s3://bucket/key` or `file:///absolute/path`.
public enum StorageURL: Sendable, Equatable, CustomStringConvertible {
    case s3(bucket: String, key: String)
    case file(path: String)

    public init(parsing text: String) throws {
        if text.hasPrefix("s3://") {
            let bucket = Self.bucketName(text)
            let key = String(text.dropFirst("s3://".count + bucket.count + 1))
            guard Self.isValidBucket(bucket) else {
                throw Failure.usage("invalid S3 URL '\(text)': the bucket name must be 3-63 characters of a-z, 0-9, '.', '-' (s3://BUCKET/KEY)")
            }
            self = .s3(bucket: bucket, key: key)
        } else if text.hasPrefix("file://") {
            let path = String(text.dropFirst("file://".count))
            guard path.hasPrefix("/") else {
                throw Failure.usage("invalid file URL '\(text)': write an absolute path, file:///path/to/dir/")
            }
            self = .file(path: path.removingPercentEncoding ?? path)
        } else {
            throw Failure.usage("invalid URL '\(text)': write s3://BUCKET/KEY or file:///PATH")
        }
    }

    public var key: String {
        switch self {
        case .s3(_, let key): return key
        case .file(let path): return path
        }
    }

    /// The S3 bucket; nil for a local directory.
    public var bucket: String? {
        if case .s3(let bucket, _) = self { return bucket }
        return nil
    }

    /// `bucket` or `s3://bucket[/…]` → `bucket`, for the options that name a bucket alone.
    public static func bucketName(_ given: String) -> String {
        given.hasPrefix("s3://") ? String(given.dropFirst("s3://".count).prefix { $0 != "/" }) : given
    }

    /// A URL ending in `/` names a prefix (a folder): files put there keep their own names.
    public var isPrefix: Bool { key.isEmpty || key.hasSuffix("/") }

    /// The same store, another key.
    public func with(key: String) -> StorageURL {
        switch self {
        case .s3(let bucket, _): return .s3(bucket: bucket, key: key)
        case .file: return .file(path: key.hasPrefix("/") ? key : "/" + key)
        }
    }

    public var description: String {
        switch self {
        case .s3(let bucket, let key): return "s3://\(bucket)/\(key)"
        case .file(let path): return "file://\(path)"
        }
    }

    static func isValidBucket(_ name: String) -> Bool {
        guard (3...63).contains(name.count) else { return false }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-_")
        return name.allSatisfy { allowed.contains($0) } && name.first != "." && name.first != "-"
    }
}
