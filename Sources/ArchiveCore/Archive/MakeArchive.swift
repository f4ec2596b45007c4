import Foundation
import SystemPackage

/// Everything s3-archive was asked to do.
public struct ArchiveRequest: Sendable {
    public var directory: FilePath
    /// The top folder inside the archive; default: the directory's own name.
    public var name: ArchivePath?
    public var indexPath: String?
    public var excludes: [String]
    /// Write the tar here (atomically) instead of standard output.
    public var outputPath: String?
    /// File bytes written of the session's total, and files done; nil: no display.
    public var progress: TransferProgress?

    public init(directory: FilePath, name: ArchivePath? = nil, indexPath: String? = nil, excludes: [String] = [],
                outputPath: String? = nil) {
        self.directory = directory
        self.name = name
        self.indexPath = indexPath
        self.excludes = excludes
        self.outputPath = outputPath
    }
}

/// s3-archive's whole job: one session directory → one uncompressed pax tar with every entry under `NAME/`, and
/// its index (streamed: memory does not grow with the number of files). Every check that can refuse the run
/// happens before the first tar byte is written. Each file is read
/// once; its SHA-256 is taken from the same bytes that go into the tar. The index is complete on disk before
/// this returns (and so before standard output closes).
public func makeArchive(_ request: ArchiveRequest, warn: (String) -> Void) throws {
    // A stale index from an earlier run must not pass for this archive's if this run fails, whatever fails.
    if let path = request.indexPath { try? FileOperations.remove(FilePath(path)) }
    let root = try sessionRoot(request.directory)
    let rootText = root.displayString
    let name = request.name ?? ArchivePath(bytes: root.bytes).name
    guard !name.isEmpty, name != ".", name != "..", !name.bytes.contains(0x2F) else {
        throw Failure.usage("invalid session name '\(name)': give one folder name without '/' (--name ID)")
    }

    // Outputs first: an index or -o path that cannot be written must fail before any byte moves.
    let indexWriter = try request.indexPath.map { path -> IndexWriter in
        do { return try IndexWriter(path: path) } catch let error as LocalFileError where error.path == path {
            throw Failure(.ioError, "\(path): cannot write the index there (\(error.errno.description.lowercased())): choose a writable --index path")
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
        stdout.growPipeBuffer()
        output = stdout
    }

    // The tar and the index being written (or an earlier run's, which they replace) may be inside the session
    // directory: never archived, whatever name leads to them.
    let outputs = Set((indexWriter?.ownFiles ?? []) + (fileOutput?.ownFiles ?? []))
    let entries = try archivableEntries(root: root, excluding: request.excludes, warn: warn)
        .filter { $0.status.kind != .file || !outputs.contains($0.status.identity) }
    let sink = TarSink(output: output)
    let tar = try TarWriter(sink: sink)
    let hasher = FileHasher()
    defer { hasher.close() }
    let smallFiles = SmallFileReader(entries, root: root)
    defer { smallFiles.close() }
    var builder = IndexBuilder(session: name, index: indexWriter, hasher: hasher, smallFiles: smallFiles)
    if let progress = request.progress {
        let totals = dataTotals(entries)
        progress.setLabel(name.description)
        progress.start(totalBytes: totals.bytes, totalItems: totals.files)
        builder.progress = progress
    }
    let rootEntry = try SessionScanner.stat(root, relative: ArchivePath(bytes: []))
    for entry in [rootEntry] + entries {
        try builder.add(entry, root: root, to: tar)
    }
    try builder.finish()
    let archiveCRC = try tar.finish()

    let totals = ArchiveIndex(format: ArchiveIndex.formatName, session: name.description, source: rootText, created: UTC.iso8601(Date()),
                              archive: .init(size: sink.written, crc64nvme: archiveCRC.base64),
                              files: builder.files, bytes: builder.bytes, newestMtime: builder.newest, entries: [])
    try fileOutput?.commit()
    try indexWriter?.finish(totals)
    request.progress?.finish(leavingSummary: true)
}

/// The file bytes and files the tar carries (a hard link's data once), for the progress display's totals.
private func dataTotals(_ entries: [ScannedEntry]) -> (bytes: Int, files: Int) {
    var inodes = Set<String>()
    var totals = (bytes: 0, files: 0)
    for entry in entries where entry.status.kind == .file {
        if entry.status.linkCount > 1, !inodes.insert("\(entry.status.device):\(entry.status.inode)").inserted { continue }
        totals.bytes += entry.status.size
        totals.files += 1
    }
    return totals
}

/// The entries that go in the archive: FIFOs, sockets and devices are skipped with a warning; an unreadable file
/// refuses the run before the first byte is written.
private func archivableEntries(root: FilePath, excluding: [String], warn: (String) -> Void) throws -> [ScannedEntry] {
    var entries: [ScannedEntry] = []
    for entry in try SessionScanner.scan(root, excluding: excluding) {
        let path = root.appending(bytes: entry.relativePath.bytes)
        switch entry.status.kind {
        case .file:
            if !FileOperations.modeAllowsReading(entry.status), let error = FileOperations.readError(path) {
                throw LocalFileError(path: path, errno: error, action: "read", isInput: true)
            }
            entries.append(entry)
        case .directory, .symlink:
            entries.append(entry)
        case .fifo: warn("\(path.displayString): skipped: a FIFO cannot be archived")
        case .socket: warn("\(path.displayString): skipped: a socket cannot be archived")
        case .characterDevice: warn("\(path.displayString): skipped: a character device cannot be archived")
        case .blockDevice: warn("\(path.displayString): skipped: a block device cannot be archived")
        case .unknown: warn("\(path.displayString): skipped: a file of unknown type cannot be archived")
        }
    }
    return entries
}

/// Writes each scanned entry to the tar and collects its index entry and the session's fingerprint.
private struct IndexBuilder {
    let session: ArchivePath
    /// Where each entry goes, in tar order, once its file's hash is known (nil: no index asked for).
    let index: IndexWriter?
    let hasher: FileHasher
    let smallFiles: SmallFileReader
    var files = 0
    var bytes = 0
    var newest = 0.0
    /// Hard links: the first archive path of each (device, inode), and its hash (or the ticket it will come by).
    var firstPathOfInode: [String: (path: ArchivePath, sha256: FileHash)] = [:]
    /// Entries written to the tar whose index entry waits for a file's hash from the hasher thread.
    var waiting: [(record: ArchiveIndex.Entry, sha256: FileHash)] = []
    /// Hashes of files with more than one link, kept for their hard links' entries.
    var linkedHashes: [Int: String] = [:]
    let digest = Digest(.sha256)
    var progress: TransferProgress?

    /// A file's SHA-256: none (not a file), known, or to come from the hasher thread.
    enum FileHash { case none, known(String), ticket(Int, linked: Bool) }

    init(session: ArchivePath, index: IndexWriter?, hasher: FileHasher, smallFiles: SmallFileReader) {
        self.session = session
        self.index = index
        self.hasher = hasher
        self.smallFiles = smallFiles
    }

    /// Writes the entries still waiting, once their hashes are all done.
    mutating func finish() throws { try writeWaiting(wait: true) }

    /// Writes the waiting entries, in order, as far as their hashes are done (`wait`: all of them).
    private mutating func writeWaiting(wait: Bool) throws {
        var written = 0
        defer { waiting.removeFirst(written) }
        for (var record, hash) in waiting {
            switch hash {
            case .none: break
            case .known(let hex): record.sha256 = hex
            case .ticket(let ticket, let linked):
                if let hex = linkedHashes[ticket] ?? hasher.result(ticket, wait: wait) {
                    record.sha256 = hex
                    if linked { linkedHashes[ticket] = hex }
                } else {
                    return
                }
            }
            try index?.add(record)
            written += 1
        }
    }

    mutating func add(_ entry: ScannedEntry, root: FilePath, to tar: TarWriter) throws {
        let status = entry.status
        let path = session.appending(entry.relativePath)
        var header = TarHeader(path: path, kind: .file, status: status)
        var record = ArchiveIndex.Entry(path: path, type: "file", size: status.size, mode: status.mode & 0o7777, mtime: status.mtime)
        var sha256 = FileHash.none
        switch status.kind {
        case .directory:
            header.kind = .directory
            record.type = "directory"
            record.size = 0
            try tar.writeHeader(header)
        case .symlink:
            let target = entry.linkTarget ?? []
            header.kind = .symlink(target: target)
            record.type = "symlink"
            record.size = 0
            record.target = ArchivePath(bytes: target)
            try tar.writeHeader(header)
        case .file:
            let inode = "\(status.device):\(status.inode)"
            if status.linkCount > 1, let first = firstPathOfInode[inode] {
                header.kind = .hardlink(target: first.path)
                record.type = "hardlink"
                record.target = first.path
                sha256 = first.sha256
                try tar.writeHeader(header)
            } else {
                try tar.writeHeader(header)
                record.offset = tar.offset
                if SmallFileReader.reads(status) {
                    let file = try smallFiles.next()
                    try tar.writeData(file.bytes)
                    progress?.add(bytes: file.bytes.count)
                    sha256 = .known(file.sha256)
                } else {
                    let source = root.appending(bytes: entry.relativePath.bytes)
                    sha256 = try copyFile(source, scanned: status, into: tar, digest: digest, hasher: hasher, progress: progress)
                }
                progress?.add(bytes: 0, items: 1)
                if status.linkCount > 1 { firstPathOfInode[inode] = (path, sha256) }
                files += 1
                bytes += status.size
                newest = max(newest, status.mtime)
            }
        default:
            return
        }
        waiting.append((record, sha256))
        try writeWaiting(wait: false)
    }
}

/// The session directory, checked: it exists, is a directory, and can be listed. Returned absolute, symlinks
/// resolved, so that `s3-archive .` is named after the directory it is.
func sessionRoot(_ path: FilePath) throws -> FilePath {
    let shown = path.displayString
    guard let status = try? FileStatus.of(path, followingSymlink: true) else {
        throw Failure.noInput("\(shown): no such directory: check the session path")
    }
    guard status.kind == .directory else {
        throw Failure.noInput("\(shown): not a directory: s3-archive takes a session directory (use s3-put for a single file)")
    }
    guard FileOperations.isReadable(path, directory: true) else {
        throw Failure.noInput("\(shown): permission denied: make the directory readable")
    }
    do { return try FileOperations.realPath(path) } catch {
        throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: "resolve", isInput: true)
    }
}

/// Streams one file into the tar, hashing the same bytes: a small file at once on this thread, a large one on
/// the hasher's, which gives back its ticket. The file opened must be the one scanned (no symlink swapped in, same
/// device and inode), and must hold exactly its scanned size throughout; its size, mtime and ctime after the read
/// must still be the scan's, or it is being written and the run is for another time (75).
private func copyFile(_ path: FilePath, scanned: FileStatus, into tar: TarWriter, digest: Digest, hasher: FileHasher,
                      progress: TransferProgress?) throws -> IndexBuilder.FileHash {
    let reader = try FileReader(scanned: path, as: scanned)
    let inline = scanned.size <= FileHasher.inlineLimit
    let ticket = inline ? nil : hasher.begin()
    // Every file begun is ended, even one that fails, so the hasher's tickets stay in step with the files.
    defer { if ticket != nil { hasher.end() } }
    var remaining = scanned.size
    while remaining > 0 {
        let chunk = try tar.writeData(from: reader, upTo: min(FileHasher.chunk, remaining), held: !inline)
        if chunk.count == 0 { throw stillBeingWritten(path, scanned: scanned, now: try? reader.currentStatus()) }
        if inline { digest.update(chunk) } else { hasher.hash(chunk) }
        progress?.add(bytes: chunk.count)
        remaining -= chunk.count
    }
    var probe: [UInt8] = []
    let now = try reader.currentStatus()
    if try reader.read(into: &probe, count: 1) > 0 || !now.isUnchanged(since: scanned) {
        throw stillBeingWritten(path, scanned: scanned, now: try? reader.currentStatus())
    }
    if let ticket { return .ticket(ticket, linked: scanned.linkCount > 1) }
    return .known(digest.finish().hex)
}

/// A file that changed while it was read: nothing of this run may be stored, and the next run may find it done.
func stillBeingWritten(_ path: FilePath, scanned: FileStatus, now: FileStatus?) -> Failure {
    var what = "changed while it was archived"
    if let now, now.size != scanned.size { what += " (\(scanned.size) bytes when scanned, \(now.size) now)" }
    return Failure(.tryAgainLater, "\(path.displayString): the file \(what): is it still being written? try again later")
}
