import Foundation
import SystemPackage

/// A session directory on disk and its fingerprint: regular files, their bytes, the newest mtime.
public struct SessionOnDisk: Sendable {
    /// The folder's name and path as text (UTF-8 as it is, other bytes as `\xNN`): how the catalog knows them.
    public var name: String
    public var path: String
    /// The folder, byte for byte.
    public var folder: FilePath
    public var year: String
    public var files: Int
    public var bytes: Int
    public var newestMtime: Double
    /// Folders or files the walk could not read: the fingerprint is incomplete, so the session never counts as
    /// backed up (s3-archive will name what it cannot read).
    public var unreadable: [String] = []
}

/// What the catalog says of a session's backup, compared with the disk.
public enum SessionState: String, Sendable {
    case backedUp = "backed up"
    case notBackedUp = "not backed up"
    case changed = "changed"
    /// Files were only removed since the backup: every file still there is in it, same size and mtime, and none was
    /// added. The backup holds everything; nothing is to do (raw data deleted after its backup looks like this).
    case pruned = "pruned"
}

public enum SessionFinder {
    /// Sessions are the folders under ROOT; when ROOT's folders are years (`2024`), the folders inside them.
    /// A session folder found under ROOT, not yet walked.
    public struct Place: Sendable {
        /// As text, as the catalog records them (`PathDisplay`).
        public var name: String
        public var path: String
        public var year: String?
        /// The folder, byte for byte: an instrument PC may name it in Latin-1.
        public var folder: FilePath

        init(folder: FilePath, year: String?) {
            self.folder = folder
            self.year = year
            name = ArchivePath(bytes: folder.bytes).name.description
            path = folder.displayString
        }
    }

    /// The session folders under ROOT (absolute, symlinks resolved, as s3-archive records them).
    public static func places(root: String, year: String? = nil) throws -> [Place] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure.noInput("\(root): no such directory: give the folder that holds the sessions")
        }
        let root = FilePath(URL(fileURLWithPath: root).standardizedFileURL.resolvingSymlinksInPath().path)
        var places: [Place] = []
        for child in try folders(in: root) {
            let path = root.appending(bytes: child)
            if child.count == 4, child.allSatisfy({ (0x30...0x39).contains($0) }) {
                let childYear = String(decoding: child, as: UTF8.self)
                if let year, year != childYear { continue }
                for session in try folders(in: path) { places.append(Place(folder: path.appending(bytes: session), year: childYear)) }
            } else {
                places.append(Place(folder: path, year: nil))
            }
        }
        return places
    }

    /// Every session under ROOT, fingerprinted. `excluding`: the globs given to s3-archive --exclude, so a session
    /// archived without some files compares equal to its backup.
    public static func find(root: String, year: String? = nil, excluding: [String] = []) throws -> [SessionOnDisk] {
        fingerprints(of: try places(root: root, year: year), excluding: excluding).filter { year == nil || $0.year == year }
    }

    /// Walking is lstat after lstat: the sessions are spread over the cores.
    public static func fingerprints(of places: [Place], excluding: [String] = []) -> [SessionOnDisk] {
        concurrentMap(places, workers: ProcessInfo.processInfo.activeProcessorCount) { fingerprint($0, excluding: excluding) }
    }

    /// The folders in a directory (their names' bytes, in byte order), by the type readdir already gives (an
    /// lstat only where it gives none).
    static func folders(in directory: FilePath) throws -> [[UInt8]] {
        let entries: [DirectoryEntry]
        do { entries = try Directory.entries(of: directory) } catch {
            throw Failure.noInput("\(directory.displayString): cannot list the directory (\((error as? Errno)?.description ?? "\(error)"))")
        }
        var names: [[UInt8]] = []
        for entry in entries where entry.name.first != 0x2E {
            let kind = try? entry.kind ?? FileStatus.of(directory.appending(bytes: entry.name)).kind
            if kind == .directory { names.append(entry.name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Walks the session with lstat only (no file is opened): the same numbers s3-archive's index records. Names
    /// are bytes, so a Latin-1 file counts like any other.
    static func fingerprint(_ place: Place, excluding: [String] = []) -> SessionOnDisk {
        var files = 0, bytes = 0
        var newest = 0.0
        // Hard links count once, as s3-archive stores their data once.
        var seen = Set<String>()
        let unreadable = walkFiles(place.folder, excluding: excluding) { _, status in
            if status.linkCount > 1, !seen.insert("\(status.device):\(status.inode)").inserted { return true }
            files += 1
            bytes += status.size
            newest = max(newest, status.mtime)
            return true
        }
        let derivedYear = place.year ?? KeyTemplate.date(fromSession: place.name)?.0
            ?? (newest > 0 ? KeyTemplate.today(Date(timeIntervalSince1970: newest)).0 : "")
        return SessionOnDisk(name: place.name, path: place.path, folder: place.folder, year: derivedYear, files: files,
                             bytes: bytes, newestMtime: newest, unreadable: unreadable)
    }
}

extension SessionFinder {
    /// True when every regular file under `path` (but the excluded) is among `archived`, by path relative to the
    /// session, with the same size and mtime: the session lost files since that backup and gained or changed none.
    /// A folder or file the walk cannot read answers false: what it holds is unknown.
    public static func onlyRemoved(folder: FilePath, since archived: [[UInt8]: (size: Int, mtime: Double)],
                                   excluding: [String] = []) -> Bool {
        var same = true
        let unreadable = walkFiles(folder, excluding: excluding) { relative, status in
            guard let known = archived[relative.bytes], known.size == status.size,
                  abs(known.mtime - status.mtime) < 1e-6 else { same = false; return false }
            return true
        }
        return same && unreadable.isEmpty
    }

    /// Walks the regular files under `path` (but the excluded) with lstat only, no file opened, handing each to
    /// `visit` with its path relative to `path`, until `visit` answers false. Returns what could not be read.
    static func walkFiles(_ root: FilePath, excluding: [String],
                          _ visit: (ArchivePath, FileStatus) -> Bool) -> [String] {
        var unreadable: [String] = []
        var stack: [ArchivePath] = [ArchivePath(bytes: [])]
        while let relative = stack.popLast() {
            let directory = root.appending(bytes: relative.bytes)
            guard let entries = try? Directory.entries(of: directory) else {
                unreadable.append(directory.displayString)
                continue
            }
            for entry in entries {
                let child = relative.appending(ArchivePath(bytes: entry.name))
                if !excluding.isEmpty, SessionScanner.isExcluded(child, name: ArchivePath(bytes: entry.name), excluding) { continue }
                if entry.kind == .directory {
                    stack.append(child)
                    continue
                }
                if let kind = entry.kind, kind != .file { continue }
                guard let status = try? FileStatus.of(root.appending(bytes: child.bytes)) else {
                    unreadable.append(root.appending(bytes: child.bytes).displayString)
                    continue
                }
                switch status.kind {
                case .directory: stack.append(child)
                case .file: if !visit(child, status) { return unreadable }
                default: break
                }
            }
        }
        return unreadable
    }
}
