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

/// Where finished tar bytes go: counted here, then checksummed (CRC64NVME) and written by a second thread, so that
/// the output overlaps the reading and per-file hashing on the first. The whole tar gets no SHA-256 of its own:
/// every file's bytes already have one, and a second SHA-256 of every byte was half of s3-archive's CPU time;
/// the CRC64NVME (an eighth of a SHA-256's cost) is what S3 keeps and a HEAD returns (DESIGN.md).
final class TarSink: @unchecked Sendable {
    private let output: ByteWriter
    private(set) var written = 0
    /// The tar's CRC64NVME, taken by the writer thread; read once `finish` has joined it.
    private(set) var crc = CRC64NVME()
    private let capacity = 4 << 20
    private let pool: BufferPool
    private let queue = HandOff<ByteBuffer>()
    private var current: ByteBuffer
    private var writer: JoinableThread?
    private let writeError = Mutex<Error?>(nil)
    /// An error from the writer thread, or from the callback, for libarchive's caller to see.
    var failure: Error? {
        get { writeError.withLock { $0 } }
        set { writeError.withLock { if $0 == nil { $0 = newValue } } }
    }

    init(output: ByteWriter) {
        self.output = output
        pool = BufferPool(count: 3, capacity: capacity)
        current = pool.take()
        writer = JoinableThread(name: "archive-writer") { [self] in drain() }
    }

    private func drain() {
        while let buffer = queue.pop() {
            if failure == nil {
                crc.update(buffer.bytes)
                do { try buffer.bytes.withUnsafeBytes { try output.write($0) } } catch { failure = error }
            }
            buffer.bytes.removeAll(keepingCapacity: true)
            pool.give(buffer)
        }
    }

    func accept(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure { throw failure }
        written += bytes.count
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = min(capacity - current.bytes.count, rest.count)
            current.bytes.append(contentsOf: rest.prefix(n))
            rest = rest.dropFirst(n)
            if current.bytes.count == capacity {
                queue.push(current)
                current = pool.take()
            }
        }
    }

    /// Sends what is left, waits for the writer thread, and returns the CRC64NVME of everything written.
    func finish() throws -> CRC64NVME {
        if !current.bytes.isEmpty { queue.push(current) }
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

    func writeData(_ bytes: ArraySlice<UInt8>) throws {
        try bytes.withUnsafeBytes { raw in
            let n = archive_write_data(handle, raw.baseAddress, raw.count)
            if n < 0 || n != raw.count { try check(ARCHIVE_FATAL) }
        }
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
