import Foundation

/// A bucket lifecycle configuration in aws-cli's JSON shape (`{"Rules": [...]}`), the same files
/// `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://…` takes.
public struct LifecyclePolicy: Codable, Sendable, Equatable {
    public var rules: [Rule]

    enum CodingKeys: String, CodingKey { case rules = "Rules" }

    public struct Rule: Codable, Sendable, Equatable {
        public var id: String?
        public var status: String?
        public var filter: Filter?
        /// The pre-2016 form of a filter; still accepted by S3.
        public var prefix: String?
        public var transitions: [Transition]?
        public var expiration: Expiration?
        public var abortIncompleteMultipartUpload: AbortIncomplete?
        public var noncurrentVersionExpiration: NoncurrentExpiration?

        enum CodingKeys: String, CodingKey {
            case id = "ID", status = "Status", filter = "Filter", prefix = "Prefix", transitions = "Transitions"
            case expiration = "Expiration", abortIncompleteMultipartUpload = "AbortIncompleteMultipartUpload"
            case noncurrentVersionExpiration = "NoncurrentVersionExpiration"
        }
    }

    public struct Filter: Codable, Sendable, Equatable {
        public var prefix: String?
        public var tag: Tag?
        public var and: And?
        public var objectSizeGreaterThan: Int?
        public var objectSizeLessThan: Int?
        enum CodingKeys: String, CodingKey {
            case prefix = "Prefix", tag = "Tag", and = "And"
            case objectSizeGreaterThan = "ObjectSizeGreaterThan", objectSizeLessThan = "ObjectSizeLessThan"
        }
    }

    public struct And: Codable, Sendable, Equatable {
        public var prefix: String?
        public var tags: [Tag]?
        public var objectSizeGreaterThan: Int?
        public var objectSizeLessThan: Int?
        enum CodingKeys: String, CodingKey {
            case prefix = "Prefix", tags = "Tags"
            case objectSizeGreaterThan = "ObjectSizeGreaterThan", objectSizeLessThan = "ObjectSizeLessThan"
        }
    }

    public struct Tag: Codable, Sendable, Equatable {
        public var key: String
        public var value: String
        enum CodingKeys: String, CodingKey { case key = "Key", value = "Value" }
    }

    public struct Transition: Codable, Sendable, Equatable {
        public var days: Int?
        public var date: String?
        public var storageClass: String?
        enum CodingKeys: String, CodingKey { case days = "Days", date = "Date", storageClass = "StorageClass" }
    }

    public struct Expiration: Codable, Sendable, Equatable {
        public var days: Int?
        public var date: String?
        public var expiredObjectDeleteMarker: Bool?
        enum CodingKeys: String, CodingKey {
            case days = "Days", date = "Date", expiredObjectDeleteMarker = "ExpiredObjectDeleteMarker"
        }
    }

    public struct AbortIncomplete: Codable, Sendable, Equatable {
        public var daysAfterInitiation: Int?
        enum CodingKeys: String, CodingKey { case daysAfterInitiation = "DaysAfterInitiation" }
    }

    public struct NoncurrentExpiration: Codable, Sendable, Equatable {
        public var noncurrentDays: Int?
        enum CodingKeys: String, CodingKey { case noncurrentDays = "NoncurrentDays" }
    }

    /// The policy in `path`, when every field has its right type and name; else every such problem (exit 65).
    public static func load(_ path: String) throws -> LifecyclePolicy {
        let reading = try read(path)
        guard reading.problems.isEmpty else {
            throw Failure(.dataError, reading.problems.map { "\(path): \($0)" }.joined(separator: "\n"))
        }
        return reading.policy
    }

    static func read(_ path: String) throws -> LifecycleShape.Reading {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure.noInput("\(path): no such lifecycle file")
        }
        do {
            return try LifecycleShape.read(data)
        } catch let failure as Failure {
            throw Failure(failure.exitStatus, "\(path): \(failure.message)")
        }
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self) + "\n"
    }
}
