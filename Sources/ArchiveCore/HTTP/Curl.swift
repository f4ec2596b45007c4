import CCurl
import CShims
import Foundation

/// An HTTP request for one transfer. The body is borrowed bytes: the caller keeps them alive for the call.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public init(method: String, url: String, headers: [(name: String, value: String)] = []) {
        self.method = method
        self.url = url
        self.headers = headers
    }
}

/// Status, headers (names lower-cased) and body of a response.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A transport failure below HTTP: refused or reset connections, timeouts, DNS, TLS.
public struct TransportError: ReportableError {
    public let code: Int
    public let message: String
    public let url: String
    public var exitStatus: ExitStatus { .unavailable }
    public var description: String { "cannot reach \(url): \(message)" }
}

/// Settings shared by every connection.
public struct HTTPSettings: Sendable {
    public var caBundle: String?
    public var connectTimeout: Int = 10
    /// A transfer slower than 1 byte/s for this long is abandoned (and retried).
    public var stallTimeout: Int = 60
    /// Caps the bytes sent per second by all connections together, or nil for no cap.
    public var sendLimit: RateLimiter?
    public init(caBundle: String? = nil, sendLimit: RateLimiter? = nil) {
        self.caBundle = caBundle
        self.sendLimit = sendLimit
    }
}

/// One libcurl easy handle: one reused connection. Not shared between threads; a pool hands them out.
public final class CurlConnection {
    private let handle: UnsafeMutableRawPointer
    private let settings: HTTPSettings
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(settings: HTTPSettings) {
        _ = Self.globalInit
        guard let h = curl_easy_init() else { fatalError("libcurl: curl_easy_init failed (out of memory)") }
        handle = h
        self.settings = settings
    }

    deinit { curl_easy_cleanup(handle) }

    /// Performs one request; `body` (may be empty) is sent for PUT and POST.
    public func perform<Body: ContiguousBytes>(_ request: HTTPRequest, body: Body) throws -> HTTPResponse {
        try body.withUnsafeBytes { try perform(request, borrowing: $0) }
    }

    public func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        try perform(request, borrowing: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Performs a request whose successful (2xx) body is handed to `receive` as it arrives instead of being
    /// kept; an error answer's body is kept in the response for its message. The chunks are valid only
    /// during the call. An error thrown by `receive` stops the transfer and is rethrown.
    public func perform(_ request: HTTPRequest, receive: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> HTTPResponse {
        try perform(request, borrowing: UnsafeRawBufferPointer(start: nil, count: 0), receive: receive)
    }

    private func perform(_ request: HTTPRequest, borrowing body: UnsafeRawBufferPointer,
                         receive: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> HTTPResponse {
        // Reset keeps the connection cache: options are per request, the connection is not.
        curl_easy_reset(handle)
        let transfer = TransferState(body: body)
        transfer.receive = receive
        transfer.limiter = settings.sendLimit
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers {
            headerList = curl_slist_append(headerList, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        // curl would otherwise add an Expect header by itself and wait for a 100-continue.
        headerList = curl_slist_append(headerList, "Expect:")

        try set(CURLOPT_URL, request.url)
        try setLong(CURLOPT_NOSIGNAL, 1)
        try setLong(CURLOPT_CONNECTTIMEOUT, settings.connectTimeout)
        try setLong(CURLOPT_LOW_SPEED_LIMIT, 1)
        try setLong(CURLOPT_LOW_SPEED_TIME, settings.stallTimeout)
        try setLong(CURLOPT_TCP_NODELAY, 1)
        // Large reads for downloads: curl's 16 KiB default costs a system call per 16 KiB of a gigabyte.
        try setLong(CURLOPT_BUFFERSIZE, 512 * 1024)
        if let ca = settings.caBundle { try set(CURLOPT_CAINFO, ca) }

        try check(s3a_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
        try check(s3a_setopt_pointer(handle, CURLOPT_ERRORBUFFER, &errorBuffer))

        let state = Unmanaged.passUnretained(transfer).toOpaque()
        try check(s3a_setopt_callback(handle, CURLOPT_WRITEFUNCTION, { ptr, size, count, user in
            let t = Unmanaged<TransferState>.fromOpaque(user!).takeUnretainedValue()
            let n = size * count
            guard let ptr else { return n }
            let chunk = UnsafeRawBufferPointer(start: ptr, count: n)
            if let receive = t.receive, (200..<300).contains(t.status) {
                do { try receive(chunk) } catch {
                    t.receiveError = error
                    return 0
                }
            } else {
                t.response.append(contentsOf: chunk)
            }
            return n
        }))
        try check(s3a_setopt_pointer(handle, CURLOPT_WRITEDATA, state))
        try check(s3a_setopt_callback(handle, CURLOPT_HEADERFUNCTION, { ptr, size, count, user in
            let t = Unmanaged<TransferState>.fromOpaque(user!).takeUnretainedValue()
            let n = size * count
            if let ptr {
                let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
                if line.hasPrefix("HTTP/") {
                    t.headers.removeAll()
                    t.status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
                }
                if let colon = line.firstIndex(of: ":") {
                    let name = line[..<colon].lowercased()
                    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                    t.headers[name] = value
                }
            }
            return n
        }))
        try check(s3a_setopt_pointer(handle, CURLOPT_HEADERDATA, state))

        switch request.method {
        case "HEAD":
            try setLong(CURLOPT_NOBODY, 1)
        case "PUT":
            try setLong(CURLOPT_UPLOAD, 1)
            try check(s3a_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(body.count)))
            try setLong(CURLOPT_UPLOAD_BUFFERSIZE, 512 * 1024)
            try setReadCallback(state)
        case "POST":
            try setLong(CURLOPT_POST, 1)
            try check(s3a_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            try setReadCallback(state)
        case "GET":
            try setLong(CURLOPT_HTTPGET, 1)
        default:
            try set(CURLOPT_CUSTOMREQUEST, request.method)
        }

        let code = curl_easy_perform(handle)
        if let error = transfer.receiveError { throw error }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw TransportError(code: Int(code.rawValue),
                                 message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail,
                                 url: request.url)
        }
        var status = 0
        try check(s3a_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status))
        return HTTPResponse(status: status, headers: transfer.headers, body: transfer.response)
    }

    private func setReadCallback(_ state: UnsafeMutableRawPointer) throws {
        try check(s3a_setopt_callback(handle, CURLOPT_READFUNCTION, { buffer, size, count, user in
            let t = Unmanaged<TransferState>.fromOpaque(user!).takeUnretainedValue()
            var n = min(size * count, t.body.count - t.sent)
            if let limiter = t.limiter, n > 0 { n = limiter.take(upTo: n) }
            if n > 0, let buffer, let base = t.body.baseAddress {
                UnsafeMutableRawPointer(buffer).copyMemory(from: base + t.sent, byteCount: n)
                t.sent += n
            }
            return n
        }))
        try check(s3a_setopt_pointer(handle, CURLOPT_READDATA, state))
    }

    private func setLong(_ option: CURLoption, _ value: Int) throws {
        try check(s3a_setopt_long(handle, option, value))
    }

    private func set(_ option: CURLoption, _ value: String) throws {
        try check(value.withCString { s3a_setopt_string(handle, option, $0) })
    }

    private func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else {
            throw TransportError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)), url: "")
        }
    }
}

/// What the C callbacks read and write during one transfer.
private final class TransferState {
    let body: UnsafeRawBufferPointer
    var sent = 0
    var response: [UInt8] = []
    var headers: [String: String] = [:]
    var status = 0
    var receive: ((UnsafeRawBufferPointer) throws -> Void)?
    var receiveError: Error?
    var limiter: RateLimiter?
    init(body: UnsafeRawBufferPointer) { self.body = body }
}

/// A token bucket shared by every connection: each read of request body waits for its share, so the cap holds
/// for all parts together however many are in flight.
public final class RateLimiter: @unchecked Sendable {
    private let lock = NSLock()
    private let bytesPerSecond: Double
    private var tokens: Double
    private var last = Date()

    public init(bytesPerSecond: Int) {
        self.bytesPerSecond = Double(max(1, bytesPerSecond))
        tokens = 0
    }

    /// Waits until some bytes may go, and returns how many (at most `wanted`, at most a tenth of a second's worth).
    func take(upTo wanted: Int) -> Int {
        let chunk = max(1, min(wanted, Int(bytesPerSecond / 10)))
        while true {
            let wait: Double = lock.withLock {
                let now = Date()
                tokens = min(bytesPerSecond / 10, tokens + now.timeIntervalSince(last) * bytesPerSecond)
                last = now
                if tokens >= Double(chunk) {
                    tokens -= Double(chunk)
                    return 0
                }
                return (Double(chunk) - tokens) / bytesPerSecond
            }
            if wait == 0 { return chunk }
            Thread.sleep(forTimeInterval: wait)
        }
    }
}

/// Hands out connections to threads and takes them back, so each keeps its TCP/TLS session warm.
public final class ConnectionPool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [CurlConnection] = []
    private let settings: HTTPSettings

    public init(settings: HTTPSettings) { self.settings = settings }

    public func withConnection<T>(_ body: (CurlConnection) throws -> T) rethrows -> T {
        lock.lock()
        let connection = idle.popLast() ?? CurlConnection(settings: settings)
        lock.unlock()
        defer { lock.lock(); idle.append(connection); lock.unlock() }
        return try body(connection)
    }
}
