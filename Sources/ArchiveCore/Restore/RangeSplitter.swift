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
    func finishEmptyFiles() throws {
        while current < range.files.count, range.files[current].entry.size == 0 {
            close(try open(range.files[current]))
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
            if self.sink == nil, let mismatch = UstarBlock(bytes: recent).mismatch(path: file.entry.path, size: file.entry.size) {
                // Its bytes are skipped like those of a file not asked for; the next file's header follows them.
                outcomes.set(file.entry.path, .failed(mismatch))
                current += 1
                try finishEmptyFiles()
                continue
            }
            let sink = try self.sink ?? open(file)
            self.sink = sink
            let take = min(file.offset + file.entry.size - position, chunk.count - offset)
            let piece = UnsafeRawBufferPointer(rebasing: chunk[offset..<(offset + take)])
            sink.digest.update(piece)
            try sink.writer.write(piece)
            remember(piece)
            offset += take
            position += take
            if position == file.offset + file.entry.size {
                close(sink)
                self.sink = nil
                current += 1
                try finishEmptyFiles()
            }
        }
    }

    private func remember(_ bytes: UnsafeRawBufferPointer) {
        recent.append(contentsOf: bytes.suffix(UstarBlock.size))
        if recent.count > UstarBlock.size { recent.removeFirst(recent.count - UstarBlock.size) }
    }

    /// The transfer failed: the file under way is dropped, and it and every file after it get the error.
    func fail(_ error: Error) {
        sink?.writer.discard()
        sink = nil
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
