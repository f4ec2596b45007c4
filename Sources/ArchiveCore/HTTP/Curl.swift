import CCurl
import CShims
import Foundation
import Synchronization

/// An HTTP request for one transfer. The body is borrowed bytes: the caller keeps them alive for the call.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    /// A ranged GET whose bytes are trusted only as 206 Partial Content: any other 2xx is refused at its status
    /// line (`PartialContentRefused`), before a byte of its body is received.
    public var requiresPartialContent = false
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

/// One libcurl easy handle: one reused connection. Used by one thread at a time: a pool hands it to a thread
/// and takes it back (which is why it may cross threads), or a transfer engine's worker owns it for its life.
public final class CurlConnection: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    private let settings: HTTPSettings
    /// curl keeps this pointer and writes its message there when a transfer fails, so it lives as long as the
    /// handle (a Swift array's address would be valid only for the one call that set it).
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private static let errorBufferSize = Int(CURL_ERROR_SIZE) + 1

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(settings: HTTPSettings) {
        _ = Self.globalInit
        guard let h = curl_easy_init() else { fatalError("libcurl: curl_easy_init failed (out of memory)") }
        handle = h
        self.settings = settings
        errorBuffer = .allocate(capacity: Self.errorBufferSize)
        errorBuffer.initialize(repeating: 0, count: Self.errorBufferSize)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Performs one request; `body` (may be empty) is sent for PUT and POST.
    public func perform<Body: ContiguousBytes>(_ request: HTTPRequest, body: Body) throws -> HTTPResponse {
        try body.withUnsafeBytes { try perform(request, borrowing: $0) }
    }

    public func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        try perform(request, borrowing: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Performs a request whose body is the spool's bytes, read from the file as curl sends them (a part too
    /// large for memory).
    public func perform(_ request: HTTPRequest, file: SpoolFile) throws -> HTTPResponse {
        try perform(request, borrowing: UnsafeRawBufferPointer(start: nil, count: 0), file: file)
    }

    /// Performs a request whose successful (2xx) body is handed to `receive` as it arrives instead of being
    /// kept; an error answer's body is kept in the response for its message. The chunks are valid only
    /// during the call. An error thrown by `receive` stops the transfer and is rethrown.
    public func perform(_ request: HTTPRequest, receive: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> HTTPResponse {
        try perform(request, borrowing: UnsafeRawBufferPointer(start: nil, count: 0), receive: receive)
    }

    private func perform(_ request: HTTPRequest, borrowing body: UnsafeRawBufferPointer, file: SpoolFile? = nil,
                         receive: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> HTTPResponse {
        // Reset keeps the connection cache: options are per request, the connection is not.
        curl_easy_reset(handle)
        let transfer = TransferState(body: body, file: file)
        transfer.receive = receive
        transfer.limiter = settings.sendLimit
        transfer.requiresPartialContent = request.requiresPartialContent
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers {
            headerList = curl_slist_append(headerList, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        // curl would otherwise add an Expect header by itself and wait for a 100-continue.
        headerList = curl_slist_append(headerList, "Expect:")

        try set(CURLOPT_URL, request.url)
        // The path is the key's bytes, signed as they are: curl must not resolve `./` and `../` in it (the
        // signature would no longer match, or the object would land at another key than the one recorded).
        try setLong(CURLOPT_PATH_AS_IS, 1)
        try setLong(CURLOPT_NOSIGNAL, 1)
        try setLong(CURLOPT_CONNECTTIMEOUT, settings.connectTimeout)
        try setLong(CURLOPT_LOW_SPEED_LIMIT, 1)
        try setLong(CURLOPT_LOW_SPEED_TIME, settings.stallTimeout)
        try setLong(CURLOPT_TCP_NODELAY, 1)
        // Large reads for downloads: curl's 16 KiB default costs a system call per 16 KiB of a gigabyte.
        try setLong(CURLOPT_BUFFERSIZE, 512 * 1024)
        if let ca = settings.caBundle { try set(CURLOPT_CAINFO, ca) }

        try check(s3a_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
        errorBuffer[0] = 0
        try check(s3a_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))

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
                    if t.requiresPartialContent, (200..<300).contains(t.status), t.status != 206 {
                        // Stopped here, not after the write callback has passed bytes of the wrong range on.
                        t.receiveError = PartialContentRefused(status: t.status)
                        return 0
                    }
                }
                if let colon = line.firstIndex(of: ":") {
                    let name = line[..<colon].lowercased()
                    // Trimmed by hand: Foundation's trimmingCharacters goes through NSString, 7% of a rebuild's CPU.
                    let rest = line[line.index(after: colon)...]
                    let start = rest.firstIndex { !$0.isWhitespace } ?? rest.endIndex
                    let end = rest.lastIndex { !$0.isWhitespace }.map { rest.index(after: $0) } ?? start
                    t.headers[name] = String(rest[start..<max(start, end)])
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
            try check(s3a_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(transfer.bodyCount)))
            try setLong(CURLOPT_UPLOAD_BUFFERSIZE, 512 * 1024)
            try setReadCallback(state)
        case "POST":
            try setLong(CURLOPT_POST, 1)
            try check(s3a_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(transfer.bodyCount)))
            try setReadCallback(state)
        case "GET":
            try setLong(CURLOPT_HTTPGET, 1)
        default:
            try set(CURLOPT_CUSTOMREQUEST, request.method)
        }

        let code = curl_easy_perform(handle)
        if let error = transfer.receiveError ?? transfer.readError { throw error }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
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
            var n = min(size * count, t.bodyCount - t.sent)
            if let limiter = t.limiter, n > 0 { n = limiter.take(upTo: n) }
            guard n > 0, let buffer else { return 0 }
            if let file = t.file {
                do {
                    let got = try file.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: n), at: t.sent)
                    // The file is shorter than it said: fail rather than send a short body under a full length.
                    guard got == n else { throw Failure.io("a temporary file ended after \(t.sent + got) of \(t.bodyCount) bytes") }
                } catch {
                    t.readError = error
                    return Int(CURL_READFUNC_ABORT)
                }
            } else if let base = t.body.baseAddress {
                UnsafeMutableRawPointer(buffer).copyMemory(from: base + t.sent, byteCount: n)
            }
            t.sent += n
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
    let file: SpoolFile?
    var bodyCount: Int { file?.count ?? body.count }
    var sent = 0
    var readError: Error?
    var response: [UInt8] = []
    var headers: [String: String] = [:]
    var status = 0
    var receive: ((UnsafeRawBufferPointer) throws -> Void)?
    var receiveError: Error?
    var requiresPartialContent = false
    var limiter: RateLimiter?
    init(body: UnsafeRawBufferPointer, file: SpoolFile?) {
        self.body = body
        self.file = file
    }
}

/// A token bucket shared by every connection: each read of request body waits for its share, so the cap holds
/// for all parts together however many are in flight.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double = 0
        var last = Date()
    }
    private let bucket = Mutex(Bucket())
    private let bytesPerSecond: Double

    public init(bytesPerSecond: Int) {
        self.bytesPerSecond = Double(max(1, bytesPerSecond))
    }

    /// Waits until some bytes may go, and returns how many (at most `wanted`, at most a tenth of a second's worth).
    func take(upTo wanted: Int) -> Int {
        let chunk = max(1, min(wanted, Int(bytesPerSecond / 10)))
        while true {
            let wait: Double = bucket.withLock { bucket in
                let now = Date()
                bucket.tokens = min(bytesPerSecond / 10, bucket.tokens + now.timeIntervalSince(bucket.last) * bytesPerSecond)
                bucket.last = now
                if bucket.tokens >= Double(chunk) {
                    bucket.tokens -= Double(chunk)
                    return 0
                }
                return (Double(chunk) - bucket.tokens) / bytesPerSecond
            }
            if wait == 0 { return chunk }
            Thread.sleep(forTimeInterval: wait)
        }
    }
}

/// Hands out connections to threads and takes them back, so each keeps its TCP/TLS session warm. A transfer
/// engine's worker thread always gets its own connection (one per pool, for the thread's life); other threads
/// share the idle ones.
public final class ConnectionPool: Sendable {
    private let idle = Mutex<[CurlConnection]>([])
    private let settings: HTTPSettings

    public init(settings: HTTPSettings) { self.settings = settings }

    public func withConnection<T>(_ body: (CurlConnection) throws -> T) rethrows -> T {
        if let owned = WorkerConnections.current {
            return try body(owned.connection(for: self) { CurlConnection(settings: settings) })
        }
        let connection = idle.withLock { $0.popLast() } ?? CurlConnection(settings: settings)
        defer { idle.withLock { $0.append(connection) } }
        return try body(connection)
    }
}

/// The connections a transfer engine's worker thread owns, one per pool it has used. Reached only from that
/// thread (through its thread dictionary), so it needs no lock; freed with the thread.
final class WorkerConnections {
    private static let key = "s3a.worker-connections"
    private var byPool: [ObjectIdentifier: (pool: Weak<ConnectionPool>, connection: CurlConnection)] = [:]

    /// Marks the calling thread as a worker that keeps its own connections.
    static func adopt() { Thread.current.threadDictionary[key] = WorkerConnections() }

    static var current: WorkerConnections? { Thread.current.threadDictionary[key] as? WorkerConnections }

    /// Closes the calling worker's connections now, rather than whenever its thread's storage is freed.
    static func release() { Thread.current.threadDictionary.removeObject(forKey: key) }

    func connection(for pool: ConnectionPool, make: () -> CurlConnection) -> CurlConnection {
        let id = ObjectIdentifier(pool)
        // A pool freed and another allocated at its address must not inherit its connection (or settings).
        if let known = byPool[id], known.pool.value === pool { return known.connection }
        let connection = make()
        byPool = byPool.filter { $0.value.pool.value != nil }
        byPool[id] = (Weak(pool), connection)
        return connection
    }
}

struct Weak<T: AnyObject> {
    weak var value: T?
    init(_ value: T) { self.value = value }
}

/// A ranged GET answered with a 2xx other than 206 (a whole object where a range was asked for), refused at the
/// status line. The caller says it in its own terms (S3Client's RangeIgnored).
public struct PartialContentRefused: Error {
    public let status: Int
}
