import Foundation

/// How s3-put sends data.
public struct UploadOptions: Sendable {
    public var partSize: Int = 16 << 20
    public var concurrency: Int = 4
    /// Files up to this size go in one PUT; nil means "the part size".
    public var multipartThreshold: Int?
    public var object = ObjectOptions()
    /// Called once the input has ended, before the object is made visible (single PUT sent, multipart
    /// completed), with the bytes read and their SHA-256 (nil when a resumed upload did not read them all):
    /// throwing here stores nothing. Setting it makes the reader hash the stream.
    public var checkBeforeStoring: (@Sendable (Int, String?) throws -> Void)?
    /// Remembers uploads in progress (for resume) and their parts.
    public var catalog: Catalog?
    /// On failure, keep a multipart upload's parts for a later resume instead of aborting it.
    public var keepParts = false
    /// Unfinished uploads, so that a signal can abort them.
    public var active: ActiveUploads?
    public var progress: TransferProgress?
    public init() {}
}

/// Sends one source (a file or standard input) to one key of a store, verified: every body carries its MD5,
/// and the ETag the store reports must equal the one computed here before the upload counts as done.
/// An interrupted upload of an unchanged file resumes from the parts the catalog and the store agree on.
public struct Uploader: Sendable {
    public let store: ObjectStore
    public let options: UploadOptions

    public init(store: ObjectStore, options: UploadOptions) {
        self.store = store
        self.options = options
    }

    public func upload(_ source: FileReader, to url: StorageURL, key: String) throws -> Record {
        let threshold = options.multipartThreshold ?? options.partSize
        if let size = source.size, size <= threshold {
            var buffer: [UInt8] = []
            let n = try source.read(into: &buffer, count: size)
            guard n == size else { throw Failure.io("\(source.path): the file shrank while it was read") }
            return try putSingle(buffer[..<n], url: url, key: key)
        }
        let layout = source.size.map { PartLayout.forFile(size: $0, preferred: options.partSize) }
            ?? PartLayout(partSize: options.partSize, doublingEvery: PartLayout.streamDoubling)
        return try putMultipart(source, layout: layout, url: url, key: key)
    }

    /// Stores bytes already in memory (an index, a small manifest) in one verified PUT.
    public func upload(bytes: [UInt8], to url: StorageURL, key: String) throws -> Record {
        try putSingle(bytes[...], url: url, key: key)
    }

    private func putSingle(_ body: ArraySlice<UInt8>, url: StorageURL, key: String) throws -> Record {
        if let check = options.checkBeforeStoring { try check(body.count, Digest.sha256(body).hex) }
        let md5 = Digest.md5(body)
        let etag = try store.put(key, body: body, md5: md5, options: options.object)
        options.progress?.add(bytes: body.count, parts: 1)
        let stored = try confirm(etag, expected: md5.hex, url: url)
        return record(url: url, key: key, size: body.count, etag: stored,
                      layout: PartLayout(partSize: max(body.count, 1)), parts: 1)
    }

    /// Parts are read on this thread into a bounded pool of reused buffers while up to `concurrency` workers
    /// hash and send them. Files are read at their parts' offsets, so a resumed upload reads only missing parts;
    /// a stream is read in order, and one that ends within its first part goes as a single PUT.
    private func putMultipart(_ source: FileReader, layout: PartLayout, url: StorageURL, key: String) throws -> Record {
        // A stream needs two parts in hand before it knows it is multipart, whatever the concurrency.
        let pool = BufferPool(count: max(source.size == nil ? 2 : 1, options.concurrency))
        var streamStart: [(number: Int, buffer: ByteBuffer)] = []
        if source.size == nil {
            let first = pool.take()
            first.count = try source.read(into: &first.bytes, count: layout.size(ofPart: 1))
            if first.count < layout.size(ofPart: 1) { return try putSingle(first.filled, url: url, key: key) }
            let second = pool.take()
            second.count = try source.read(into: &second.bytes, count: layout.size(ofPart: 2))
            if second.count == 0 { return try putSingle(first.filled, url: url, key: key) }
            streamStart = [(1, first), (2, second)]
        }

        let fingerprint = source.fingerprint
        let state = MultipartState()
        let (uploadID, resumed) = try startOrResume(url: url, key: key, layout: layout, fingerprint: fingerprint)
        for (number, part) in resumed { state.finish(number, md5: part.md5, size: part.size) }
        options.active?.register(store: store, key: key, uploadID: uploadID, resumable: fingerprint != nil)
        defer { options.active?.unregister(uploadID) }

        let group = DispatchGroup()
        let store = self.store
        let catalog = options.catalog
        let progress = options.progress
        /// Sends one part; the buffer goes back to the pool only once nothing refers to its bytes.
        @Sendable func sendPart(_ number: Int, _ buffer: ByteBuffer) {
            guard !state.failed else { return }
            let body = buffer.filled
            let count = body.count
            let md5 = Digest.md5(body)
            do {
                let etag = try store.putPart(key, uploadID: uploadID, number: number, body: body, md5: md5)
                if options.object.etagIsMD5, ETag.unquote(etag) != md5.hex {
                    throw Failure.check("\(url): part \(number) was stored with ETag \(etag), expected \(md5.hex)")
                }
                try catalog?.partStored(uploadID, number: number, size: count, md5: md5.hex)
                state.finish(number, md5: md5, size: count)
                state.sent()
                progress?.add(bytes: count, parts: 1)
            } catch {
                state.fail(error)
            }
        }
        // The whole stream's SHA-256, taken on the reading thread in order, only when the caller checks it.
        let streamDigest = options.checkBeforeStoring == nil ? nil : Digest(.sha256)
        func send(_ number: Int, _ buffer: ByteBuffer) {
            streamDigest?.update(buffer.filled)
            group.enter()
            DispatchQueue.global().async {
                sendPart(number, buffer)
                pool.give(buffer)
                group.leave()
            }
        }

        do {
            if let size = source.size {
                let parts = layout.parts(total: size)
                progress?.start(totalBytes: size, totalParts: parts.count)
                progress?.add(bytes: resumed.values.reduce(0) { $0 + $1.size }, parts: resumed.count)
                for part in parts where resumed[part.number] == nil {
                    if state.failed { break }
                    let buffer = pool.take()
                    buffer.count = try source.read(into: &buffer.bytes, count: part.length, at: part.offset)
                    guard buffer.count == part.length else {
                        pool.give(buffer)
                        throw Failure.io("\(source.path): the file shrank while it was read")
                    }
                    send(part.number, buffer)
                }
            } else {
                progress?.start(totalBytes: nil, totalParts: nil)
                for part in streamStart { send(part.number, part.buffer) }
                var number = 2
                var lastCount = streamStart[1].buffer.count
                while lastCount == layout.size(ofPart: number), !state.failed {
                    number += 1
                    guard number <= PartLayout.maxParts else {
                        throw Failure.usage("\(source.path): more than \(PartLayout.maxParts) parts: raise --part-size")
                    }
                    let buffer = pool.take()
                    buffer.count = try source.read(into: &buffer.bytes, count: layout.size(ofPart: number))
                    lastCount = buffer.count
                    if lastCount == 0 { pool.give(buffer); break }
                    send(number, buffer)
                }
            }
            group.wait()
            if let error = state.error { throw error }
            if let size = source.size, let now = try? FileReader(path: source.path).fingerprint,
               now.size != size || now.modified != fingerprint?.modified {
                throw Failure.io("\(source.path): the file changed while it was uploaded: upload it again once it is stable")
            }
            try options.checkBeforeStoring?(state.totalSize, resumed.isEmpty ? streamDigest?.finish().hex : nil)
            let digests = state.digestsInOrder()
            let expected = ETag.combine(digests)
            let etag = try store.completeMultipart(key, uploadID: uploadID,
                                                   parts: digests.enumerated().map { ($0.offset + 1, $0.element.hex) })
            try? catalog?.uploadEnded(uploadID, state: "completed")
            let stored = try confirm(etag, expected: expected, url: url)
            // The object as the store now describes it must be the object we sent.
            guard let info = try store.head(key), info.size == state.totalSize, ETag.unquote(info.etag) == stored else {
                throw Failure.check("\(url): after the upload the store reports a different size or ETag than was sent")
            }
            var result = record(url: url, key: key, size: state.totalSize, etag: stored, layout: layout, parts: digests.count)
            if !resumed.isEmpty { result.resumedParts = resumed.count }
            return result
        } catch {
            group.wait()
            if !options.keepParts || source.size == nil {
                try? store.abortMultipart(key, uploadID: uploadID)
                try? catalog?.uploadEnded(uploadID, state: "aborted")
            }
            throw error
        }
    }

    /// An unfinished upload of the same unchanged file to the same place is continued: the parts that both the
    /// catalog and the store hold (same number, size and MD5) count as sent. Anything else starts afresh.
    private func startOrResume(url: StorageURL, key: String, layout: PartLayout, fingerprint: SourceFingerprint?)
        throws -> (String, [Int: (md5: [UInt8], size: Int)]) {
        if let catalog = options.catalog, let fingerprint,
           let previous = try catalog.resumableUpload(url: url.description, source: fingerprint, layout: layout),
           let stored = try store.listParts(key, uploadID: previous.uploadID) {
            var resumed: [Int: (md5: [UInt8], size: Int)] = [:]
            for part in stored {
                if let known = previous.parts[part.number], known.md5 == part.etag, known.size == part.size,
                   part.size == layout.size(ofPart: part.number) || part.number == layout.parts(total: fingerprint.size).count {
                    resumed[part.number] = (ETag.bytes(ofHex: known.md5), part.size)
                }
            }
            return (previous.uploadID, resumed)
        }
        var object = options.object
        // The part layout travels with the object, so its ETag can be recomputed years later.
        object.metadata["s3a-part-size"] = String(layout.partSize)
        if let every = layout.doublingEvery { object.metadata["s3a-part-doubling-every"] = String(every) }
        let uploadID = try store.startMultipart(key, options: object)
        var bucket: String?
        if case .s3(let b, _) = url { bucket = b }
        try options.catalog?.uploadStarted(uploadID, url: url.description, bucket: bucket, key: key,
                                           source: fingerprint, layout: layout)
        return (uploadID, [:])
    }

    /// The ETag the store reported must be the one the data gives; with KMS encryption S3's ETag is no MD5,
    /// and the per-request Content-MD5 checks stand alone.
    private func confirm(_ etag: String, expected: String, url: StorageURL) throws -> String {
        let got = ETag.unquote(etag)
        guard options.object.etagIsMD5 else { return got.isEmpty ? expected : got }
        guard got == expected else {
            throw Failure.check("\(url): the store reports ETag \(got.isEmpty ? "(none)" : got), but the data sent gives \(expected)")
        }
        return got
    }

    private func record(url: StorageURL, key: String, size: Int, etag: String, layout: PartLayout, parts: Int) -> Record {
        var bucket: String?
        if case .s3(let b, _) = url { bucket = b }
        return Record(url: url.description, bucket: bucket, key: url.key, size: size, etag: etag, layout: layout,
                      parts: parts, storageClass: options.object.storageClass ?? "STANDARD")
    }
}

/// What the part workers report back: each part's MD5 and size, or the first error.
final class MultipartState: @unchecked Sendable {
    private let lock = NSLock()
    private var digests: [Int: [UInt8]] = [:]
    private var bytes = 0
    private var partsSent = 0
    private var firstError: Error?

    var failed: Bool { lock.withLock { firstError != nil } }
    var error: Error? { lock.withLock { firstError } }
    var totalSize: Int { lock.withLock { bytes } }

    func finish(_ number: Int, md5: [UInt8], size: Int) {
        lock.withLock { digests[number] = md5; bytes += size }
    }

    func sent() { lock.withLock { partsSent += 1 } }

    func fail(_ error: Error) { lock.withLock { if firstError == nil { firstError = error } } }

    func digestsInOrder() -> [[UInt8]] { lock.withLock { digests.keys.sorted().map { digests[$0]! } } }
}

/// Multipart uploads under way in this process, so that SIGINT or SIGTERM can abort them before exiting.
public final class ActiveUploads: @unchecked Sendable {
    private let lock = NSLock()
    private var uploads: [String: (store: ObjectStore, key: String, resumable: Bool)] = [:]

    public init() {}

    func register(store: ObjectStore, key: String, uploadID: String, resumable: Bool) {
        lock.withLock { uploads[uploadID] = (store, key, resumable) }
    }

    func unregister(_ uploadID: String) { _ = lock.withLock { uploads.removeValue(forKey: uploadID) } }

    /// Aborts every upload still registered (but those a later run could resume, when asked to keep them);
    /// returns how many were aborted.
    @discardableResult
    public func abortAll(catalog: Catalog?, keepingResumable: Bool = false) -> Int {
        let all = lock.withLock { uploads }.filter { !(keepingResumable && $0.value.resumable) }
        for (id, upload) in all {
            try? upload.store.abortMultipart(upload.key, uploadID: id)
            try? catalog?.uploadEnded(id, state: "aborted")
        }
        return all.count
    }
}
