import Foundation
import SystemPackage

/// One thing found in a session directory, with what `lstat` said of it.
struct ScannedEntry {
    /// Path relative to the session directory; empty for the directory itself.
    var relativePath: ArchivePath
    var status: FileStatus
    /// Symlinks: the bytes the link holds.
    var linkTarget: [UInt8]?
}

/// Walks a session directory depth-first, each directory's names in byte order, so the same tree always gives
/// the same archive. Names are bytes throughout; symbolic links are recorded, never followed.
enum SessionScanner {
    static func scan(_ root: FilePath, excluding patterns: [String]) throws -> [ScannedEntry] {
        var entries: [ScannedEntry] = []
        try walk(root: root, relative: ArchivePath(bytes: []), into: &entries, excluding: patterns)
        return entries
    }

    static func stat(_ root: FilePath, relative: ArchivePath) throws -> ScannedEntry {
        let path = root.appending(bytes: relative.bytes)
        let status: FileStatus
        do { status = try FileStatus.of(path) } catch {
            throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: "read its attributes", isInput: true)
        }
        var target: [UInt8]?
        if status.kind == .symlink {
            do { target = try FileOperations.linkTarget(of: path) } catch {
                throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: "read the link", isInput: true)
            }
        }
        return ScannedEntry(relativePath: relative, status: status, linkTarget: target)
    }

    private static func walk(root: FilePath, relative: ArchivePath, into entries: inout [ScannedEntry],
                             excluding patterns: [String]) throws {
        let directory = root.appending(bytes: relative.bytes)
        let names: [[UInt8]]
        do { names = try Directory.entries(of: directory).map(\.name) } catch {
            throw LocalFileError(path: directory, errno: error as? Errno ?? .ioError, action: "list the directory", isInput: true)
        }
        let children = names.sorted(by: { $0.lexicographicallyPrecedes($1) }).compactMap { name -> ArchivePath? in
            let child = relative.appending(ArchivePath(bytes: name))
            return isExcluded(child, name: ArchivePath(bytes: name), patterns) ? nil : child
        }
        for entry in try statAll(root, children) {
            entries.append(entry)
            if entry.status.kind == .directory {
                try walk(root: root, relative: entry.relativePath, into: &entries, excluding: patterns)
            }
        }
    }

    /// `stat` of each path, in order; a folder of many files is shared among the cores (an lstat each is most of
    /// a scan, and the tar cannot start before it ends). The first failure in order is thrown.
    private static func statAll(_ root: FilePath, _ paths: [ArchivePath]) throws -> [ScannedEntry] {
        let workers = paths.count < 256 ? 1 : min(4, ProcessInfo.processInfo.activeProcessorCount)
        return try concurrentMap(paths, workers: workers) { path in Result { try stat(root, relative: path) } }
            .map { try $0.get() }
    }

    /// A pattern excludes a path when it matches the whole relative path or the last name (`*.tmp`, `calib/*`).
    static func isExcluded(_ relative: ArchivePath, name: ArchivePath, _ patterns: [String]) -> Bool {
        patterns.contains { Glob.matches($0, relative.bytes) || Glob.matches($0, name.bytes) }
    }
}
