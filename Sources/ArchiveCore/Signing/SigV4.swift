import Foundation

/// An access key pair, and a session token when the keys are temporary. `description` never shows the secret.
public struct Credentials: Sendable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public var description: String { "Credentials(\(accessKeyID), secret hidden)" }
}

/// A request as the signer sees it. `path` and `query` are decoded text: the signer percent-encodes them.
public struct SigningRequest: Sendable {
    public var method: String
    public var path: String
    /// Name/value pairs in request order; a name without a value (`?uploads`) has the value "".
    public var query: [(name: String, value: String)]
    /// Header name/value pairs; names in any case, duplicates allowed.
    public var headers: [(name: String, value: String)]
    /// Lower-case hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    public var payloadHash: String

    public init(method: String, path: String, query: [(name: String, value: String)] = [],
                headers: [(name: String, value: String)] = [], payloadHash: String) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.payloadHash = payloadHash
    }
}

/// AWS Signature Version 4 (header and query-string forms), the one signer every S3 request goes through.
public struct SigV4Signer: Sendable {
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var credentials: Credentials
    public var region: String
    public var service: String
    /// Remove `.` and `..` segments and repeated slashes before signing (other services; never S3).
    public var normalizePath: Bool
    /// Sign the session token (almost always); STS-style callers may add it after signing.
    public var signSessionToken: Bool

    public init(credentials: Credentials, region: String, service: String = "s3",
                normalizePath: Bool = false, signSessionToken: Bool = true) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.normalizePath = normalizePath
        self.signSessionToken = signSessionToken
    }

    // MARK: the header form

    /// The headers to add to `request` so that it is signed: `X-Amz-Date`, the session token, and `Authorization`.
    /// The caller adds `x-amz-content-sha256` itself when the service wants it (S3 does) before signing.
    public func signatureHeaders(for request: SigningRequest, at date: Date) -> [(name: String, value: String)] {
        let stamp = Self.timestamp(date)
        var request = request
        var added: [(name: String, value: String)] = [("X-Amz-Date", stamp)]
        request.headers.append(("X-Amz-Date", stamp))
        if let token = credentials.sessionToken {
            if signSessionToken { request.headers.append(("X-Amz-Security-Token", token)) }
        }
        let canonical = canonicalRequest(request)
        let signature = self.signature(of: canonical, stamp: stamp)
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope(stamp)), "
            + "SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"
        if let token = credentials.sessionToken { added.append(("X-Amz-Security-Token", token)) }
        added.append(("Authorization", authorization))
        return added
    }

    // MARK: the query form (presigned URLs)

    /// The query items to append to `request` so that it is a presigned request valid for `expires` seconds.
    public func presignedQuery(for request: SigningRequest, at date: Date, expires: Int) -> [(name: String, value: String)] {
        let stamp = Self.timestamp(date)
        var items: [(name: String, value: String)] = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope(stamp))"),
            ("X-Amz-Date", stamp),
            ("X-Amz-Expires", String(expires)),
        ]
        var request = request
        let signedHeaders = Self.canonicalHeaders(request.headers).signed
        items.append(("X-Amz-SignedHeaders", signedHeaders))
        if let token = credentials.sessionToken, signSessionToken { items.append(("X-Amz-Security-Token", token)) }
        request.query += items
        let canonical = canonicalRequest(request)
        items.append(("X-Amz-Signature", signature(of: canonical, stamp: stamp)))
        return items
    }

    // MARK: the pieces, public so tests can compare each step with the published suite

    public struct CanonicalRequest: Sendable {
        public let text: String
        public let signedHeaders: String
    }

    public func canonicalRequest(_ request: SigningRequest) -> CanonicalRequest {
        let path = normalizePath ? Self.removeDotSegments(request.path) : request.path
        let headers = Self.canonicalHeaders(request.headers)
        let text = [
            request.method,
            Self.uriEncode(path.isEmpty ? "/" : path, keepSlash: true),
            Self.canonicalQuery(request.query),
            headers.canonical,
            headers.signed,
            request.payloadHash,
        ].joined(separator: "\n")
        return CanonicalRequest(text: text, signedHeaders: headers.signed)
    }

    public func stringToSign(_ canonical: CanonicalRequest, stamp: String) -> String {
        ["AWS4-HMAC-SHA256", stamp, scope(stamp), Digest.sha256(Array(canonical.text.utf8)).hex]
            .joined(separator: "\n")
    }

    public func signature(of canonical: CanonicalRequest, stamp: String) -> String {
        let day = String(stamp.prefix(8))
        var key = Digest.hmacSHA256(key: Array(("AWS4" + credentials.secretAccessKey).utf8), Array(day.utf8))
        key = Digest.hmacSHA256(key: key, Array(region.utf8))
        key = Digest.hmacSHA256(key: key, Array(service.utf8))
        key = Digest.hmacSHA256(key: key, Array("aws4_request".utf8))
        return Digest.hmacSHA256(key: key, Array(stringToSign(canonical, stamp: stamp).utf8)).hex
    }

    func scope(_ stamp: String) -> String { "\(stamp.prefix(8))/\(region)/\(service)/aws4_request" }

    /// `20261130T114000Z`, from the seconds since 1970 by Howard Hinnant's civil_from_days: a calendar's date
    /// components and `String(format:)` for every request were a twentieth of a rebuild's CPU.
    public static func timestamp(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let time = seconds - days * 86400
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ number: Int) -> String { number < 10 ? "0\(number)" : String(number) }
        return String(year) + two(month) + two(day) + "T" + two(time / 3600) + two(time % 3600 / 60) + two(time % 60) + "Z"
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` in paths), as SigV4 requires.
    public static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        let hexDigits = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0f)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map {
            (uriEncode($0.name, keepSlash: false), uriEncode($0.value, keepSlash: false))
        }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (canonical: String, signed: String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            merged[name.lowercased(), default: []].append(trimAndCollapse(value))
        }
        let names = merged.keys.sorted()
        let canonical = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (canonical, names.joined(separator: ";"))
    }

    /// Header values are trimmed and inner runs of whitespace (folded lines included) become one space.
    static func trimAndCollapse(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            .joined(separator: " ")
    }

    static func removeDotSegments(_ path: String) -> String {
        var output: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": if !output.isEmpty { output.removeLast() }
            default: output.append(segment)
            }
        }
        let trailing = path.hasSuffix("/") && !output.isEmpty ? "/" : ""
        return "/" + output.joined(separator: "/") + trailing
    }
}
