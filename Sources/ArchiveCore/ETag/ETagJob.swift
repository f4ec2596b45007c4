import Foundation
import SystemPackage

/// What s3-etag was asked: print ETags, match one ETag, or check a list.
public enum ETagRequest: Sendable {
    /// With `doublingEvery`, the layout s3-put uses for standard input (see PartLayout).
    case print(files: [String], partSize: Int, doublingEvery: Int?)
    /// `etag` may be an object's URL (`s3://bucket/key`): its ETag, and the part size the store knows, are asked.
    case match(etag: String, files: [String], partSize: Int, s3: S3Configuration.Overrides = .init())
    case check(list: String, partSize: Int)
}

/// s3-etag's whole job, md5sum-style: a file that cannot be read is reported on `warn` and the rest go on;
/// the result is the exit status (0 all good, 1 a mismatch, 66 an input missing).
public func runETag(_ request: ETagRequest, quiet: Bool = false,
                    output: (String) -> Void, warn: (String) -> Void) -> ExitStatus {
    var status = ExitStatus.ok
    func note(_ error: Error) {
        warn("\(error)")
        let s = (error as? ReportableError)?.exitStatus ?? .ioError
        if status == .ok || status == .checkFailed { status = s }
    }
    func failed() { if status == .ok { status = .checkFailed } }

    switch request {
    case .print(let files, let partSize, let doublingEvery):
        for file in files.isEmpty ? ["-"] : files {
            do {
                let reader = try FileReader(path: file)
                let layout = doublingEvery != nil ? PartLayout(partSize: partSize, doublingEvery: doublingEvery)
                    : reader.size.map { PartLayout.forFile(size: $0, preferred: partSize) } ?? PartLayout(partSize: partSize)
                output("\(try ETag.compute(reader, layout: layout))  \(file)")
            } catch { note(error) }
        }

    case .match(let etag, let files, let partSize, let s3):
        let target: MatchTarget
        do {
            target = try MatchTarget(etag, s3: s3, preferred: partSize)
        } catch {
            note(error)
            return status
        }
        for file in files.isEmpty ? ["-"] : files {
            do {
                let reader = try spooled(FileReader(path: file))
                if let found = try target.partSize(matching: reader) {
                    if !quiet {
                        output(ETag.partCount(target.etag) == nil ? "\(file): OK" : "\(file): OK (part size \(exactSize(found)))")
                    }
                } else {
                    output("\(file): FAILED")
                    failed()
                }
            } catch { note(error) }
        }

    case .check(let list, let partSize):
        let text: String
        do {
            text = String(decoding: try FileReader(path: list).readToEnd(), as: UTF8.self)
        } catch {
            note(error)
            return status
        }
        var checked = 0
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            guard let separator = line.range(of: "  ") else {
                warn("\(list): line \(index + 1): expected 'ETAG  NAME'")
                failed()
                continue
            }
            let etag = ETag.unquote(String(line[..<separator.lowerBound]))
            let file = String(line[separator.upperBound...])
            guard ETag.isWellFormed(etag) else {
                warn("\(list): line \(index + 1): '\(etag)' is not an ETag")
                failed()
                continue
            }
            checked += 1
            do {
                let reader = try FileReader(path: file)
                if try ETag.findPartSize(reader, matching: etag, preferred: [partSize]) != nil {
                    if !quiet { output("\(file): OK") }
                } else {
                    output("\(file): FAILED")
                    failed()
                }
            } catch {
                // As md5sum -c: a file that cannot be read is a failed check, and the others go on.
                output("\(file): FAILED open or read")
                warn("\(error)")
                failed()
            }
        }
        if checked == 0 {
            warn("\(list): no properly formatted ETag lines found")
            failed()
        }
    }
    return status
}

/// What `--match` compares files with: an ETag as given, or an object's ETag and size with the part layout its
/// store knows (s3-put's metadata, or the server's first part), so that no part size need be tried.
struct MatchTarget {
    var etag: String
    var size: Int?
    var layout: PartLayout?
    var preferred: Int

    init(_ text: String, s3: S3Configuration.Overrides, preferred: Int = 8 << 20) throws {
        self.preferred = preferred
        guard text.contains("://") else {
            etag = ETag.unquote(text)
            guard ETag.isWellFormed(etag) else {
                throw Failure.usage("invalid ETag '\(text)': expected 32 hex digits, optionally followed by -N, or an object's URL")
            }
            return
        }
        let url = try StorageURL(parsing: text)
        let (store, key) = try Storage.open(url) { try S3Configuration.resolve(s3) }
        let found: ObjectInfo?
        do { found = try store.head(key) } catch is CustomerKeyRefusal {
            throw Failure(.dataError, "\(text): encrypted with a customer key (SSE-C), whose ETag no file gives: compare with s3-verify \(text) --against FILE --sse-c-key KEY")
        }
        guard let info = found else { throw Failure.noInput("\(text): no such object") }
        guard ETag.isWellFormed(info.etag) else {
            throw Failure(.dataError, "\(text): its ETag '\(info.etag)' is not an MD5 (SSE-KMS or SSE-C?): no file can match it")
        }
        etag = info.etag
        size = info.size
        layout = try store.partLayout(of: info)
    }

    /// The part size with which `reader` gives the ETag, or nil when it does not.
    func partSize(matching reader: FileReader) throws -> Int? {
        if let size, let readerSize = reader.size, readerSize != size { return nil }
        guard let layout else { return try ETag.findPartSize(reader, matching: etag, preferred: [preferred]) }
        return try ETag.compute(reader, layout: layout) == etag ? layout.partSize : nil
    }
}

/// A part size as --part-size takes it back: in the largest binary unit that divides it (5500 KiB), else in bytes.
func exactSize(_ bytes: Int) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
        return "\(bytes >> shift) \(unit)"
    }
    return "\(bytes) B"
}

/// Matching tries several part sizes, so a pipe is first copied to a temporary file that can be read again.
func spooled(_ reader: FileReader) throws -> FileReader {
    guard reader.size == nil else { return reader }
    let directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    let path = directory + "/s3-etag-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
    let writer = try AtomicFileWriter(path: path, createDirectories: false)
    var buffer: [UInt8] = []
    while true {
        let n = try reader.read(into: &buffer, count: 4 << 20)
        if n == 0 { break }
        try writer.write(buffer[..<n])
    }
    // Private, and never needed after a crash: no flush.
    try writer.setAttributes(mode: 0o600, mtime: nil)
    try writer.commit(durable: false)
    let copy = try FileReader(path: path)
    try? FileOperations.remove(FilePath(path))  // the open descriptor keeps the bytes until the reader is done
    return copy
}
