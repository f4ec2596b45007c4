import Foundation
import Synchronization
import SystemPackage

/// Reads a session's small files ahead, in archive order, on a thread of its own: opening, reading, checking
/// and hashing a file of a few hundred bytes costs more than writing it into the tar, so with many small files
/// (event logs, spectra) the two halves run on two cores. The archiving thread takes each file with `next()`
/// when it reaches it. Files with more than one link, and large files, are read by the archiving thread itself.
final class SmallFileReader: Sendable {
    /// A file read whole, with its SHA-256.
    struct File: Sendable {
        let bytes: [UInt8]
        let sha256: String
    }

    /// Files are handed over in batches (a hand-over per file of a few hundred bytes would cost more than its
    /// read), of up to this many files or `batchBytes`; at most `batches` wait, which bounds the memory.
    private static let batchFiles = 32
    private static let batchBytes = 1 << 20
    private static let batches = 2
    private let queue = HandOff<[Result<File, any Error>]>(capacity: batches)
    private let stopping = Atomic<Bool>(false)
    private let thread = Mutex<JoinableThread?>(nil)
    /// The batch being taken from, by the archiving thread (a lock never contended).
    private let taken = Mutex<(batch: [Result<File, any Error>], next: Int)>(([], 0))

    /// Whether a scanned entry is read here.
    static func reads(_ status: FileStatus) -> Bool {
        status.kind == .file && status.linkCount == 1 && status.size <= FileHasher.inlineLimit
    }

    /// Starts reading, in order, those of `entries` (relative to `root`) that `reads` takes.
    init(_ entries: [ScannedEntry], root: FilePath) {
        let started = JoinableThread(name: "archive-reader") { [self] in
            let digest = Digest(.sha256)
            var buffer: [UInt8] = []
            var batch: [Result<File, any Error>] = []
            var bytes = 0
            for entry in entries where Self.reads(entry.status) {
                if stopping.load(ordering: .relaxed) { break }
                let path = root.appending(bytes: entry.relativePath.bytes)
                let file = Result { try Self.read(path, scanned: entry.status, digest: digest, buffer: &buffer) }
                batch.append(file)
                bytes += entry.status.size
                if batch.count == Self.batchFiles || bytes >= Self.batchBytes {
                    queue.push(batch)
                    batch = []
                    bytes = 0
                }
                // The archive stops at the first file that cannot be read: nothing after it is needed.
                if case .failure = file { break }
            }
            if !batch.isEmpty { queue.push(batch) }
            queue.close()
        }
        thread.withLock { $0 = started }
    }

    /// The next file `reads` takes, in the order of the entries: its bytes and hash, or why it could not be read.
    func next() throws -> File {
        let file: Result<File, any Error>? = taken.withLock { taken in
            if taken.next == taken.batch.count {
                guard let batch = queue.pop() else { return nil }
                taken = (batch, 0)
            }
            defer { taken.next += 1 }
            return taken.batch[taken.next]
        }
        guard let file else { throw Failure(.software, "s3-archive: the file reader ended early") }
        return try file.get()
    }

    /// Stops reading ahead and waits for the thread (at the end, or when the archive fails half-way).
    func close() {
        guard let running = thread.withLock({ t in defer { t = nil }; return t }) else { return }
        stopping.store(true, ordering: .relaxed)
        while queue.pop() != nil {}
        running.join()
    }

    deinit { close() }

    /// The whole file, which must be the one scanned and hold its scanned size throughout (as `copyFile` checks).
    private static func read(_ path: FilePath, scanned: FileStatus, digest: Digest, buffer: inout [UInt8]) throws -> File {
        let reader = try FileReader(scanned: path, as: scanned)
        let n = try reader.read(into: &buffer, count: scanned.size + 1)
        let now = try reader.currentStatus()
        guard n == scanned.size, now.isUnchanged(since: scanned) else {
            throw stillBeingWritten(path, scanned: scanned, now: now)
        }
        let bytes = Array(buffer[..<n])
        digest.update(bytes)
        return File(bytes: bytes, sha256: digest.finish().hex)
    }
}
