import Foundation

/// Reads s3-put records (JSON Lines) from standard input or files; a malformed line is named by its number.
public enum RecordReader {
    public static func read(paths: [String]) throws -> [Record] {
        var records: [Record] = []
        for path in paths.isEmpty ? ["-"] : paths {
            let all = try FileReader(path: path).readToEnd()
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
