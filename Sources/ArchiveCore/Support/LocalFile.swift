import CShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call on a local file, with the path and the system's reason.
public struct LocalFileError: ReportableError {
    public let path: String
    public let errno: Int32
    public let action: String
    /// Opening something the user named: missing or unreadable input is exit 66, not an I/O fault.
    public let isInput: Bool

    public var exitStatus: ExitStatus {
        isInput && [ENOENT, EACCES, EISDIR, ENOTDIR, ELOOP].contains(errno) ? .noInput : .ioError
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        if isInput && errno == ENOENT { return "\(path): no such file: check the path" }
        if isInput && errno == EACCES { return "\(path): permission denied: make it readable (chmod u+r)" }
        if isInput && errno == EISDIR { return "\(path): is a directory: name a file" }
        return "\(path): cannot \(action): \(reason)"
    }
}

/// A file open for reading, sequentially or at offsets. Standard input is one too (path "-").
public final class FileReader: @unchecked Sendable {
    /// The SHA-256 of a whole file, or nil when there is no file at `path`.
    public static func sha256(of path: String) throws -> String? {
        let reader: FileReader
        do { reader = try FileReader(path: path) } catch let error as LocalFileError where error.errno == ENOENT {
            return nil
        }
        let digest = Digest(.sha256)
        var buffer: [UInt8] = []
        while true {
            let n = try reader.read(into: &buffer, count: 4 << 20)
            if n == 0 { break }
            digest.update(buffer[..<n])
        }
        return digest.finish().hex
    }

    public let path: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    /// Size in bytes for regular files; nil for pipes and terminals.
    public let size: Int?
    public let modified: Date?

    public convenience init(path: String) throws {
        if path == "-" {
            try self.init(fileDescriptor: STDIN_FILENO, path: path, owned: false)
        } else {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw LocalFileError(path: path, errno: errno, action: "open", isInput: true) }
            try self.init(fileDescriptor: fd, path: path, owned: true)
        }
    }

    /// Reads an open descriptor (a pipe, say); it is closed with the reader only when `owned`.
    public init(fileDescriptor: Int32, path: String, owned: Bool = false) throws {
        self.path = path
        fd = fileDescriptor
        ownsDescriptor = owned
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LocalFileError(path: path, errno: errno, action: "stat", isInput: true) }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            if ownsDescriptor { close(fd) }
            throw LocalFileError(path: path, errno: EISDIR, action: "read", isInput: true)
        }
        let regular = (info.st_mode & S_IFMT) == S_IFREG
        size = regular ? Int(info.st_size) : nil
        modified = regular ? Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9) : nil
        if regular { posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) }
    }

    deinit { if ownsDescriptor { close(fd) } }

    /// Path, size and mtime of a regular file: what tells a later run that it is the same file.
    public var fingerprint: SourceFingerprint? {
        guard let size, let modified, path != "-" else { return nil }
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return SourceFingerprint(path: absolute, size: size, modified: modified.timeIntervalSince1970)
    }

    /// Reads until `buffer` holds `count` bytes or the input ends; returns how many it holds.
    public func read(into buffer: inout [UInt8], count: Int) throws -> Int {
        if buffer.count < count { buffer = [UInt8](repeating: 0, count: count) }
        var filled = 0
        try buffer.withUnsafeMutableBytes { raw in
            while filled < count {
                let n = Glibc.read(fd, raw.baseAddress! + filled, count - filled)
                if n == 0 { break }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw LocalFileError(path: path, errno: errno, action: "read", isInput: false)
                }
                filled += n
            }
        }
        return filled
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
        if buffer.count < count { buffer = [UInt8](repeating: 0, count: count) }
        var filled = 0
        try buffer.withUnsafeMutableBytes { raw in
            while filled < count {
                let n = pread(fd, raw.baseAddress! + filled, count - filled, off_t(offset + filled))
                if n == 0 { break }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw LocalFileError(path: path, errno: errno, action: "read", isInput: false)
                }
                filled += n
            }
        }
        return filled
    }
}

/// Sets a path's permission bits and modification time (a folder's, after its files are in place).
public func setAttributes(path: String, mode: UInt32?, mtime: Double?) {
    if let mode { chmod(path, mode_t(mode & 0o7777)) }
    if let mtime {
        let seconds = mtime.rounded(.down)
        let nanoseconds = Int((mtime - seconds) * 1e9)
        var times = [timespec(tv_sec: time_t(seconds), tv_nsec: nanoseconds),
                     timespec(tv_sec: time_t(seconds), tv_nsec: nanoseconds)]
        utimensat(AT_FDCWD, path, &times, 0)
    }
}

/// Flushes everything written to the file system that holds `path` (once, after many unsynced commits).
public func syncFileSystem(containing path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    s3a_syncfs(fd)
    close(fd)
}

/// Somewhere bytes can be written: a file being made, or an inherited descriptor such as standard output.
public protocol ByteWriter: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// Writes to a descriptor the process already has open (standard output), retrying short writes.
public final class DescriptorWriter: ByteWriter {
    let fd: Int32
    let name: String

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    public static var standardOutput: DescriptorWriter { DescriptorWriter(fd: STDOUT_FILENO, name: "standard output") }

    /// True when the descriptor is a terminal, where binary data must not go.
    public var isTerminal: Bool { isatty(fd) == 1 }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeFully(fd, bytes, name: name)
    }
}

func writeFully(_ fd: Int32, _ raw: UnsafeRawBufferPointer, name: String) throws {
    var done = 0
    while done < raw.count {
        let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            throw LocalFileError(path: name, errno: errno, action: "write", isInput: false)
        }
        done += n
    }
}

/// Writes a file under a temporary name beside its target and renames it into place only when complete,
/// so a half-written file never sits under the real name.
public final class AtomicFileWriter: ByteWriter {
    public let path: String
    private let temporaryPath: String
    private var fd: Int32
    private var finished = false

    public init(path: String, createDirectories: Bool = true) throws {
        self.path = path
        let directory = Paths.parent(path)
        if createDirectories, !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw LocalFileError(path: directory, errno: EACCES, action: "create the directory", isInput: false)
            }
        }
        let name = Paths.name(path)
        temporaryPath = (directory.isEmpty ? "" : directory + "/") + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LocalFileError(path: path, errno: errno, action: "create", isInput: false) }
    }

    deinit {
        if !finished {
            close(fd)
            unlink(temporaryPath)
        }
    }

    public func write<Bytes: ContiguousBytes>(_ bytes: Bytes) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeFully(fd, bytes, name: path)
    }

    /// The bytes written so far, read back (for checks that need a second look before the rename).
    public func readBack() throws -> FileReader { try FileReader(path: temporaryPath) }

    /// Sets permissions and modification time before the file takes its real name.
    public func setAttributes(mode: UInt32?, mtime: Double?) {
        if let mode { fchmod(fd, mode_t(mode & 0o7777)) }
        if let mtime {
            let seconds = mtime.rounded(.down)
            var times = [timespec(tv_sec: time_t(seconds), tv_nsec: Int((mtime - seconds) * 1e9)),
                         timespec(tv_sec: time_t(seconds), tv_nsec: Int((mtime - seconds) * 1e9))]
            futimens(fd, &times)
        }
    }

    /// Drops the temporary file: nothing appears under the real name.
    public func discard() {
        guard !finished else { return }
        close(fd)
        unlink(temporaryPath)
        finished = true
    }

    /// Flushes to disk and gives the file its real name.
    /// `durable: false` leaves the flush to the caller (one `syncFileSystem` after many files): a restore checks
    /// every file again on its next run, so a crash costs a re-download, not a wrong file.
    public func commit(durable: Bool = true) throws {
        if durable {
            guard fsync(fd) == 0 else { throw LocalFileError(path: path, errno: errno, action: "sync", isInput: false) }
        }
        close(fd)
        finished = true
        guard rename(temporaryPath, path) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw LocalFileError(path: path, errno: code, action: "rename into place", isInput: false)
        }
    }
}
