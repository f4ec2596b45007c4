import Foundation

/// The exact bytes of this process's arguments. Swift reads argv as UTF-8 and puts U+FFFD where a byte is not, so
/// an argument naming a Latin-1 folder (`caf\xE9_s`) would name another; a tool looks up here the bytes of an
/// argument it takes as a path or a name. `--option=VALUE` arguments are looked up by their VALUE too.
public enum ArgumentBytes {
    /// The bytes the argument read as `text` was given with: its own when they were not UTF-8, else text's.
    public static func of(_ text: String) -> [UInt8] { table.bytes[text] ?? Array(text.utf8) }

    /// Two arguments that read the same once their bytes that are not UTF-8 are replaced, so that `of` cannot
    /// tell them apart: what to say about them, or nil.
    public static var ambiguity: String? { table.ambiguous.first.map { "arguments \($0) read the same once their bytes that are not UTF-8 are replaced: give them in separate runs" } }

    private struct Table: Sendable {
        var bytes: [String: [UInt8]] = [:]
        var ambiguous: [String] = []
    }

    private static let table: Table = {
        let given = (1..<Int(CommandLine.argc)).compactMap { CommandLine.unsafeArgv[$0].map { Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map(UInt8.init(bitPattern:)) } }
        // Each argument, and the VALUE of each `--option=VALUE`.
        var candidates: [[UInt8]] = []
        for argument in given {
            candidates.append(argument)
            if argument.first == 0x2D, let equals = argument.firstIndex(of: 0x3D) { candidates.append(Array(argument[(equals + 1)...])) }
        }
        var table = Table()
        let plain = Set(candidates.compactMap { String(validating: $0, as: UTF8.self) })
        for bytes in candidates where String(validating: bytes, as: UTF8.self) == nil {
            let text = String(decoding: bytes, as: UTF8.self)
            if plain.contains(text) || (table.bytes[text].map { $0 != bytes } ?? false) {
                table.ambiguous.append("'\(text)'")
            }
            table.bytes[text] = bytes
        }
        return table
    }()
}
