import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Everything s3-archive was asked to do.
public struct ArchiveRequest: Sendable {
    public var directory: String
    /// The top folder inside the archive; default: the directory's own name.
    public var name: String?
    public var indexPath: String?
    public var excludes: [String]
    /// Write the tar here (atomically) instead of standard output.
    public var outputPath: String?

    public init(directory: String, name: String? = nil, indexPath: String? = nil, excludes: [String] = [],
                outputPath: String? = nil) {
        self.directory = directory
        self.name = name
        self.indexPath = indexPath
        self.excludes = excludes
        self.outputPath = outputPath
    }
}

/// s3-archive's whole job: one session directory → one uncompressed pax tar with every entry under `NAME/`, and
/// its index. Every check that can refuse the run happens before the first tar byte is written. Each file is read
/// once; its SHA-256 is taken from the same bytes that go into the tar. The index is complete on disk before
/// this returns (and so before standard output closes).
@discardableResult
public func makeArchive(_ request: ArchiveRequest, warn: (String) -> Void) throws -> ArchiveIndex {
    // A stale index from an earlier run must not pass for this archive's if this run fails, whatever fails.
    if let path = request.indexPath { unlink(path) }
    let root = try sessionRoot(request.directory)
    let name = request.name ?? Paths.name(root)
    guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else {
        throw Failure.usage("invalid session name '\(name)': give one folder name without '/' (--name ID)")
    }

    // Outputs first: an index or -o path that cannot be written must fail before any byte moves.
    let indexWriter = try request.indexPath.map { path -> AtomicFileWriter in
        do { return try AtomicFileWriter(path: path, createDirectories: false) } catch let error as LocalFileError {
            throw Failure(.ioError, "\(path): cannot write the index there (\(String(cString: strerror(error.errno)))): choose a writable --index path")
        }
    }
    let output: ByteWriter
    var fileOutput: AtomicFileWriter?
    if let path = request.outputPath {
        let writer = try AtomicFileWriter(path: path, createDirectories: false)
        fileOutput = writer
        output = writer
    } else {
        let stdout = DescriptorWriter.standardOutput
        if stdout.isTerminal {
            throw Failure.usage("refusing to write a tar to a terminal: redirect standard output, pipe it to s3-put, or use -o FILE")
        }
        output = stdout
    }

    let scanned = try SessionScanner.scan(root, excluding: request.excludes)
    var entries: [ScannedEntry] = []
    for entry in scanned {
        switch entry.kind {
        case .special(let what):
            warn("\(root)/\(entry.relativePath): skipped: \(what) cannot be archived")
        case .file:
            guard access(root + "/" + entry.relativePath, R_OK) == 0 else {
                throw LocalFileError(path: root + "/" + entry.relativePath, errno: errno, action: "read", isInput: true)
            }
            entries.append(entry)
        default:
            entries.append(entry)
        }
    }

    let sink = TarSink(output: output)
    let tar = try TarWriter(sink: sink)
    var indexEntries: [ArchiveIndex.Entry] = []
    var firstPathOfInode: [String: (path: String, sha256: String)] = [:]
    var files = 0
    var bytes = 0
    var newest = 0.0
    let rootEntry = try SessionScanner.stat(root, relative: "")
    let digest = Digest(.sha256)
    var buffer: [UInt8] = []

    for entry in [rootEntry] + entries {
        let path = entry.relativePath.isEmpty ? name : name + "/" + entry.relativePath
        let mtime = Double(entry.mtimeSeconds) + Double(entry.mtimeNanoseconds) / 1e9
        var header = TarHeader(path: path, kind: .file, size: entry.size, mode: entry.mode, uid: entry.uid, gid: entry.gid,
                               mtimeSeconds: entry.mtimeSeconds, mtimeNanoseconds: entry.mtimeNanoseconds)
        var record = ArchiveIndex.Entry(path: path, type: "file", size: entry.size, mode: entry.mode & 0o7777, mtime: mtime)
        switch entry.kind {
        case .directory:
            header.kind = .directory
            header.size = 0
            record.type = "directory"
            record.size = 0
            try tar.writeHeader(header)
        case .symlink:
            header.kind = .symlink(target: entry.linkTarget ?? "")
            header.size = 0
            record.type = "symlink"
            record.size = 0
            record.target = entry.linkTarget
            try tar.writeHeader(header)
        case .file:
            let inode = "\(entry.device):\(entry.inode)"
            if entry.linkCount > 1, let first = firstPathOfInode[inode] {
                header.kind = .hardlink(target: first.path)
                header.size = 0
                record.type = "hardlink"
                record.target = first.path
                record.sha256 = first.sha256
                try tar.writeHeader(header)
            } else {
                try tar.writeHeader(header)
                record.offset = tar.offset
                record.sha256 = try copyFile(root + "/" + entry.relativePath, size: entry.size, into: tar,
                                             digest: digest, buffer: &buffer)
                if entry.linkCount > 1 { firstPathOfInode[inode] = (path, record.sha256!) }
                files += 1
                bytes += entry.size
                newest = max(newest, mtime)
            }
        case .special:
            continue
        }
        indexEntries.append(record)
    }
    let archiveDigest = try tar.finish()

    let formatter = ISO8601DateFormatter()
    let index = ArchiveIndex(format: ArchiveIndex.formatName, session: name, source: root, created: formatter.string(from: Date()),
                             archive: .init(size: sink.written, sha256: archiveDigest.hex),
                             files: files, bytes: bytes, newestMtime: newest, entries: indexEntries)
    try fileOutput?.commit()
    if let indexWriter {
        try indexWriter.write(try index.encoded())
        try indexWriter.commit()
    }
    return index
}

/// The session directory, checked: it exists, is a directory, and can be listed.
func sessionRoot(_ path: String) throws -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw Failure.noInput("\(path): no such directory: check the session path")
    }
    guard isDirectory.boolValue else {
        throw Failure.noInput("\(path): not a directory: s3-archive takes a session directory (use s3-put for a single file)")
    }
    guard access(path, R_OK | X_OK) == 0 else {
        throw Failure.noInput("\(path): permission denied: make the directory readable")
    }
    // Absolute and without `.`/`..`, so that `s3-archive .` is named after the directory it is.
    return URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
}

/// Streams one file into the tar, hashing the same bytes; the file must hold exactly `size` bytes throughout.
private func copyFile(_ path: String, size: Int, into tar: TarWriter, digest: Digest, buffer: inout [UInt8]) throws -> String {
    let reader = try FileReader(path: path)
    let chunk = 4 << 20
    var remaining = size
    while remaining > 0 {
        let n = try reader.read(into: &buffer, count: min(chunk, remaining))
        if n == 0 {
            throw Failure(.ioError, "\(path): the file shrank while it was archived (\(size - remaining) of \(size) bytes): archive the session again once it is stable")
        }
        digest.update(buffer[..<n])
        try tar.writeData(buffer[..<n])
        remaining -= n
    }
    if try reader.read(into: &buffer, count: 1) > 0 {
        throw Failure(.ioError, "\(path): the file grew while it was archived (beyond \(size) bytes): archive the session again once it is stable")
    }
    return digest.finish().hex
}
