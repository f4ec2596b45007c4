import Foundation
import SystemPackage

/// File names are bytes: a path is built from and taken apart into bytes, never through a `String` that would
/// replace what is not UTF-8.
extension FilePath {
    /// The path from its exact bytes (no terminating NUL).
    public init(bytes: [UInt8]) {
        // One copy with its NUL, read in place (a session of 100,000 files builds several paths per file).
        var terminated = bytes
        terminated.append(0)
        self = terminated.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { FilePath(platformString: $0.baseAddress!) }
        }
    }

    /// The path's exact bytes.
    public var bytes: [UInt8] {
        withPlatformString { pointer in
            Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
        }
    }

    /// `self/relative`, byte for byte.
    public func appending(bytes relative: [UInt8]) -> FilePath {
        relative.isEmpty ? self : FilePath(bytes: bytes + [0x2F] + relative)
    }

    /// The path for messages: UTF-8 as it is, any other byte as `\xNN`.
    public var displayString: String { PathDisplay.text(bytes) }
}

/// Bytes of names and paths, shown to people.
public enum PathDisplay {
    /// UTF-8 as it is; a byte that is not part of valid UTF-8 as `\xNN`, so that two different names never
    /// look the same in a message.
    public static func text(_ bytes: [UInt8]) -> String {
        text(bytes) { "\\x" + String($0, radix: 16, uppercase: true).leftPadded(to: 2) }
    }

    /// `bytes` as UTF-8 text, each byte that is not part of valid UTF-8 written as `escape` says.
    static func text(_ bytes: [UInt8], escaping escape: (UInt8) -> String) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var result = ""
        var rest = bytes[...]
        while !rest.isEmpty {
            // The longest valid UTF-8 prefix goes as text; the byte that stops it, escaped.
            var valid = rest.endIndex
            while valid > rest.startIndex, String(validating: rest[rest.startIndex..<valid], as: UTF8.self) == nil {
                valid = rest.index(before: valid)
            }
            if valid > rest.startIndex {
                result += String(decoding: rest[rest.startIndex..<valid], as: UTF8.self)
                rest = rest[valid...]
            } else {
                result += escape(rest.first!)
                rest = rest.dropFirst()
            }
        }
        return result
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
