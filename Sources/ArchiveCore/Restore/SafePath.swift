import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where restored files may go: only below the destination. Paths from an index or a key are checked before
/// anything is written: no absolute paths, no `..`, and no way through a symbolic link that could lead out.
public struct Destination: Sendable {
    public let root: String

    /// The destination must exist and be writable, or nothing is fetched.
    public init(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure(.ioError, "\(path): the destination directory does not exist: create it first (mkdir -p \(path))")
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw Failure(.ioError, "\(path): the destination directory is not writable: check its permissions")
        }
        root = URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The local path for `relative`, or why it is refused.
    public func resolve(_ relative: String) -> Result<String, PathRefusal> {
        if relative.isEmpty || relative.hasPrefix("/") { return .failure(.absolute) }
        let components = relative.split(separator: "/", omittingEmptySubsequences: true)
        if components.contains("..") { return .failure(.parent) }
        if relative.utf8.contains(0) { return .failure(.absolute) }
        // Every folder on the way must be a real folder (or not exist yet): a symlink could point anywhere.
        var current = root
        for component in components.dropLast() where component != "." {
            current += "/" + component
            var info = stat()
            if lstat(current, &info) == 0 {
                if (info.st_mode & S_IFMT) == S_IFLNK { return .failure(.throughSymlink(current)) }
                if (info.st_mode & S_IFMT) != S_IFDIR { return .failure(.notADirectory(current)) }
            }
        }
        return .success(root + "/" + components.filter { $0 != "." }.joined(separator: "/"))
    }

    /// Creates the folders leading to `path` (already resolved, so inside the destination).
    func makeParents(of path: String) throws {
        let parent = Paths.parent(path)
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw Failure(.ioError, "\(parent): cannot create the folder: \(error.localizedDescription)")
        }
    }
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
