import Foundation

/// Reads s3-put records (JSON Lines) from standard input or files; a malformed line is named by its number.
public enum RecordReader {
    public static func read(paths: [String]) throws -> [Record] {
        var records: [Record] = []
        for path in paths.isEmpty ? ["-"] : paths {
            let reader = try FileReader(path: path)
            var all: [UInt8] = []
            var buffer: [UInt8] = []
            while true {
                let n = try reader.read(into: &buffer, count: 1 << 16)
                if n == 0 { break }
                all += buffer[..<n]
            }
            let name = path == "-" ? "standard input" : path
            for (number, line) in all.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }
                if trimmed.isEmpty { continue }
                do {
                    records.append(try JSONDecoder().decode(Record.self, from: Data(trimmed)))
                } catch {
                    throw Failure(.dataError, "\(name): line \(number + 1) is not an s3-put record (JSON with url, size, etag…)")
                }
            }
        }
        return records
    }
}
