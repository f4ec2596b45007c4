import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A file whose bytes are locks: each thing to lock is a one-byte range at its own offset, taken through one
/// descriptor with Linux's open-file-description locks. Thousands of things cost one descriptor and no files
/// (flock(2) would need a file, and a descriptor, for each); the kernel releases them all when the process
/// ends, however it ends, so a killed run never leaves a lock behind. Another process locking the same offset
/// waits; locks taken through this one descriptor never block each other.
public final class FileLock: Sendable {
    public let path: String
    private let descriptor: FileDescriptor

    /// <fcntl.h> defines these for Linux only under _GNU_SOURCE, which Swift's Glibc module does not set; the
    /// values are the same on every Linux architecture.
    private static let setLock: Int32 = 37    // F_OFD_SETLK
    private static let waitLock: Int32 = 38   // F_OFD_SETLKW

    /// Opens (creating it when missing) the lock file at `path`.
    public init(path: String) throws {
        self.path = path
        do {
            descriptor = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .closeOnExec],
                                                 permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch let errno as Errno {
            throw LocalFileError(path: path, errno: errno, action: "open the lock file", isInput: false)
        }
    }

    /// Takes the lock at `offset` unless another process holds it; true when taken.
    public func tryLock(at offset: Int64) throws -> Bool {
        try change(at: offset, command: Self.setLock)
    }

    /// Takes the lock at `offset`, waiting for as long as another process holds it.
    public func lock(at offset: Int64) throws {
        _ = try change(at: offset, command: Self.waitLock)
    }

    /// Takes every byte of the file at once, unless another process holds one; true when taken.
    public func tryLockAll() throws -> Bool {
        try change(at: 0, length: 0, command: Self.setLock)
    }

    /// Takes every byte of the file at once, waiting while another process holds any.
    public func lockAll() throws {
        _ = try change(at: 0, length: 0, command: Self.waitLock)
    }

    /// Releases every lock and closes the file.
    public func close() {
        try? descriptor.close()
    }

    /// False when another process holds the byte (F_OFD_SETLK only: F_OFD_SETLKW waits instead).
    /// A `length` of 0 is every byte from `offset` on, as fcntl(2) has it.
    private func change(at offset: Int64, length: Int64 = 1, command: Int32) throws -> Bool {
        var range = flock()
        range.l_type = Int16(F_WRLCK)
        range.l_whence = Int16(SEEK_SET)
        range.l_start = off_t(offset)
        range.l_len = off_t(length)
        range.l_pid = 0   // open-file-description locks require it
        do {
            try Errno.check { withUnsafeMutablePointer(to: &range) { fcntl(descriptor.rawValue, command, $0) } }
            return true
        } catch let errno as Errno where errno == .resourceTemporarilyUnavailable || errno == .permissionDenied {
            return false
        } catch let errno as Errno {
            throw LocalFileError(path: path, errno: errno, action: "lock", isInput: false)
        }
    }
}
