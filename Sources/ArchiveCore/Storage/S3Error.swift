/// An error S3 answered with: its code (`NoSuchBucket`, `SignatureDoesNotMatch`…), message and HTTP status.
public struct S3Error: ReportableError {
    public let status: Int
    public let code: String
    public let message: String
    /// What the request was about, `s3://bucket/key`, for the message.
    public let resource: String
    public let requestID: String?
    /// An earlier attempt of the same request got no answer (a reset, a timeout): the server may have carried
    /// it out, so this answer (NoSuchUpload for a completion, PreconditionFailed for a conditional write) may
    /// describe the request's own effect rather than a refusal.
    public internal(set) var afterLostAnswer = false

    public init(status: Int, code: String, message: String, resource: String, requestID: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.resource = resource
        self.requestID = requestID
    }

    /// Parses S3's XML error body; HEAD answers have none, so the status alone decides then.
    static func from(_ response: HTTPResponse, resource: String, isBucketRequest: Bool) -> S3Error {
        let xml = XMLElement.parse(response.body)
        let fallback: String
        switch response.status {
        case 301: fallback = "PermanentRedirect"
        case 400: fallback = "BadRequest"
        case 403: fallback = "AccessDenied"
        case 404: fallback = isBucketRequest ? "NoSuchBucket" : "NoSuchKey"
        case 503: fallback = "SlowDown"
        default: fallback = "HTTP\(response.status)"
        }
        return S3Error(status: response.status,
                       code: xml?.text(of: "Code") ?? fallback,
                       message: xml?.text(of: "Message") ?? "",
                       resource: resource,
                       requestID: xml?.text(of: "RequestId") ?? response.headers["x-amz-request-id"])
    }

    public var isCredentialProblem: Bool {
        ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
         "TokenRefreshRequired", "AllAccessDisabled", "AuthorizationHeaderMalformed",
         "InvalidSecurity", "RequestTimeTooSkewed", "AccountProblem"].contains(code)
    }

    /// Throttling, server faults and timeouts are worth another try; so is S3's 409 for two conditional writes
    /// of one key at once (the retry meets the winner's object and is settled by comparing); nothing else is.
    /// A server that does not implement a request (501) or the HTTP version (505) answers the same every time.
    public var isRetryable: Bool {
        (status >= 500 && !isUnsupported) || status == 429
            || ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
                "ThrottlingException", "ConditionalRequestConflict"].contains(code)
    }

    /// 501 NotImplemented: the store lacks what this request needs (an option it does not support).
    var isUnsupported: Bool { status == 501 || status == 505 || code == "NotImplemented" }

    public var exitStatus: ExitStatus {
        if isCredentialProblem { return .noPermission }
        if isUnsupported { return .unavailable }
        switch code {
        case "NoSuchBucket", "NoSuchKey", "NoSuchUpload": return .noInput
        case "InvalidObjectState": return .tryAgainLater
        case "PreconditionFailed": return .objectExists
        default: return isRetryable ? .unavailable : .checkFailed
        }
    }

    public var description: String {
        let bucket = StorageURL.bucketName(resource)
        switch code {
        case "NoSuchBucket":
            return "bucket '\(bucket)' does not exist: create it first (aws s3 mb s3://\(bucket)) or check the name"
        case "NoSuchKey":
            return "\(resource): no such object"
        case "SignatureDoesNotMatch":
            return "\(resource): the signature was refused (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY or the profile's secret key"
        case "InvalidAccessKeyId":
            return "\(resource): the access key is not known to the server (InvalidAccessKeyId): check AWS_ACCESS_KEY_ID or the profile"
        case "AccessDenied":
            return "\(resource): access denied: the credentials lack permission for this request"
        case _ where isUnsupported:
            let detail = message.isEmpty ? "" : ": \(message)"
            return "\(resource): the server does not support this request (\(code), HTTP \(status)\(detail)); not retried: leave out the option that needs it, or use a store that has it"
        case "PermanentRedirect", "AuthorizationHeaderMalformed":
            return "\(resource): wrong region for this bucket (\(code)): set --region or AWS_REGION to the bucket's region"
        default:
            let detail = message.isEmpty ? "" : ": \(message)"
            return "\(resource): \(code) (HTTP \(status))\(detail)"
        }
    }
}
