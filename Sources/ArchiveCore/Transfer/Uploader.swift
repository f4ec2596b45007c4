import Foundation

/// How s3-put sends data.
public struct UploadOptions: Sendable {
    public var partSize: Int = 16 << 20
    public var concurrency: Int = 4
    /// Files up to this size go in one PUT; nil means "the part size".
    public var multipartThreshold: Int?
    public var object = ObjectOptions()
    /// Called with the number of bytes read once the input has ended, before the object is made visible
    /// (single PUT sent, multipart completed): throwing here stores nothing.
    public var checkBeforeStoring: (@Sendable (Int) throws -> Void)?
    public init() {}
}

/// Sends one source (a file or standard input) to one key of a store, verified: every body carries its MD5,
/// and the ETag the store reports must equal the one computed here before the upload counts as done.
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
        try options.checkBeforeStoring?(body.count)
        let md5 = Digest.md5(body)
        let etag = try store.put(key, body: body, md5: md5, options: options.object)
        try confirm(etag, expected: md5.hex, url: url)
        return record(url: url, key: key, size: body.count, etag: md5.hex,
                      layout: PartLayout(partSize: max(body.count, 1)), parts: 1)
    }

    /// Reads parts in order on this thread into a bounded pool of reused buffers, while up to `concurrency`
    /// workers hash and send them. A stream that ends within its first part goes as a single PUT instead.
    private func putMultipart(_ source: FileReader, layout: PartLayout, url: StorageURL, key: String) throws -> Record {
        let pool = BufferPool(count: max(1, options.concurrency))
        var first = pool.take()
        let firstCount = try source.read(into: &first, count: layout.size(ofPart: 1))
        if firstCount < layout.size(ofPart: 1) || source.size == firstCount {
            return try putSingle(first[..<firstCount], url: url, key: key)
        }
        var second = pool.take()
        let secondCount = try source.read(into: &second, count: layout.size(ofPart: 2))
        if secondCount == 0 { return try putSingle(first[..<firstCount], url: url, key: key) }

        let uploadID = try store.startMultipart(key, options: options.object)
        let state = MultipartState()
        let group = DispatchGroup()
        let store = self.store

        func send(_ number: Int, _ buffer: [UInt8], _ count: Int) {
            group.enter()
            DispatchQueue.global().async {
                defer { pool.give(buffer); group.leave() }
                guard !state.failed else { return }
                let body = buffer[..<count]
                let md5 = Digest.md5(body)
                do {
                    let etag = try store.putPart(key, uploadID: uploadID, number: number, body: body, md5: md5)
                    guard ETag.unquote(etag) == md5.hex else {
                        throw Failure.check("\(url): part \(number) was stored with ETag \(etag), expected \(md5.hex)")
                    }
                    state.finish(number, md5: md5, size: count)
                } catch {
                    state.fail(error)
                }
            }
        }

        do {
            send(1, first, firstCount)
            send(2, second, secondCount)
            var number = 2
            var lastCount = secondCount
            while lastCount == layout.size(ofPart: number), !state.failed {
                number += 1
                guard number <= PartLayout.maxParts else {
                    throw Failure.usage("\(source.path): more than \(PartLayout.maxParts) parts: raise --part-size")
                }
                var buffer = pool.take()
                lastCount = try source.read(into: &buffer, count: layout.size(ofPart: number))
                if lastCount == 0 { pool.give(buffer); break }
                send(number, buffer, lastCount)
            }
            group.wait()
            if let error = state.error { throw error }
            if let expected = source.size, expected != state.totalSize {
                throw Failure.io("\(source.path): the file changed size while it was read (\(expected) → \(state.totalSize) bytes)")
            }
            try options.checkBeforeStoring?(state.totalSize)
            let digests = state.digestsInOrder()
            let expected = ETag.combine(digests)
            let etag = try store.completeMultipart(key, uploadID: uploadID,
                                                   parts: digests.enumerated().map { ($0.offset + 1, $0.element.hex) })
            try confirm(etag, expected: expected, url: url)
            // The object as the store now describes it must be the object we sent.
            guard let info = try store.head(key), info.size == state.totalSize, ETag.unquote(info.etag) == expected else {
                throw Failure.check("\(url): after the upload the store reports a different size or ETag than was sent")
            }
            return record(url: url, key: key, size: state.totalSize, etag: expected, layout: layout, parts: digests.count)
        } catch {
            group.wait()
            try? store.abortMultipart(key, uploadID: uploadID)
            throw error
        }
    }

    private func confirm(_ etag: String, expected: String, url: StorageURL) throws {
        let got = ETag.unquote(etag)
        guard got == expected else {
            throw Failure.check("\(url): the store reports ETag \(got.isEmpty ? "(none)" : got), but the data sent gives \(expected)")
        }
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
    private var firstError: Error?

    var failed: Bool { lock.withLock { firstError != nil } }
    var error: Error? { lock.withLock { firstError } }
    var totalSize: Int { lock.withLock { bytes } }

    func finish(_ number: Int, md5: [UInt8], size: Int) {
        lock.withLock { digests[number] = md5; bytes += size }
    }

    func fail(_ error: Error) { lock.withLock { if firstError == nil { firstError = error } } }

    func digestsInOrder() -> [[UInt8]] { lock.withLock { digests.keys.sorted().map { digests[$0]! } } }
}
