import Foundation

/// Splits the bytes of one ranged GET among the files inside it. Each file's bytes go to a temporary file and its
/// SHA-256 as they arrive (tar headers between files are skipped); a file takes its real name only once its last
/// byte has arrived and its hash matches the index.
final class RangeSplitter {
    private let range: FetchRange
    private let destination: Destination
    private let outcomes: Outcomes
    private let started = Date()
    /// The archive offset of the next byte to arrive.
    private var position: Int
    /// The file being received (or next to be).
    private var current = 0
    private var sink: FileSink?
    /// The file being received failed: its remaining bytes are read and dropped.
    private var dropping = false
    /// The last bytes before `position` (up to a tar block): the header of the file whose data comes next.
    private var recent: [UInt8] = []

    init(range: FetchRange, destination: Destination, outcomes: Outcomes) {
        self.range = range
        self.destination = destination
        self.outcomes = outcomes
        position = range.start
    }

    var isComplete: Bool { current == range.files.count }

    /// Empty files need no bytes from the server: they are made as soon as they are reached.
    func finishEmptyFiles() {
        while current < range.files.count, range.files[current].entry.size == 0 {
            let file = range.files[current]
            do { close(try open(file)) } catch { outcomes.set(file.entry.path, .failed("\(error)")) }
            current += 1
        }
    }

    func receive(_ chunk: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < chunk.count, current < range.files.count {
            let file = range.files[current]
            if position < file.offset {
                let skip = min(file.offset - position, chunk.count - offset)
                remember(UnsafeRawBufferPointer(rebasing: chunk[offset..<(offset + skip)]))
                offset += skip
                position += skip
                continue
            }
            if position == file.offset, sink == nil, !dropping { start(file) }
            let take = min(file.offset + file.entry.size - position, chunk.count - offset)
            let piece = UnsafeRawBufferPointer(rebasing: chunk[offset..<(offset + take)])
            if let sink {
                sink.digest.update(piece)
                do { try sink.writer.write(piece) } catch { drop(file, error) }
            }
            remember(piece)
            offset += take
            position += take
            if position == file.offset + file.entry.size {
                if let sink { close(sink) }
                sink = nil
                dropping = false
                current += 1
                finishEmptyFiles()
            }
        }
    }

    /// The file's first byte is next: its tar header must name it, and its temporary file is made. When either
    /// fails, that file alone fails (a full disk, say) and its bytes are read and dropped: the others go on.
    private func start(_ file: FetchFile) {
        if let mismatch = UstarBlock(bytes: recent).mismatch(path: file.entry.path, size: file.entry.size) {
            outcomes.set(file.entry.path, .failed(mismatch))
            dropping = true
            return
        }
        do { sink = try open(file) } catch { drop(file, error) }
    }

    /// This file failed: its temporary file is removed, and the rest of its bytes are dropped as they come.
    private func drop(_ file: FetchFile, _ error: Error) {
        sink?.writer.discard()
        sink = nil
        dropping = true
        outcomes.set(file.entry.path, .failed("\(error)"))
    }

    private func remember(_ bytes: UnsafeRawBufferPointer) {
        recent.append(contentsOf: bytes.suffix(UstarBlock.size))
        if recent.count > UstarBlock.size { recent.removeFirst(recent.count - UstarBlock.size) }
    }

    /// The transfer failed: the file under way is dropped, and it and every file after it get the error.
    func fail(_ error: Error) {
        sink?.writer.discard()
        sink = nil
        guard current < range.files.count else { return }
        for file in range.files[current...] where outcomes.get(file.entry.path) == nil {
            outcomes.set(file.entry.path, .failed("\(error)"))
        }
    }

    private func open(_ file: FetchFile) throws -> FileSink {
        try destination.makeParents(of: file.path)
        return FileSink(file: file, writer: try AtomicFileWriter(path: file.path, createDirectories: false))
    }

    private func close(_ sink: FileSink) {
        let file = sink.file
        guard sink.digest.finish().hex == file.entry.sha256 else {
            sink.writer.discard()
            outcomes.set(file.entry.path, .failed("SHA-256 mismatch after download (the archive or index is damaged)"))
            return
        }
        do {
            try sink.writer.setAttributes(mode: file.mode, mtime: file.entry.mtime)
            // Flushed with the others by one checked syncfs (ArchiveRestorer.flushFetched); close and rename are checked here.
            try sink.writer.commit(durable: false)
            outcomes.set(file.entry.path, file.damaged ? .healed(reason: "hash mismatch")
                : .downloaded(bytes: file.entry.size, seconds: Date().timeIntervalSince(started)))
        } catch {
            outcomes.set(file.entry.path, .failed("\(error)"))
        }
    }
}

/// A file being written from a download, with its running SHA-256.
final class FileSink {
    let file: FetchFile
    let writer: AtomicFileWriter
    let digest = Digest(.sha256)
    init(file: FetchFile, writer: AtomicFileWriter) {
        self.file = file
        self.writer = writer
    }
}
