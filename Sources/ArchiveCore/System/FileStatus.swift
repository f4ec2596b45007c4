import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// What `lstat`/`fstat` says of a file: what the archive records and what tells one file from another.
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case file, directory, symlink, fifo, socket, characterDevice, blockDevice, unknown }
    public var kind: Kind
    public var size: Int
    /// Permission bits and file type, as `st_mode`.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var mtimeSeconds: Int
    public var mtimeNanoseconds: Int
    public var ctimeSeconds: Int
    public var ctimeNanoseconds: Int
    public var device: UInt64
    public var inode: UInt64
    public var linkCount: Int

    /// Which file this is, whatever its name: the same (device, inode) is the same file.
    public var identity: FileIdentity { FileIdentity(device: device, inode: inode) }

    /// Seconds since 1970 with the fraction the file system keeps.
    public var mtime: Double { Double(mtimeSeconds) + Double(mtimeNanoseconds) / 1e9 }

    /// The same file as when it was scanned: same device and inode.
    public func isSameFile(as other: FileStatus) -> Bool { device == other.device && inode == other.inode }

    /// Unchanged since `other` was taken: same size, mtime and ctime.
    public func isUnchanged(since other: FileStatus) -> Bool {
        size == other.size && mtimeSeconds == other.mtimeSeconds && mtimeNanoseconds == other.mtimeNanoseconds
            && ctimeSeconds == other.ctimeSeconds && ctimeNanoseconds == other.ctimeNanoseconds
    }

    init(_ info: Stat) {
        let raw = info.rawValue
        switch raw.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        case S_IFIFO: kind = .fifo
        case S_IFSOCK: kind = .socket
        case S_IFCHR: kind = .characterDevice
        case S_IFBLK: kind = .blockDevice
        default: kind = .unknown
        }
        size = Int(raw.st_size)
        mode = raw.st_mode
        uid = raw.st_uid
        gid = raw.st_gid
        mtimeSeconds = raw.st_mtim.tv_sec
        mtimeNanoseconds = raw.st_mtim.tv_nsec
        ctimeSeconds = raw.st_ctim.tv_sec
        ctimeNanoseconds = raw.st_ctim.tv_nsec
        device = UInt64(raw.st_dev)
        inode = UInt64(raw.st_ino)
        linkCount = Int(raw.st_nlink)
    }

    /// The status of `path` itself (a symlink is described, not followed).
    public static func of(_ path: FilePath, followingSymlink: Bool = false) throws -> FileStatus {
        FileStatus(try path.stat(followTargetSymlink: followingSymlink))
    }

    /// The status of `path`, or nil when nothing is there.
    public static func ifExists(_ path: FilePath) throws -> FileStatus? {
        do { return try of(path) } catch Errno.noSuchFileOrDirectory { return nil }
    }

    /// The status of an open file.
    public static func of(_ descriptor: FileDescriptor) throws -> FileStatus {
        FileStatus(try descriptor.stat())
    }
}

/// A file's device and inode: what tells two names of one file, or one name that now holds another file.
public struct FileIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64
}
