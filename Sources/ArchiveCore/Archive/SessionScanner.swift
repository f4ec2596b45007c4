import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One thing found in a session directory, with what `lstat` said of it.
struct ScannedEntry {
    enum Kind { case file, directory, symlink, special(String) }
    /// Path relative to the session directory, `/`-separated; "" is the directory itself.
    var relativePath: String
    var kind: Kind
    var size: Int
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var mtimeSeconds: Int
    var mtimeNanoseconds: Int
    var device: UInt64
    var inode: UInt64
    var linkCount: Int
    var linkTarget: String?
}

/// Walks a session directory depth-first, each directory's names in byte order, so the same tree always gives
/// the same archive. Symbolic links are recorded, never followed.
enum SessionScanner {
    static func scan(_ root: String, excluding patterns: [String]) throws -> [ScannedEntry] {
        var entries: [ScannedEntry] = []
        try walk(root: root, relative: "", into: &entries, excluding: patterns)
        return entries
    }

    static func stat(_ path: String, relative: String) throws -> ScannedEntry {
        var info = Glibc.stat()
        guard lstat(path, &info) == 0 else {
            throw LocalFileError(path: path, errno: errno, action: "read its attributes", isInput: true)
        }
        let kind: ScannedEntry.Kind
        var target: String?
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK:
            kind = .symlink
            var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count - 1) }
            guard n >= 0 else { throw LocalFileError(path: path, errno: errno, action: "read the link", isInput: true) }
            target = String(decoding: buffer[..<n], as: UTF8.self)
        case S_IFIFO: kind = .special("a FIFO")
        case S_IFSOCK: kind = .special("a socket")
        case S_IFCHR: kind = .special("a character device")
        case S_IFBLK: kind = .special("a block device")
        default: kind = .special("of unknown type")
        }
        return ScannedEntry(relativePath: relative, kind: kind, size: Int(info.st_size), mode: info.st_mode,
                            uid: info.st_uid, gid: info.st_gid,
                            mtimeSeconds: info.st_mtim.tv_sec, mtimeNanoseconds: info.st_mtim.tv_nsec,
                            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), linkCount: Int(info.st_nlink),
                            linkTarget: target)
    }

    private static func walk(root: String, relative: String, into entries: inout [ScannedEntry], excluding patterns: [String]) throws {
        let directory = relative.isEmpty ? root : root + "/" + relative
        guard let handle = opendir(directory) else {
            throw LocalFileError(path: directory, errno: errno, action: "list the directory", isInput: true)
        }
        var names: [[UInt8]] = []
        while let item = readdir(handle) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [46] || name == [46, 46] { continue }
            names.append(name)
        }
        closedir(handle)
        names.sort { $0.lexicographicallyPrecedes($1) }
        for raw in names {
            let name = String(decoding: raw, as: UTF8.self)
            let child = relative.isEmpty ? name : relative + "/" + name
            if isExcluded(child, name: name, patterns) { continue }
            let entry = try stat(root + "/" + child, relative: child)
            entries.append(entry)
            if case .directory = entry.kind {
                try walk(root: root, relative: child, into: &entries, excluding: patterns)
            }
        }
    }

    /// A pattern excludes a path when it matches the whole relative path or the last name (`*.tmp`, `calib/*`).
    static func isExcluded(_ relative: String, name: String, _ patterns: [String]) -> Bool {
        patterns.contains { fnmatch($0, relative, 0) == 0 || fnmatch($0, name, 0) == 0 }
    }
}
