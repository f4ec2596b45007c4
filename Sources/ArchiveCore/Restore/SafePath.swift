import Foundation
import SystemPackage

/// Where restored files may go: only below the destination. Paths from an index or a key are checked before
/// anything is written: no absolute paths, no `..`, and no way through a symbolic link that could lead out.
public struct Destination: Sendable {
    /// The destination, absolute, for messages and reports.
    public let root: String
    public let rootPath: FilePath
    /// The destination's file system, opened before anything is written so that a flush sees every write-back
    /// error since (nil for a dry run's destination that does not exist).
    let fileSystem: FileSystemHandle?

    /// The destination is created with its parents when missing (`mkdir -p`, as restic and tar do), unless
    /// `create` is false (a dry run changes nothing); it must be a writable folder, or nothing is fetched.
    public init(_ path: String, create: Bool = true) throws {
        let status = try? FileStatus.of(FilePath(path))
        if status == nil, create {
            do { try Directory.create(FilePath(path)) } catch {
                throw Failure(.ioError, "\(path): cannot create the destination directory: \((error as? Errno)?.description ?? "\(error)"): check the path and its permissions")
            }
        }
        root = URL(fileURLWithPath: path).standardizedFileURL.path
        rootPath = FilePath(root)
        if status == nil, !create {
            fileSystem = nil
            return
        }
        let type = (try? FilePath(path).stat())?.type
        guard type == .directory else {
            let what = type == .regular ? "is a file, not a folder" : "is not a folder"
            throw Failure(.ioError, "\(path): \(what): give --to a folder to restore into (a missing one is created)")
        }
        guard FileOperations.isWritableDirectory(FilePath(path)) else {
            throw Failure(.ioError, "\(path): the destination directory is not writable: check its permissions")
        }
        fileSystem = try? Directory.fileSystem(containing: rootPath)
    }

    /// Flushes every file written under the destination since it was opened (or since the last flush) to disk;
    /// throws the first write-back error the file system reports.
    public func flush() throws {
        guard let fileSystem else { return }
        try fileSystem.flush()
    }

    /// The local path for `relative`, or why it is refused.
    public func resolve(_ relative: ArchivePath) -> Result<FilePath, PathRefusal> {
        if relative.isEmpty || relative.bytes.first == 0x2F || relative.bytes.contains(0) { return .failure(.absolute) }
        let components = relative.components.filter { $0 != [0x2E] }
        if components.contains(where: { $0 == [0x2E, 0x2E] }) { return .failure(.parent) }
        if components.isEmpty { return .failure(.absolute) }
        // Every folder on the way must be a real folder (or not exist yet): a symlink could point anywhere.
        var current = rootPath
        for component in components.dropLast() {
            current = current.appending(bytes: Array(component))
            guard let status = try? FileStatus.ifExists(current) else { continue }
            if status.kind == .symlink { return .failure(.throughSymlink(current.displayString)) }
            if status.kind != .directory { return .failure(.notADirectory(current.displayString)) }
        }
        return .success(rootPath.appending(bytes: Array(components.joined(separator: [0x2F]))))
    }

    /// The local path for a key's relative name (always UTF-8), or why it is refused.
    public func resolve(_ relative: String) -> Result<String, PathRefusal> {
        resolve(ArchivePath(relative)).map(\.displayString)
    }

    /// Creates the folders leading to `path` (already resolved, so inside the destination).
    func makeParents(of path: FilePath) throws {
        var parent = path
        parent.removeLastComponent()
        do { try Directory.create(parent) } catch {
            throw Failure(.ioError, "\(parent.displayString): cannot create the folder: \((error as? Errno)?.description ?? "\(error)")")
        }
    }

    func makeParents(of path: String) throws { try makeParents(of: FilePath(path)) }
}

/// Why an entry's path was refused.
public enum PathRefusal: Error, CustomStringConvertible, Sendable {
    case absolute, parent
    case throughSymlink(String)
    case notADirectory(String)

    public var description: String {
        switch self {
        case .absolute: return "refused: an absolute or empty path would be written outside the destination"
        case .parent: return "refused: a '..' in the path would be written outside the destination"
        case .throughSymlink(let path): return "refused: the path goes through the symbolic link \(path)"
        case .notADirectory(let path): return "refused: \(path) is in the way and is not a folder"
        }
    }
}
