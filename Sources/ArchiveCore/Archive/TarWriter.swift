import CArchive
import Foundation
import Synchronization

/// A libarchive failure, with libarchive's own words.
public struct ArchiveLibraryError: ReportableError {
    public let message: String
    public var exitStatus: ExitStatus { .ioError }
    public var description: String { message }
}

/// One tar entry to write: its path, what it is, and the scan's status (mode, owner, mtime; a file's size).
public struct TarHeader: Sendable {
    public enum Kind: Sendable { case file, directory, symlink(target: [UInt8]), hardlink(target: ArchivePath) }
    public var path: ArchivePath
    public var kind: Kind
    public var status: FileStatus
}

/// A buffer of tar bytes on their way out. A file's data is read straight into it (no copy from a read buffer);
/// then the writer thread checksums and writes it, and the hasher thread may still be taking a large file's
/// SHA-256 from the same memory. It goes back to its pool when the last of them lets go.
final class TarBuffer: @unchecked Sendable {
    let memory: UnsafeMutableRawBufferPointer
    /// Bytes of tar held; changed only by the thread filling the buffer, before it is handed on.
    var count = 0
    private let holders = Atomic<Int>(0)

    init(capacity: Int) { memory = .allocate(byteCount: capacity, alignment: 64) }
    deinit { memory.deallocate() }

    var filled: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: memory[..<count]) }
    var room: Int { memory.count - count }

    func hold() { holders.add(1, ordering: .relaxed) }

    /// Back to `pool` if this was the last holder.
    func letGo(to pool: BufferPool<TarBuffer>) {
        if holders.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { pool.give(self) }
    }
}

/// A file's bytes as written into the tar, held in their buffer until `letGo` (for a hash taken on another
/// thread).
struct TarChunk: ContiguousBytes, Sendable {
    fileprivate let buffer: TarBuffer
    fileprivate let range: Range<Int>
    fileprivate let pool: BufferPool<TarBuffer>

    var count: Int { range.count }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: buffer.memory[range]))
    }

    func letGo() { buffer.letGo(to: pool) }
}

/// Where finished tar bytes go: counted here, then checksummed (CRC64NVME) and written by a second thread, so that
/// the output overlaps the reading and per-file hashing on the first. The whole tar gets no SHA-256 of its own:
/// every file's bytes already have one, and a second SHA-256 of every byte was half of s3-archive's CPU time;
/// the CRC64NVME (an eighth of a SHA-256's cost) is what S3 keeps and a HEAD returns (DESIGN.md).
final class TarSink: @unchecked Sendable {
    private let output: ByteWriter
    private(set) var written = 0
    /// The tar's CRC64NVME, taken by the writer thread; read once `finish` has joined it.
    private(set) var crc = CRC64NVME()
    let pool: BufferPool<TarBuffer>
    private let queue = HandOff<TarBuffer>()
    private var current: TarBuffer
    private var writer: JoinableThread?
    private let writeError = Mutex<Error?>(nil)
    /// An error from the writer thread, or from the callback, for libarchive's caller to see.
    var failure: Error? {
        get { writeError.withLock { $0 } }
        set { writeError.withLock { if $0 == nil { $0 = newValue } } }
    }

    init(output: ByteWriter) {
        self.output = output
        // Measured on bench-archive's 1 GB session: six 2 MiB buffers keep the hasher and the writer busy.
        pool = BufferPool((0..<6).map { _ in TarBuffer(capacity: 2 << 20) })
        current = pool.take()
        current.hold()
        writer = JoinableThread(name: "archive-writer") { [self] in drain() }
    }

    private func drain() {
        while let buffer = queue.pop() {
            if failure == nil {
                crc.update(buffer.filled)
                do { try output.write(buffer.filled) } catch { failure = error }
            }
            buffer.letGo(to: pool)
        }
    }

    /// Hands the current buffer to the writer thread and starts the next.
    private func send() {
        queue.push(current)
        current = pool.take()
        current.count = 0
        current.hold()
    }

    /// Free memory at the end of the tar, for up to `count` bytes of a file to be read into before they are
    /// written through libarchive, which hands the same memory back to `accept`.
    func room(upTo count: Int) -> (buffer: TarBuffer, memory: UnsafeMutableRawBufferPointer) {
        if current.room == 0 { send() }
        let start = current.count
        return (current, UnsafeMutableRawBufferPointer(rebasing: current.memory[start..<start + min(count, current.room)]))
    }

    func accept(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure { throw failure }
        written += bytes.count
        // Bytes read into `room` are in place already: counted, not copied.
        if let start = bytes.baseAddress, start == UnsafeRawPointer(current.memory.baseAddress! + current.count),
           bytes.count <= current.room {
            current.count += bytes.count
            if current.room == 0 { send() }
            return
        }
        var rest = bytes
        while !rest.isEmpty {
            let n = min(current.room, rest.count)
            UnsafeMutableRawBufferPointer(rebasing: current.memory[current.count..<current.count + n])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[..<n]))
            current.count += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if current.room == 0 { send() }
        }
    }

    /// Sends what is left, waits for the writer thread, and returns the CRC64NVME of everything written.
    func finish() throws -> CRC64NVME {
        if current.count > 0 { send() }
        queue.close()
        // Joined, not signalled: the thread's OpenSSL clean-up must be over before the process can exit.
        writer?.join()
        writer = nil
        if let failure { throw failure }
        return crc
    }
}

/// A POSIX pax tar being written through libarchive. Owns the libarchive handle; the only user of CArchive.
final class TarWriter {
    private let handle: OpaquePointer
    private let sink: TarSink
    private let entry: OpaquePointer

    /// Bytes of tar written so far: after `writeHeader`, the offset at which the entry's data begins.
    var offset: Int { sink.written }

    init(sink: TarSink) throws {
        self.sink = sink
        // libarchive converts names through the C locale; under plain "C" it cannot hold UTF-8 names. Names go in
        // through the locale (copy_pathname), not the _utf8 setters, which fold decomposed Unicode (NFD) to NFC
        // and would make two distinct names one.
        CLocale.ensureUTF8CharacterType()
        guard let a = archive_write_new(), let e = archive_entry_new() else {
            throw ArchiveLibraryError(message: "libarchive: out of memory")
        }
        handle = a
        entry = e
        // pax_restricted: plain ustar headers where they suffice, pax extensions only for long or UTF-8 names,
        // big sizes and sub-second times — what GNU tar and bsdtar both read.
        try check(archive_write_set_format_pax_restricted(handle))
        // Unblocked output: each header reaches the sink at once, so offsets are exact.
        try check(archive_write_set_bytes_per_block(handle, 0))
        let context = Unmanaged.passUnretained(sink).toOpaque()
        try check(archive_write_open2(handle, context, nil, { _, context, buffer, length in
            let sink = Unmanaged<TarSink>.fromOpaque(context!).takeUnretainedValue()
            do {
                try sink.accept(UnsafeRawBufferPointer(start: buffer, count: length))
                return la_ssize_t(length)
            } catch {
                sink.failure = error
                return -1
            }
        }, nil, nil))
    }

    deinit {
        archive_entry_free(entry)
        archive_write_free(handle)
    }

    func writeHeader(_ header: TarHeader) throws {
        archive_entry_clear(entry)
        withCString(header.path.bytes) { archive_entry_copy_pathname(entry, $0) }
        let status = header.status
        archive_entry_set_perm(entry, mode_t(status.mode & 0o7777))
        archive_entry_set_uid(entry, la_int64_t(status.uid))
        archive_entry_set_gid(entry, la_int64_t(status.gid))
        archive_entry_set_mtime(entry, time_t(status.mtimeSeconds), status.mtimeNanoseconds)
        var namesAreUTF8 = header.path.isUTF8
        switch header.kind {
        case .file:
            archive_entry_set_filetype(entry, 0o100000)
            archive_entry_set_size(entry, la_int64_t(status.size))
        case .directory:
            archive_entry_set_filetype(entry, 0o040000)
            archive_entry_set_size(entry, 0)
        case .symlink(let target):
            archive_entry_set_filetype(entry, 0o120000)
            withCString(target) { archive_entry_copy_symlink(entry, $0) }
            archive_entry_set_size(entry, 0)
            namesAreUTF8 = namesAreUTF8 && String(validating: target, as: UTF8.self) != nil
        case .hardlink(let target):
            archive_entry_set_filetype(entry, 0o100000)
            withCString(target.bytes) { archive_entry_copy_hardlink(entry, $0) }
            archive_entry_set_size(entry, 0)
            namesAreUTF8 = namesAreUTF8 && target.isUTF8
        }
        let code = archive_write_header(handle, entry)
        // A name that is not UTF-8 cannot be translated for the pax header: libarchive then stores its exact
        // bytes (hdrcharset=BINARY, which GNU tar and bsdtar read back as they are) and warns. That is what we
        // want; any other warning still fails.
        if code == ARCHIVE_WARN, !namesAreUTF8, sink.failure == nil { return }
        try check(code)
    }

    /// Hands libarchive a NUL-terminated copy of `bytes`.
    private func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }

    /// Reads up to `count` of the current entry's data from `reader` straight into the tar's output buffer and
    /// writes them (no bytes copied); returns them, held for a hash until `letGo` when `held`. Fewer bytes (none
    /// at all) mean the file ended early.
    func writeData(from reader: FileReader, upTo count: Int, held: Bool) throws -> TarChunk {
        let (buffer, memory) = sink.room(upTo: count)
        let n = try reader.read(into: memory)
        let chunk = TarChunk(buffer: buffer, range: buffer.count..<buffer.count + n, pool: sink.pool)
        guard n > 0 else { return chunk }
        // Held before libarchive sees it: the writer thread may send the buffer off and let go of it at once.
        if held { buffer.hold() }
        let written = archive_write_data(handle, memory.baseAddress, n)
        if written != n {
            if held { chunk.letGo() }
            try check(ARCHIVE_FATAL)
        }
        return chunk
    }

    /// Writes the current entry's next data bytes (copied into the tar's buffer).
    func writeData(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        let written = bytes.withUnsafeBytes { archive_write_data(handle, $0.baseAddress, $0.count) }
        if written != bytes.count { try check(ARCHIVE_FATAL) }
    }

    /// Writes the end-of-archive blocks, flushes everything, and returns the tar's CRC64NVME.
    func finish() throws -> CRC64NVME {
        try check(archive_write_close(handle))
        return try sink.finish()
    }

    private func check(_ code: Int32) throws {
        guard code < ARCHIVE_OK else { return }
        if let failure = sink.failure { throw failure }
        // Warnings (ARCHIVE_WARN) mean something was not stored as asked: an archive must be exact, so they fail.
        let message = archive_error_string(handle).map { String(cString: $0) } ?? "error \(code)"
        throw ArchiveLibraryError(message: "libarchive: \(message)")
    }
}
