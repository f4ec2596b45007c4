import Foundation

/// How s3-put's memory is shared among the parts in hand: `slots` parts exist at once (one per request in
/// flight, two at least for a stream), each in memory up to its share, spooled to disk beyond it. A part of
/// the preferred part size always fits (the share never falls below it), so parts in memory never exceed
/// `max(bytes, slots × preferred part size)` together, whatever the length of the input.
public struct MemoryBudget: Sendable, Equatable {
    public let bytes: Int
    public let slots: Int
    public let share: Int

    public init(bytes: Int, slots: Int, partSize: Int) {
        self.bytes = bytes
        self.slots = max(1, slots)
        share = max(bytes / self.slots, partSize)
    }

    /// The budget of an upload: its concurrency, and two slots at least for a stream.
    public init(_ options: UploadOptions, isStream: Bool) {
        self.init(bytes: options.memory, slots: max(isStream ? 2 : 1, options.concurrency), partSize: options.partSize)
    }

    /// True when a part of `length` bytes is held in memory; false when it goes through a spool file.
    public func keepsInMemory(_ length: Int) -> Bool { length <= share }
}

/// One part read from the input, on its way to a worker: in a pooled buffer, or (too large for its share of
/// the memory budget) in a spool file with its MD5 already taken. It holds a slot of the pool until given back.
struct ReadPart: Sendable {
    let number: Int
    let count: Int
    let buffer: ByteBuffer
    let spool: SpoolFile?
    /// Taken while spooling; a part in memory is hashed by the worker that sends it.
    let spoolMD5: [UInt8]?
    /// The spooled part's CRC64NVME, taken with its MD5 when the upload sends checksums.
    var spoolCRC: CRC64NVME? = nil

    /// The bytes of a part held in memory (a stream's first parts, which are never spooled).
    var bytes: ArraySlice<UInt8> { buffer.filled }

    func giveBack(to pool: BufferPool<ByteBuffer>) { pool.give(buffer) }
}

/// Reads parts from one input on one thread, each into a slot of the pool (blocking while every slot is in
/// flight): in memory up to `share` bytes, into a spool file beyond, with the stream's SHA-256 taken in order.
final class PartReader {
    let source: FileReader
    let pool: BufferPool<ByteBuffer>
    let budget: MemoryBudget
    let streamDigest: Digest?
    /// Checksum spooled parts as they are written (a part in memory is checksummed by its worker).
    let checksums: Bool
    private var chunk: [UInt8] = []
    private static let chunkSize = 2 << 20

    init(source: FileReader, budget: MemoryBudget, streamDigest: Digest?, checksums: Bool = false) {
        self.source = source
        self.checksums = checksums
        self.budget = budget
        pool = BufferPool(count: budget.slots)
        self.streamDigest = streamDigest
    }

    /// Part `number`: `length` bytes at `offset` of a file, or the next `length` of a stream (fewer at its end).
    func read(number: Int, length: Int, offset: Int?) throws -> ReadPart {
        let buffer = pool.take()
        do {
            if budget.keepsInMemory(length) {
                buffer.count = try read(into: &buffer.bytes, count: length, at: offset)
                streamDigest?.update(buffer.filled)
                return ReadPart(number: number, count: buffer.count, buffer: buffer, spool: nil, spoolMD5: nil)
            }
            // The slot's memory goes back: the part lives on disk, and the budget counts only parts in memory.
            buffer.release()
            let md5 = Digest(.md5)
            var crc = CRC64NVME()
            let spool = try SpoolFile.make { append in
                var position = 0
                while position < length {
                    let wanted = min(Self.chunkSize, length - position)
                    let n = try read(into: &chunk, count: wanted, at: offset.map { $0 + position })
                    let bytes = chunk[..<n]
                    md5.update(bytes)
                    if checksums { crc.update(bytes) }
                    streamDigest?.update(bytes)
                    try append(bytes)
                    position += n
                    if n < wanted { break }
                }
            }
            return ReadPart(number: number, count: spool.count, buffer: buffer, spool: spool, spoolMD5: md5.finish(),
                            spoolCRC: checksums ? crc : nil)
        } catch {
            pool.give(buffer)
            throw error
        }
    }

    private func read(into bytes: inout [UInt8], count: Int, at offset: Int?) throws -> Int {
        if let offset { return try source.read(into: &bytes, count: count, at: offset) }
        return try source.read(into: &bytes, count: count)
    }
}

/// Sends parts of one multipart upload from the engine's workers and reports each to the shared state.
struct PartSender: Sendable {
    let store: ObjectStore
    let key: String
    let uploadID: String
    let url: StorageURL
    let options: UploadOptions
    let state: MultipartState

    func send(_ part: ReadPart) {
        guard !state.failed else { return }
        do {
            let md5: [UInt8]
            let crc: CRC64NVME?
            let answer: WrittenObject
            if let spool = part.spool, let spooledMD5 = part.spoolMD5 {
                md5 = spooledMD5
                crc = part.spoolCRC
                answer = try store.putPart(key, uploadID: uploadID, number: part.number, spool: spool, md5: md5, checksum: crc)
            } else {
                md5 = Digest.md5(part.bytes)
                crc = options.object.checksum == .crc64nvme ? CRC64NVME.checksum(part.bytes) : nil
                answer = try store.putPart(key, uploadID: uploadID, number: part.number, body: part.bytes, md5: md5,
                                           checksum: crc)
            }
            // A part encrypted with KMS (asked for, or the bucket's default) has an ETag that is no MD5: the
            // Content-MD5 the server checked stands alone, and the completion names the part by the ETag given.
            if options.object.etagIsMD5, answer.etagIsMD5, answer.etag != md5.hex {
                throw Failure.check("\(url): part \(part.number) was stored with ETag \(answer.etag), expected \(md5.hex)")
            }
            try options.catalog?.partStored(uploadID, number: part.number, size: part.count, md5: md5.hex)
            state.finish(part.number, md5: md5, size: part.count, checksum: crc,
                         storedETag: answer.etag.isEmpty || answer.etag == md5.hex ? nil : answer.etag)
            options.progress?.add(bytes: part.count, parts: 1)
        } catch {
            state.fail(error)
        }
    }
}

extension ObjectStore {
    /// Stores a spooled part. S3 reads it from the file as it sends; another store is handed the bytes in
    /// memory (its part interface takes bytes), so only S3 uploads keep the memory budget for spooled parts.
    func putPart(_ key: String, uploadID: String, number: Int, spool: SpoolFile, md5: [UInt8],
                 checksum: CRC64NVME?) throws -> WrittenObject {
        if let s3 = self as? S3Store {
            return try s3.client.uploadPart(bucket: s3.bucket, key: key, uploadID: uploadID, number: number, file: spool,
                                            md5: md5, headers: (s3.customerKey?.headers ?? []) + S3Store.checksumHeaders(checksum))
        }
        return try putPart(key, uploadID: uploadID, number: number, body: try spool.readAll()[...], md5: md5,
                           checksum: checksum)
    }
}
