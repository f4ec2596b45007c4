import SystemPackage

/// A path inside an archive or a session (`SESSION/raw/a.fits`), `/`-separated, as bytes: names from an
/// instrument PC may be Latin-1, and two names that differ in one byte are two files.
public struct ArchivePath: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(stringLiteral text: String) { self.init(text) }

    /// The path as text when it is valid UTF-8 (nil otherwise).
    public var text: String? { String(validating: bytes, as: UTF8.self) }
    /// True when the bytes are UTF-8, so JSON can carry them as a plain string.
    public var isUTF8: Bool { text != nil }
    /// For people: UTF-8 as it is, any other byte as `\xNN`.
    public var description: String { PathDisplay.text(bytes) }
    public var isEmpty: Bool { bytes.isEmpty }

    public static func < (a: ArchivePath, b: ArchivePath) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    /// The `/`-separated names (empty names dropped).
    public var components: [ArraySlice<UInt8>] { bytes.split(separator: 0x2F) }

    /// `a/b/c` → `a/b`; `c` → empty.
    public var parent: ArchivePath {
        guard let slash = bytes.lastIndex(of: 0x2F) else { return ArchivePath(bytes: []) }
        return ArchivePath(bytes: Array(bytes[..<slash]))
    }

    /// `a/b/c` → `c`.
    public var name: ArchivePath {
        guard let slash = bytes.lastIndex(of: 0x2F) else { return self }
        return ArchivePath(bytes: Array(bytes[(slash + 1)...]))
    }

    /// `a/b/c` → `b/c`: the path below its first folder (inside an archive: below the session folder).
    public var droppingFirstComponent: ArchivePath {
        guard let slash = bytes.firstIndex(of: 0x2F) else { return ArchivePath(bytes: []) }
        return ArchivePath(bytes: Array(bytes[(slash + 1)...]))
    }

    /// `self/child`.
    public func appending(_ child: ArchivePath) -> ArchivePath {
        if isEmpty { return child }
        if child.isEmpty { return self }
        return ArchivePath(bytes: bytes + [0x2F] + child.bytes)
    }

    /// `a/b/c` → `a`, `a/b`: the folders above the path, nearest last.
    public var ancestors: [ArchivePath] {
        var result: [ArchivePath] = []
        var current = parent
        while !current.isEmpty {
            result.append(current)
            current = current.parent
        }
        return result.reversed()
    }
}
