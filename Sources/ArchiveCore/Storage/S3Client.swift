import Foundation
import Synchronization

/// Signed S3 requests over pooled libcurl connections, with retries for what is worth retrying.
/// Operations return parsed answers and throw `S3Error` or `TransportError`.
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    private let pool: ConnectionPool
    private let signer: SigV4Signer
    /// Buckets a HEAD found, so that a missing key costs one extra request per bucket, not per key.
    private let bucketsSeen = Mutex<Set<String>>([])

    public init(_ configuration: S3Configuration) {
        self.configuration = configuration
        pool = ConnectionPool(settings: configuration.http)
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
    }

    // MARK: operations

    /// Succeeds when the bucket exists and the credentials may use it.
    public func headBucket(_ bucket: String) throws {
        do {
            _ = try send("HEAD", bucket: bucket, key: nil)
            bucketsSeen.withLock { _ = $0.insert(bucket) }
        } catch let error as S3Error where error.status == 403 || error.status == 400 {
            // A HEAD answer has no body to say why; ask again with a GET, whose error names the cause
            // (SignatureDoesNotMatch, InvalidAccessKeyId…). If the GET itself is allowed, the HEAD's answer stands.
            do {
                _ = try send("GET", bucket: bucket, key: nil, query: [("location", "")])
            } catch let detailed as S3Error where detailed.code != "AccessDenied" && detailed.status != 404 {
                throw detailed
            } catch {}
            throw error
        }
    }

    /// The object's metadata, or nil when there is no such key (a missing bucket is an error, `NoSuchBucket`).
    public func headObject(bucket: String, key: String, headers: [(name: String, value: String)] = []) throws -> ObjectInfo? {
        do {
            let response = try send("HEAD", bucket: bucket, key: key, headers: headers)
            return ObjectInfo(key: key, response: response)
        } catch let error as S3Error where error.status == 404 && error.code != "NoSuchBucket" {
            try checkBucketExists(bucket)
            return nil
        } catch let error as S3Error where error.status == 403 || error.status == 400 {
            throw explained(error, bucket: bucket, key: key, headers: headers)
        }
    }

    /// The first part of a multipart object (`HEAD ?partNumber=1`): its length and the parts count the server
    /// gives. Nil when there is no such object, or when the server refuses part numbers (an older server).
    public func headFirstPart(bucket: String, key: String, headers: [(name: String, value: String)] = []) throws -> FirstPart? {
        do {
            let response = try send("HEAD", bucket: bucket, key: key, query: [("partNumber", "1")], headers: headers)
            guard let length = response.headers["content-length"].flatMap(Int.init) else { return nil }
            return FirstPart(length: length, partsCount: response.headers["x-amz-mp-parts-count"].flatMap(Int.init))
        } catch let error as S3Error where error.status == 403 {
            throw explained(error, bucket: bucket, key: key, headers: headers)
        } catch let error as S3Error where [400, 404, 416, 501].contains(error.status) && error.code != "NoSuchBucket" {
            return nil
        }
    }

    /// A HEAD's refusal has no body to say why, so every tool would call a wrong secret "access denied": the same
    /// request as a one-byte GET gets the code (SignatureDoesNotMatch, InvalidAccessKeyId…). When the GET is
    /// allowed, or refused for the same reason in no more words, the HEAD's answer stands.
    private func explained(_ error: S3Error, bucket: String, key: String, headers: [(name: String, value: String)]) -> S3Error {
        do {
            _ = try send("GET", bucket: bucket, key: key, headers: headers + [("Range", "bytes=0-0")])
        } catch let detailed as S3Error where detailed.code != "AccessDenied" && detailed.code != error.code
            && detailed.status != 404 && detailed.status != 416 && detailed.code != "InvalidObjectState" {
            return detailed
        } catch {}
        return error
    }

    /// A HEAD of a key in a missing bucket answers 404 as for a missing key: asked once per bucket, on the first
    /// missing key, so that "no such object" is never said of a bucket that is not there.
    private func checkBucketExists(_ bucket: String) throws {
        guard !bucketsSeen.withLock({ $0.contains(bucket) }) else { return }
        do { _ = try send("HEAD", bucket: bucket, key: nil) } catch let error as S3Error where error.status == 404 {
            throw error
        } catch {
            // Anything else (a refusal of HEAD on the bucket itself) says nothing about the key: the 404 stands.
        }
        bucketsSeen.withLock { _ = $0.insert(bucket) }
    }

    public func putObject(bucket: String, key: String, body: ArraySlice<UInt8>, md5: [UInt8],
                          headers: [(name: String, value: String)]) throws -> WrittenObject {
        let response = try send("PUT", bucket: bucket, key: key,
                                headers: headers + [ContentMD5.header(md5)], body: body)
        return WrittenObject(answer: response, etag: response.headers["etag"])
    }

    /// Not idempotent: when the answer to an attempt is lost and the retry succeeds, the first attempt may have
    /// started an upload of its own that nothing knows the id of. It stays until `s3-put --abort-stale` (or a
    /// lifecycle rule) removes it; `--list-stale` shows it.
    public func createMultipartUpload(bucket: String, key: String, headers: [(name: String, value: String)]) throws -> String {
        let response = try send("POST", bucket: bucket, key: key, query: [("uploads", "")], headers: headers)
        guard let id = XMLElement.parse(response.body)?.text(of: "UploadId"), !id.isEmpty else {
            throw S3Error(status: response.status, code: "MalformedResponse",
                          message: "no UploadId in the answer to CreateMultipartUpload", resource: "s3://\(bucket)/\(key)")
        }
        return id
    }

    public func uploadPart(bucket: String, key: String, uploadID: String, number: Int,
                           body: ArraySlice<UInt8>, md5: [UInt8], headers: [(name: String, value: String)] = []) throws -> WrittenObject {
        let response = try send("PUT", bucket: bucket, key: key,
                                query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                headers: headers + [ContentMD5.header(md5)], body: body)
        return WrittenObject(answer: response, etag: response.headers["etag"])
    }

    /// A part whose bytes wait in a spool file (too large for memory), sent from the file on every attempt.
    public func uploadPart(bucket: String, key: String, uploadID: String, number: Int,
                           file: SpoolFile, md5: [UInt8], headers: [(name: String, value: String)] = []) throws -> WrittenObject {
        let response = try send("PUT", bucket: bucket, key: key,
                                query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                headers: headers + [ContentMD5.header(md5)], file: file)
        return WrittenObject(answer: response, etag: response.headers["etag"])
    }

    /// Retried like every request; see `S3Error.afterLostAnswer` for what a retry's refusal may mean.
    public func completeMultipartUpload(bucket: String, key: String, uploadID: String, parts: [(number: Int, etag: String)],
                                        headers extra: [(name: String, value: String)] = []) throws -> WrittenObject {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\"\(part.etag)\"</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        let response = try send("POST", bucket: bucket, key: key, query: [("uploadId", uploadID)],
                                headers: [("Content-Type", "application/xml"), ContentMD5.header(of: body)] + extra,
                                body: body[...])
        // S3 may answer 200 and still report an error in the body.
        let document = XMLElement.parse(response.body)
        if let root = document, root.name == "Error" {
            throw S3Error(status: response.status, code: root.text(of: "Code") ?? "InternalError",
                          message: root.text(of: "Message") ?? "", resource: "s3://\(bucket)/\(key)")
        }
        return WrittenObject(answer: response, etag: document?.text(of: "ETag") ?? response.headers["etag"])
    }

    public func abortMultipartUpload(bucket: String, key: String, uploadID: String) throws {
        _ = try send("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadID)])
    }

    /// Removes an object, or one version of it.
    public func deleteObject(bucket: String, key: String, versionID: String? = nil) throws {
        _ = try send("DELETE", bucket: bucket, key: key, query: versionID.map { [("versionId", $0)] } ?? [])
    }

    /// Bytes of an object, or of `range` within it (inclusive bounds, as HTTP writes them).
    /// The parts S3 holds for an upload (all pages), or nil when it no longer knows the upload.
    public func listParts(bucket: String, key: String, uploadID: String) throws -> [StoredPart]? {
        var parts: [StoredPart] = []
        var marker = 0
        while true {
            var query: [(name: String, value: String)] = [("uploadId", uploadID), ("max-parts", "1000")]
            if marker > 0 { query.append(("part-number-marker", String(marker))) }
            let response: HTTPResponse
            do {
                response = try send("GET", bucket: bucket, key: key, query: query)
            } catch let error as S3Error where error.code == "NoSuchUpload" {
                return nil
            }
            let document = try Self.listing(response, resource: "s3://\(bucket)/\(key)?uploadId")
            for part in document.all("Part") {
                parts.append(StoredPart(number: Int(part.text(of: "PartNumber") ?? "") ?? 0,
                                        etag: ETag.unquote(part.text(of: "ETag") ?? ""),
                                        size: Int(part.text(of: "Size") ?? "") ?? 0))
            }
            guard document.text(of: "IsTruncated") == "true",
                  let next = Int(document.text(of: "NextPartNumberMarker") ?? ""), next > marker else { return parts }
            marker = next
        }
    }

    /// Multipart uploads started under `prefix` and not yet completed or aborted (all pages).
    public func listMultipartUploads(bucket: String, prefix: String) throws -> [PendingUpload] {
        var uploads: [PendingUpload] = []
        var keyMarker: String?
        var idMarker: String?
        let times = S3Times()
        while true {
            // Not with encoding-type=url: SeaweedFS 4 answers EncodingType url with its keys left raw, and a `+`
            // decoded as a space would name another upload.
            var query: [(name: String, value: String)] = [("uploads", "")]
            if !prefix.isEmpty { query.append(("prefix", prefix)) }
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let idMarker { query.append(("upload-id-marker", idMarker)) }
            let resource = "s3://\(bucket)/\(prefix)?uploads"
            let response = try send("GET", bucket: bucket, key: nil, query: query)
            let document = try Self.listing(response, resource: resource)
            for upload in document.all("Upload") {
                let initiated = upload.text(of: "Initiated") ?? ""
                uploads.append(PendingUpload(key: upload.text(of: "Key") ?? "", uploadID: upload.text(of: "UploadId") ?? "",
                                             initiated: times.date(initiated) ?? Date()))
            }
            guard document.text(of: "IsTruncated") == "true" else { return uploads }
            keyMarker = document.text(of: "NextKeyMarker")
            idMarker = document.text(of: "NextUploadIdMarker")
            if keyMarker == nil {
                throw S3Error(status: response.status, code: "MalformedResponse",
                              message: "the listing says it is truncated but gives no NextKeyMarker", resource: resource)
            }
        }
    }

    public func getObject(bucket: String, key: String, range: ClosedRange<Int>? = nil,
                          headers extra: [(name: String, value: String)] = []) throws -> [UInt8] {
        var headers = extra
        if let range { headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        return try send("GET", bucket: bucket, key: key, headers: headers).body
    }

    /// Streams an object (or `range` of it) to `receive`. A transfer cut short is resumed from the first byte not
    /// yet delivered, so `receive` sees every byte once, in order. The resume asks for the same object
    /// (`If-Match: etag`, when the caller knows it) and must be answered 206: a 200 (the whole object again) or a
    /// 412 (the object changed) fails the download instead of splicing two objects.
    public func download(bucket: String, key: String, range: ClosedRange<Int>?, headers: [(name: String, value: String)],
                         ifMatch etag: String? = nil, receive: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        var delivered = 0
        let resource = "s3://\(bucket)/\(key)"
        _ = try retrying(resource: resource, isBucketRequest: false) {
            var requestHeaders = headers
            let start = (range?.lowerBound ?? 0) + delivered
            let ranged = range != nil || delivered > 0
            if ranged { requestHeaders.append(("Range", "bytes=\(start)-" + (range.map { String($0.upperBound) } ?? ""))) }
            if delivered > 0, let etag { requestHeaders.append(("If-Match", "\"\(etag)\"")) }
            // A server that ignores Range sends more than was asked: stopped at the first byte too many.
            let allowed = range.map { $0.upperBound + 1 - start }
            var received = 0
            var request = signedRequest("GET", bucket: bucket, key: key, query: [], headers: requestHeaders, body: [])
            request.requiresPartialContent = ranged
            let response: HTTPResponse
            do {
                response = try pool.withConnection { connection in
                    try connection.perform(request) { chunk in
                        received += chunk.count
                        if let allowed, received > allowed { throw Self.rangeIgnored(resource, start: start, status: 206) }
                        try receive(chunk)
                        delivered += chunk.count
                    }
                }
            } catch let refused as PartialContentRefused {
                throw Self.rangeIgnored(resource, start: start, status: refused.status)
            }
            if response.status == 412 {
                throw S3Error(status: 412, code: "ObjectChanged", message: "the object changed while it was being downloaded "
                              + "(its ETag is no longer \(etag ?? "?")): run again", resource: resource)
            }
            if ranged, (200..<300).contains(response.status), response.status != 206 {
                throw Self.rangeIgnored(resource, start: start, status: response.status)
            }
            return response
        }
    }

    private static func rangeIgnored(_ resource: String, start: Int, status: Int) -> S3Error {
        let answer = status == 206 ? "answered with more bytes than asked for" : "answered \(status), not 206 Partial Content"
        return S3Error(status: status, code: "RangeIgnored",
                       message: "a ranged GET from byte \(start) was \(answer): the bytes cannot be trusted", resource: resource)
    }

    /// Every object under `prefix` (ListObjectsV2, all pages).
    public func listObjects(bucket: String, prefix: String) throws -> [ObjectInfo] {
        var objects: [ObjectInfo] = []
        var token: String?
        let times = S3Times()
        repeat {
            // Keys come URL-encoded: XML 1.0 cannot carry a control character such as U+0001, which S3 allows.
            var query: [(name: String, value: String)] = [("list-type", "2"), ("encoding-type", "url")]
            if !prefix.isEmpty { query.append(("prefix", prefix)) }
            if let token { query.append(("continuation-token", token)) }
            let resource = "s3://\(bucket)/\(prefix)"
            let response = try send("GET", bucket: bucket, key: nil, query: query)
            let document = try Self.listing(response, resource: resource)
            let keys = try Self.keyDecoder(document, resource: resource)
            for item in document.all("Contents") {
                let modified = item.text(of: "LastModified") ?? ""
                objects.append(ObjectInfo(key: try keys(item.text(of: "Key") ?? ""), size: Int(item.text(of: "Size") ?? "") ?? 0,
                                          etag: ETag.unquote(item.text(of: "ETag") ?? ""),
                                          storageClass: item.text(of: "StorageClass") ?? "STANDARD",
                                          lastModified: times.date(modified)))
            }
            token = nil
            if document.text(of: "IsTruncated") == "true" {
                guard let next = document.text(of: "NextContinuationToken"), !next.isEmpty else {
                    throw S3Error(status: response.status, code: "MalformedResponse",
                                  message: "the listing says it is truncated but gives no NextContinuationToken", resource: resource)
                }
                token = next
            }
        } while token != nil
        return objects
    }

    /// A listing's XML. One that does not parse (cut short, or a character XML 1.0 cannot carry) is an error:
    /// taken as the end of the listing, it would make a restore of part of a prefix look like all of it.
    static func listing(_ response: HTTPResponse, resource: String) throws -> XMLElement {
        guard let document = XMLElement.parse(response.body) else {
            throw S3Error(status: response.status, code: "MalformedResponse",
                          message: "the listing's XML does not parse (\(response.body.count) bytes): run again, or check the endpoint",
                          resource: resource)
        }
        return document
    }

    /// Turns the keys of a listing back into themselves: URL-decoded when the server honoured `encoding-type=url`
    /// (a server that ignores it sends them raw and says no `EncodingType`). `+` is a space, as AWS encodes it.
    static func keyDecoder(_ document: XMLElement, resource: String) throws -> @Sendable (String) throws -> String {
        guard document.all("EncodingType").first?.text == "url" else { return { $0 } }
        return { encoded in
            guard let key = encoded.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                throw S3Error(status: 200, code: "MalformedResponse",
                              message: "the listing holds a key that does not URL-decode to UTF-8: \(encoded)", resource: resource)
            }
            return key
        }
    }

    /// Asks S3 to bring a GLACIER or DEEP_ARCHIVE object back for `days` days at `tier` speed. A restore
    /// already under way counts as asked.
    public func restoreObject(bucket: String, key: String, days: Int, tier: String) throws {
        let xml = "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Days>\(days)</Days>"
            + "<GlacierJobParameters><Tier>\(tier)</Tier></GlacierJobParameters></RestoreRequest>"
        let body = Array(xml.utf8)
        do {
            _ = try send("POST", bucket: bucket, key: key, query: [("restore", "")],
                         headers: [("Content-Type", "application/xml"), ContentMD5.header(of: body)], body: body[...])
        } catch let error as S3Error where error.code == "RestoreAlreadyInProgress" {
            return
        }
    }

    /// Replaces the bucket's lifecycle configuration.
    public func putLifecycle(bucket: String, xml: String) throws {
        let body = Array(xml.utf8)
        _ = try send("PUT", bucket: bucket, key: nil, query: [("lifecycle", "")],
                     headers: [("Content-Type", "application/xml"), ContentMD5.header(of: body)], body: body[...])
    }

    /// The bucket's lifecycle configuration, or nil when it has none.
    public func getLifecycle(bucket: String) throws -> XMLElement? {
        do {
            let response = try send("GET", bucket: bucket, key: nil, query: [("lifecycle", "")])
            return XMLElement.parse(response.body)
        } catch let error as S3Error where error.code == "NoSuchLifecycleConfiguration" {
            return nil
        }
    }

    /// The bucket's Object Lock configuration, or nil when it has none (Object Lock is not enabled).
    public func getObjectLockConfiguration(bucket: String) throws -> XMLElement? {
        do {
            return XMLElement.parse(try send("GET", bucket: bucket, key: nil, query: [("object-lock", "")]).body)
        } catch let error as S3Error where error.code == "ObjectLockConfigurationNotFoundError" {
            return nil
        }
    }

    // MARK: the request path

    /// Signs and sends one request, retrying throttling, server errors and transport failures with
    /// exponential backoff and full jitter. Non-2xx answers become `S3Error`.
    public func send(_ method: String, bucket: String, key: String?, query: [(name: String, value: String)] = [],
                     headers: [(name: String, value: String)] = [], body: ArraySlice<UInt8> = [],
                     file: SpoolFile? = nil) throws -> HTTPResponse {
        let resource = "s3://\(bucket)" + (key.map { "/\($0)" } ?? "")
        return try retrying(resource: resource, isBucketRequest: key == nil) {
            let request = signedRequest(method, bucket: bucket, key: key, query: query, headers: headers, body: body)
            return try pool.withConnection { connection in
                try file.map { try connection.perform(request, file: $0) } ?? connection.perform(request, body: body)
            }
        }
    }

    /// Runs `exchange` (a signed request, signed again each time: its date must be fresh) until it answers 2xx,
    /// retrying what `S3Error.isRetryable` says is worth retrying and transport failures, up to
    /// `configuration.maxAttempts`, with exponential backoff and full jitter. A non-2xx answer becomes `S3Error`.
    private func retrying(resource: String, isBucketRequest: Bool,
                          _ exchange: () throws -> HTTPResponse) throws -> HTTPResponse {
        var attempt = 0
        var lostAnswer = false
        while true {
            attempt += 1
            do {
                let response = try exchange()
                if (200..<300).contains(response.status) { return response }
                var error = S3Error.from(response, resource: resource, isBucketRequest: isBucketRequest)
                error.afterLostAnswer = lostAnswer
                if !error.isRetryable || attempt >= configuration.maxAttempts { throw error }
                // A server fault may come after the work was done (S3 documents it for completions).
                if error.status >= 500 { lostAnswer = true }
            } catch let error as TransportError {
                if let permanent = error.permanentFailure(settings: configuration.http,
                                                          endpointConfigured: configuration.endpoint != nil) {
                    throw permanent
                }
                // The request may have reached the server and been carried out: a retry of a request that is
                // not idempotent (a completion, a conditional write) may then be refused for that very reason.
                lostAnswer = true
                if attempt >= configuration.maxAttempts {
                    throw TransportError(code: error.code,
                                         message: "\(error.message) (gave up after \(attempt) attempts)", url: error.url)
                }
            }
            Thread.sleep(forTimeInterval: Self.backoff(attempt: attempt))
        }
    }

    /// Full jitter: a random wait up to 0.25 s × 2^attempt, capped at 20 s.
    static func backoff(attempt: Int) -> TimeInterval {
        Double.random(in: 0...min(20, 0.25 * pow(2, Double(attempt))))
    }

    func signedRequest(_ method: String, bucket: String, key: String?, query: [(name: String, value: String)],
                       headers: [(name: String, value: String)], body: ArraySlice<UInt8>) -> HTTPRequest {
        let (base, host, path) = address(bucket: bucket, key: key)
        // Bodies carry a signed Content-MD5, so the payload need not be SHA-256-hashed a second time.
        // A spooled part has an empty `body` here but a Content-MD5: it goes unsigned, like any other part.
        let payloadHash = headers.contains { $0.name == ContentMD5.name } ? SigV4Signer.unsignedPayload
            : body.isEmpty ? SigV4Signer.emptyPayloadHash
            : Digest.sha256(body).hex
        var allHeaders = headers
        allHeaders.append(("Host", host))
        allHeaders.append(("x-amz-content-sha256", payloadHash))
        let signing = SigningRequest(method: method, path: path, query: query, headers: allHeaders, payloadHash: payloadHash)
        allHeaders += signer.signatureHeaders(for: signing, at: Date())
        var url = base + SigV4Signer.uriEncode(path, keepSlash: true)
        if !query.isEmpty {
            url += "?" + query.map { item in
                item.value.isEmpty ? SigV4Signer.uriEncode(item.name, keepSlash: false)
                    : "\(SigV4Signer.uriEncode(item.name, keepSlash: false))=\(SigV4Signer.uriEncode(item.value, keepSlash: false))"
            }.joined(separator: "&")
        }
        return HTTPRequest(method: method, url: url, headers: allHeaders)
    }

    /// Path-style for custom endpoints; virtual-hosted for AWS (bucket names with dots fall back to path-style).
    func address(bucket: String, key: String?) -> (base: String, host: String, path: String) {
        let keyPath = key.map { "/" + $0 } ?? ""
        if let endpoint = configuration.endpoint {
            let scheme = endpoint.scheme ?? "https"
            var host = endpoint.host ?? "localhost"
            if host.contains(":") { host = "[\(host)]" }
            if let port = endpoint.port { host += ":\(port)" }
            let prefix = endpoint.path.hasSuffix("/") ? String(endpoint.path.dropLast()) : endpoint.path
            return ("\(scheme)://\(host)", host, prefix + "/" + bucket + keyPath)
        }
        let regional = configuration.region == "us-east-1" ? "s3.amazonaws.com" : "s3.\(configuration.region).amazonaws.com"
        if bucket.contains(".") {
            return ("https://\(regional)", regional, "/" + bucket + keyPath)
        }
        let host = "\(bucket).\(regional)"
        return ("https://\(host)", host, keyPath.isEmpty ? "/" : keyPath)
    }
}

/// Reads the times S3 lists carry (ISO 8601, with or without fractional seconds). One per listing: the
/// formatters are dear to make and a listing reads thousands.
struct S3Times {
    private let fractional: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
    private let plain = ISO8601DateFormatter()

    func date(_ text: String) -> Date? {
        HTTPDate.parseListingTime(text) ?? fractional.date(from: text) ?? plain.date(from: text)
    }
}
