import Foundation
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Names in the file system: remove, rename, link, read a link, check access.
public enum FileOperations {
    public static func remove(_ path: FilePath) throws {
        try Errno.check { path.withPlatformString { unlink($0) } }
    }

    public static func rename(_ from: FilePath, to: FilePath) throws {
        try Errno.check { from.withPlatformString { a in to.withPlatformString { b in Glibc.rename(a, b) } } }
    }

    /// Makes a symbolic link at `path` holding `target`'s bytes.
    public static func makeSymlink(at path: FilePath, target: [UInt8]) throws {
        let targetPath = FilePath(bytes: target)
        try Errno.check { targetPath.withPlatformString { t in path.withPlatformString { symlink(t, $0) } } }
    }

    /// Makes `path` another name of the file at `existing`.
    public static func makeHardLink(at path: FilePath, to existing: FilePath) throws {
        try Errno.check { existing.withPlatformString { e in path.withPlatformString { link(e, $0) } } }
    }

    /// The bytes a symbolic link holds.
    public static func linkTarget(of path: FilePath) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = try buffer.withUnsafeMutableBytes { raw in
            try Errno.check {
                Int32(path.withPlatformString { readlink($0, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count - 1) })
            }
        }
        return Array(buffer[..<Int(n)])
    }

    /// True when this process may read (and, for folders, enter) `path`.
    public static func isReadable(_ path: FilePath, directory: Bool = false) -> Bool {
        readError(path, directory: directory) == nil
    }

    /// Why this process may not read (and, for folders, enter) `path`, or nil when it may.
    public static func readError(_ path: FilePath, directory: Bool = false) -> Errno? {
        path.withPlatformString { access($0, directory ? (R_OK | X_OK) : R_OK) } == 0 ? nil : Errno(rawValue: Glibc.errno)
    }

    /// The absolute path with every symlink, `.` and `..` resolved (realpath(3)), byte for byte.
    public static func realPath(_ path: FilePath) throws -> FilePath {
        try path.withPlatformString { raw in
            guard let resolved = realpath(raw, nil) else { throw Errno(rawValue: Glibc.errno) }
            defer { free(resolved) }
            return FilePath(platformString: resolved)
        }
    }

    /// Whether the permission bits of `status` let this process read the file: a check without a system call,
    /// for the files of a session. False is not the last word (an ACL may still grant it: ask `readError`); true
    /// is, short of an ACL denying what the bits allow, which the read itself then reports.
    public static func modeAllowsReading(_ status: FileStatus) -> Bool {
        let me = ProcessIdentity.current
        if me.uid == 0 { return true }
        if status.uid == me.uid { return status.mode & 0o400 != 0 }
        if me.groups.contains(status.gid) { return status.mode & 0o040 != 0 }
        return status.mode & 0o004 != 0
    }

    /// True when this process may create files in the folder `path`.
    public static func isWritableDirectory(_ path: FilePath) -> Bool {
        path.withPlatformString { access($0, W_OK | X_OK) } == 0
    }
}

/// The effective user and groups of this process, read once: they are what file permissions are checked against.
struct ProcessIdentity: Sendable {
    let uid: UInt32
    let groups: Set<UInt32>

    static let current: ProcessIdentity = {
        var groups: Set<UInt32> = [getegid()]
        let count = getgroups(0, nil)
        if count > 0 {
            var list = [gid_t](repeating: 0, count: Int(count))
            let got = getgroups(count, &list)
            if got > 0 { groups.formUnion(list.prefix(Int(got))) }
        }
        return ProcessIdentity(uid: geteuid(), groups: groups)
    }()
}

/// Modes and times, set through descriptors so that a symlink put in the way is never followed.
public enum FileAttributes {
    /// The process's umask, read from /proc (umask(2) cannot read it without changing it, racing other threads).
    static let umask: UInt32 = {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Umask:") }),
           let value = UInt32(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8) {
            return value
        }
        return 0o022
    }()

    static func setMode(_ descriptor: FileDescriptor, _ mode: UInt32) throws {
        try Errno.check { fchmod(descriptor.rawValue, mode_t(mode & 0o7777)) }
    }

    static func setTimes(_ descriptor: FileDescriptor, mtime: Double) throws {
        let seconds = mtime.rounded(.down)
        let time = timespec(tv_sec: time_t(seconds), tv_nsec: Int((mtime - seconds) * 1e9))
        var times = [time, time]
        try Errno.check { futimens(descriptor.rawValue, &times) }
    }

    /// Sets the mode and time of the folder `path` below `root`, through descriptors: from `root`, each folder on
    /// the way is opened relative to the one before with O_NOFOLLOW | O_DIRECTORY, the last one included. A symlink
    /// anywhere below `root` (there already, or swapped in meanwhile) is never followed: nothing is changed and
    /// ELOOP or ENOTDIR is thrown. `root` itself is the user's choice and is opened as given.
    public static func setFolder(_ path: FilePath, below root: FilePath, mode: UInt32?, mtime: Double?) throws {
        guard path.starts(with: root) else { throw Errno.invalidArgument }
        let descriptor = try openFolder(path.components.dropFirst(root.components.count), below: root)
        try descriptor.closing {
            if let mode { try setMode(descriptor, mode) }
            if let mtime { try setTimes(descriptor, mtime: mtime) }
        }
    }

    /// Opens `root`, then each of `components` relative to the folder before it, never following a symlink.
    private static func openFolder<Components: Sequence>(_ components: Components, below root: FilePath) throws -> FileDescriptor
        where Components.Element == FilePath.Component {
        var current = try FileDescriptor.open(root, .readOnly, options: [.directory, .closeOnExec])
        for component in components {
            let next = component.withPlatformString { name in
                openat(current.rawValue, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let failure = next < 0 ? Errno(rawValue: Glibc.errno) : nil
            try? current.close()
            if let failure { throw failure }
            current = FileDescriptor(rawValue: next)
        }
        return current
    }
}

/// Terminals: where progress bars go and binary data must not.
public enum Terminal {
    public static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }
    public static var standardOutputIsTerminal: Bool { isTerminal(STDOUT_FILENO) }
    public static var standardErrorIsTerminal: Bool { isTerminal(STDERR_FILENO) }
}

/// Shell-style patterns (`*.tmp`, `calib/*`) matched against names as bytes.
public enum Glob {
    public static func matches(_ pattern: String, _ subject: [UInt8]) -> Bool {
        let path = FilePath(bytes: subject)
        return pattern.withCString { p in path.withPlatformString { fnmatch(p, $0, 0) == 0 } }
    }

    public static func matches(_ pattern: String, _ subject: String) -> Bool {
        pattern.withCString { p in subject.withCString { fnmatch(p, $0, 0) == 0 } }
    }
}

/// The C library's locale: libarchive converts names through LC_CTYPE.
enum CLocale {
    /// Under plain "C", libarchive cannot hold UTF-8 names: switch character handling to C.UTF-8.
    static func ensureUTF8CharacterType() {
        if setlocale(LC_CTYPE, nil).map({ String(cString: $0) }) == "C" { setlocale(LC_CTYPE, "C.UTF-8") }
    }
}

/// The signals a run catches (SIGINT, SIGTERM): their default action is put aside while a handler of the
/// run's own (a dispatch source) hears them, and put back after.
public enum ProcessSignals {
    public static let interrupt = SIGINT
    public static let terminate = SIGTERM

    static func ignore(_ number: Int32) { signal(number, SIG_IGN) }

    /// Ends the process now, without exit handlers: a signal ends a run while transfer threads are still inside
    /// libcurl and OpenSSL, and OpenSSL's exit handler freeing what they use crashes the process (seen: SIGSEGV
    /// instead of 130). What must survive is already written: output is unbuffered, catalog rows committed.
    static func exitNow(_ status: Int32) -> Never { _exit(status) }
    static func restoreDefault(_ number: Int32) { signal(number, SIG_DFL) }
}
