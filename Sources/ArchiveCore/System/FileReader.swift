import Foundation
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A file open for reading, sequentially or at offsets. Standard input is one too (path "-").
public final class FileReader: @unchecked Sendable {
    // @unchecked: the descriptor is immutable after init; reads at offsets (pread) are safe from several threads,
    // and sequential reads are made by one thread at a time by every caller.

    /// The SHA-256 of a whole file, or nil when there is no file at `path`.
    public static func sha256(of path: String) throws -> String? {
        try sha256(of: FilePath(path))
    }

    /// The SHA-256 of a whole regular file, or nil when there is none at `path`. A symlink, a FIFO or a device
    /// there is not followed or read (it would never end, or lead outside): it has no hash, like a missing file.
    public static func sha256(of path: FilePath) throws -> String? {
        guard let reader = try regularFile(at: path) else { return nil }
        guard let size = reader.size else { return nil }
        let digest = Digest(.sha256)
        var buffer: [UInt8] = []
        // A buffer no larger than the file: restoring 100,000 small files must not clear 4 MiB for each.
        let chunk = min(4 << 20, size + 1)
        while true {
            let n = try reader.read(into: &buffer, count: chunk)
            if n == 0 { break }
            digest.update(buffer[..<n])
        }
        return digest.finish().hex
    }

    /// The regular file at `path`, open for reading; nil when nothing is there or something else is: a symlink
    /// is not followed, and a FIFO or a device is never opened (a FIFO would block for ever, a device could be
    /// /dev/zero, or a tape that rewinds when opened). What is opened is checked again through its descriptor.
    public static func regularFile(at path: FilePath) throws -> FileReader? {
        guard let status = try? FileStatus.ifExists(path), status.kind == .file else { return nil }
        let reader: FileReader
        do { reader = try FileReader(path: path, noFollow: true) } catch let error as LocalFileError
            where [.noSuchFileOrDirectory, .tooManySymbolicLinkLevels, .notDirectory].contains(error.errno) {
            return nil
        }
        guard reader.status.kind == .file, reader.status.isSameFile(as: status) else { return nil }
        return reader
    }

    public static func regularFile(at path: String) throws -> FileReader? { try regularFile(at: FilePath(path)) }

    /// The path as given, for messages.
    public let path: String
    private let descriptor: FileDescriptor
    private let ownsDescriptor: Bool
    /// Size in bytes for regular files; nil for pipes and terminals.
    public let size: Int?
    public let modified: Date?
    /// What `fstat` said when the file was opened.
    public let status: FileStatus

    public convenience init(path: String) throws {
        if path == "-" {
            try self.init(descriptor: .standardInput, path: path, owned: false)
        } else {
            try self.init(path: FilePath(path), noFollow: false, name: path)
        }
    }

    /// Opens `path`; with `noFollow`, a symlink at the last component is refused (ELOOP), not followed, and a
    /// FIFO does not block the open.
    public convenience init(path: FilePath, noFollow: Bool, name: String? = nil) throws {
        var options: FileDescriptor.OpenOptions = [.closeOnExec]
        if noFollow { options.formUnion([.noFollow, .nonBlocking]) }
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(path, .readOnly, options: options)
        } catch {
            throw LocalFileError(path: name ?? path.displayString, errno: error as? Errno ?? .ioError, action: "open", isInput: true)
        }
        try self.init(descriptor: descriptor, path: name ?? path.displayString, owned: true)
    }

    /// Opens a file found by a scan, refusing anything that is no longer that file: a symlink swapped in is
    /// not followed (O_NOFOLLOW), and another file put in its place (device or inode differ) is refused.
    public convenience init(scanned path: FilePath, as scanned: FileStatus) throws {
        let replaced = Failure(.tryAgainLater, "\(path.displayString): the file was replaced or removed after the session was scanned: archive the session again once it is stable")
        do {
            try self.init(path: path, noFollow: true)
        } catch let error as LocalFileError where [.tooManySymbolicLinkLevels, .noSuchFileOrDirectory].contains(error.errno) {
            throw replaced
        }
        guard status.kind == .file, status.isSameFile(as: scanned) else { throw replaced }
        guard status.isUnchanged(since: scanned) else {
            throw Failure(.tryAgainLater, "\(path.displayString): the file changed after the session was scanned: is it still being written? try again later")
        }
    }

    /// Reads an open descriptor (a pipe, say); it is closed with the reader only when `owned`.
    public convenience init(fileDescriptor: Int32, path: String, owned: Bool = false) throws {
        try self.init(descriptor: FileDescriptor(rawValue: fileDescriptor), path: path, owned: owned)
    }

    init(descriptor: FileDescriptor, path: String, owned: Bool) throws {
        self.path = path
        self.descriptor = descriptor
        ownsDescriptor = owned
        do {
            status = try FileStatus.of(descriptor)
        } catch {
            if owned { try? descriptor.close() }
            throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: "stat", isInput: true)
        }
        if status.kind == .directory {
            if owned { try? descriptor.close() }
            throw LocalFileError(path: path, errno: .isDirectory, action: "read", isInput: true)
        }
        let regular = status.kind == .file
        size = regular ? status.size : nil
        modified = regular ? Date(timeIntervalSince1970: status.mtime) : nil
        // A larger read-ahead pays off on large files only: below the kernel's default window it changes nothing
        // but costs a system call per file, a tenth of s3-archive's calls on a session of small files.
        if regular, status.size > 1 << 20 { _ = posix_fadvise(descriptor.rawValue, 0, 0, POSIX_FADV_SEQUENTIAL) }
    }

    // A read-only descriptor loses nothing when its close fails.
    deinit { if ownsDescriptor { try? descriptor.close() } }

    /// Path, size and mtime of a regular file: what tells a later run that it is the same file.
    public var fingerprint: SourceFingerprint? {
        guard let size, let modified, path != "-" else { return nil }
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return SourceFingerprint(path: absolute, size: size, modified: modified.timeIntervalSince1970)
    }

    /// The file's status now, through the open descriptor (for checks that it did not change while read).
    public func currentStatus() throws -> FileStatus {
        do { return try FileStatus.of(descriptor) } catch {
            throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: "stat", isInput: false)
        }
    }

    /// Reads until `buffer` holds `count` bytes or the input ends; returns how many it holds.
    public func read(into buffer: inout [UInt8], count: Int) throws -> Int {
        try fill(&buffer, count: count) { raw in try descriptor.read(into: raw) }
    }

    /// Everything from here to the end (small inputs: a list, records, an index).
    public func readToEnd() throws -> [UInt8] {
        var all: [UInt8] = []
        var buffer: [UInt8] = []
        while true {
            let n = try read(into: &buffer, count: 1 << 16)
            if n == 0 { return all }
            all += buffer[..<n]
        }
    }

    /// Reads up to `count` bytes at `offset` (positioned reads: safe from several threads at once).
    public func read(into buffer: inout [UInt8], count: Int, at offset: Int) throws -> Int {
        var position = Int64(offset)
        return try fill(&buffer, count: count) { raw in
            let n = try descriptor.read(fromAbsoluteOffset: position, into: raw)
            position += Int64(n)
            return n
        }
    }

    /// Reads until `memory` is full or the input ends; returns how many bytes it holds (s3-archive reads files
    /// straight into the tar's own buffers this way, sparing a copy of every byte).
    public func read(into memory: UnsafeMutableRawBufferPointer) throws -> Int {
        try fill(memory) { raw in try descriptor.read(into: raw) }
    }

    private func fill(_ buffer: inout [UInt8], count: Int, _ readSome: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
        if buffer.count < count { buffer = [UInt8](repeating: 0, count: count) }
        return try buffer.withUnsafeMutableBytes { raw in
            try fill(UnsafeMutableRawBufferPointer(rebasing: raw[..<count]), readSome)
        }
    }

    private func fill(_ memory: UnsafeMutableRawBufferPointer, _ readSome: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
        var filled = 0
        do {
            while filled < memory.count {
                let n = try readSome(UnsafeMutableRawBufferPointer(rebasing: memory[filled...]))
                if n == 0 { break }
                filled += n
            }
        } catch {
            throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: "read", isInput: false)
        }
        return filled
    }
}
