import Foundation

/// Writes an archive's index without holding it in memory: each entry is encoded as one JSON line into a spool
/// file as the archive is written, and the index is assembled at the end, when its totals are known. Memory stays
/// flat whatever the number of files. The JSON is written here, not by JSONEncoder, for speed (100,000 entries);
/// `ArchiveIndex.decode` reads it like any other JSON (keys in sorted order, slashes not escaped).
final class IndexWriter {
    private let output: AtomicFileWriter
    private let spool: AtomicFileWriter
    private var count = 0
    /// Entries not yet written to the spool: one write per megabyte, not per entry.
    private var pending: [UInt8] = []

    /// `path`: where the index goes (checked now: it must be writable before any byte of the archive moves).
    init(path: String) throws {
        output = try AtomicFileWriter(path: path, createDirectories: false)
        let directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        spool = try AtomicFileWriter(path: directory + "/s3-archive-entries", createDirectories: false)
    }

    /// The index and its spool, as they are being written (see `AtomicFileWriter.ownFiles`).
    var ownFiles: [FileIdentity] { output.ownFiles + spool.ownFiles }

    func add(_ entry: ArchiveIndex.Entry) throws {
        pending += Array((count == 0 ? "\n    " : ",\n    ").utf8)
        entry.appendJSON(to: &pending)
        count += 1
        if pending.count >= 1 << 20 {
            try spool.write(pending)
            pending.removeAll(keepingCapacity: true)
        }
    }

    /// Writes the index (totals, then the spooled entries) under its real name, flushed.
    func finish(_ totals: ArchiveIndex) throws {
        var head: [UInt8] = []
        head += Array("{\n  \"archive\" : {\n    ".utf8)
        if let crc = totals.archive.crc64nvme {
            head += Array("\"crc64nvme\" : ".utf8)
            JSONText.appendString(crc, to: &head)
            head += Array(",\n    ".utf8)
        }
        if let sha256 = totals.archive.sha256 {
            head += Array("\"sha256\" : ".utf8)
            JSONText.appendString(sha256, to: &head)
            head += Array(",\n    ".utf8)
        }
        head += Array("\"size\" : \(totals.archive.size)\n  },\n  \"bytes\" : \(totals.bytes),\n  \"created\" : ".utf8)
        JSONText.appendString(totals.created, to: &head)
        head += Array(",\n  \"entries\" : [".utf8)
        try output.write(head)
        try spool.write(pending)
        pending = []
        let entries = try spool.readBack()
        var buffer: [UInt8] = []
        while true {
            let n = try entries.read(into: &buffer, count: 1 << 20)
            if n == 0 { break }
            try output.write(buffer[..<n])
        }
        spool.discard()
        var tail = Array("\n  ],\n  \"files\" : \(totals.files),\n  \"format\" : ".utf8)
        JSONText.appendString(totals.format, to: &tail)
        tail += Array(",\n  \"newest_mtime\" : \(JSONText.number(totals.newestMtime)),\n  \"session\" : ".utf8)
        JSONText.appendString(totals.session, to: &tail)
        if let source = totals.source {
            tail += Array(",\n  \"source\" : ".utf8)
            JSONText.appendString(source, to: &tail)
        }
        tail += Array("\n}\n".utf8)
        try output.write(tail)
        try output.commit()
    }
}

extension ArchiveIndex.Entry {
    /// The entry as one JSON object, keys in sorted order (as `ArchiveIndex.encoded` writes them).
    func appendJSON(to out: inout [UInt8]) {
        out += Array("{ \"mode\" : \(mode), \"mtime\" : \(JSONText.number(mtime))".utf8)
        if let offset { out += Array(", \"offset\" : \(offset)".utf8) }
        out += Array(", \"path\" : ".utf8)
        JSONText.appendString(path.description, to: &out)
        if !path.isUTF8 {
            out += Array(", \"path_base64\" : \"\(Data(path.bytes).base64EncodedString())\"".utf8)
        }
        if let sha256 { out += Array(", \"sha256\" : \"\(sha256)\"".utf8) }
        out += Array(", \"size\" : \(size)".utf8)
        if let target {
            out += Array(", \"target\" : ".utf8)
            JSONText.appendString(target.description, to: &out)
            if !target.isUTF8 {
                out += Array(", \"target_base64\" : \"\(Data(target.bytes).base64EncodedString())\"".utf8)
            }
        }
        out += Array(", \"type\" : ".utf8)
        JSONText.appendString(type, to: &out)
        out += Array(" }".utf8)
    }
}

/// JSON text written by hand: strings with the escapes JSON requires (slashes left as they are), numbers as
/// Swift prints them (the shortest form that reads back to the same Double).
enum JSONText {
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(0x22)
        for byte in text.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20: out += Array(String(format: "\\u%04x", byte).utf8)
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}
