import CShims
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// One name in a directory, as bytes, with the type `readdir` gives when the file system keeps it.
public struct DirectoryEntry: Sendable {
    public var name: [UInt8]
    /// nil when the file system does not say (DT_UNKNOWN): ask `FileStatus`.
    public var kind: FileStatus.Kind?
}

/// Directories: listing (names as bytes, every error reported), creating, and flushing.
public enum Directory {
    /// Every name in `path` but `.` and `..`, in the order the file system gives. A failure of `readdir` part way
    /// or of `closedir` is an error, not a shorter list.
    public static func entries(of path: FilePath) throws -> [DirectoryEntry] {
        let handle: OpaquePointer? = path.withPlatformString { opendir($0) }
        guard let handle else { throw Errno(rawValue: Glibc.errno) }
        var result: [DirectoryEntry] = []
        var failure: Errno?
        while true {
            Glibc.errno = 0
            guard let item = readdir(handle) else {
                if Glibc.errno != 0 { failure = Errno(rawValue: Glibc.errno) }
                break
            }
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            result.append(DirectoryEntry(name: name, kind: kind(ofDirectoryEntryType: item.pointee.d_type)))
        }
        if closedir(handle) != 0, failure == nil { failure = Errno(rawValue: Glibc.errno) }
        if let failure { throw failure }
        return result
    }

    private static func kind(ofDirectoryEntryType type: UInt8) -> FileStatus.Kind? {
        switch Int32(type) {
        case Int32(DT_REG): return .file
        case Int32(DT_DIR): return .directory
        case Int32(DT_LNK): return .symlink
        case Int32(DT_FIFO): return .fifo
        case Int32(DT_SOCK): return .socket
        case Int32(DT_CHR): return .characterDevice
        case Int32(DT_BLK): return .blockDevice
        default: return nil
        }
    }

    /// `mkdir -p`: creates `path` and its missing parents (mode 0777 less the umask), leaving existing folders.
    public static func create(_ path: FilePath) throws {
        if let status = try FileStatus.ifExists(path) {
            if status.kind == .directory { return }
            throw Errno.fileExists
        }
        var parent = path
        parent.removeLastComponent()
        if !parent.isEmpty, parent != path { try create(parent) }
        do {
            try Errno.check { path.withPlatformString { mkdir($0, 0o777) } }
        } catch Errno.fileExists {
            // Another thread or process made it meanwhile.
            if (try? FileStatus.of(path))?.kind == .directory { return }
            throw Errno.fileExists
        }
    }

    /// Flushes the directory itself, so that names renamed into it survive a crash.
    public static func sync(_ path: FilePath) throws {
        let descriptor = try FileDescriptor.open(path, .readOnly, options: [.directory, .closeOnExec])
        _ = try descriptor.closing { try Errno.check { fsync(descriptor.rawValue) } }
    }

    /// Opens the file system holding `path` for one or more later flushes. Opened before the files are written:
    /// Linux's syncfs reports the write-back errors that happened since its descriptor was opened, not before.
    public static func fileSystem(containing path: FilePath) throws -> FileSystemHandle {
        FileSystemHandle(descriptor: try FileDescriptor.open(path, .readOnly, options: [.directory, .closeOnExec]))
    }
}

/// A file system held open so that `flush` reports every write-back error since it was opened (or since the
/// last flush): one checked syncfs makes many unsynced files durable, as an fsync of each would, far cheaper.
/// Kept open for the run.
public struct FileSystemHandle: Sendable {
    let descriptor: FileDescriptor

    public func flush() throws {
        try Errno.check { s3a_syncfs(descriptor.rawValue) }
    }
}
