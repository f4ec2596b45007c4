/// Path names taken apart by hand: Foundation's NSString path methods trap on some short relative paths
/// (a one-character name) in this toolchain, and these are all the tools need.
public enum Paths {
    private static func trimmed(_ path: String) -> Substring {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        return p
    }

    /// `a/b/c` → `a/b`; `c` → ``; `/c` → `/`.
    public static func parent(_ path: String) -> String {
        let p = trimmed(path)
        guard let slash = p.lastIndex(of: "/") else { return "" }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }

    /// `a/b/c.tar` → `c.tar`.
    public static func name(_ path: String) -> String {
        let p = trimmed(path)
        guard p != "/", let slash = p.lastIndex(of: "/") else { return String(p) }
        return String(p[p.index(after: slash)...])
    }

    /// `a/b/c.tar` → `c`; a leading dot is part of the name, not an extension.
    public static func stem(_ path: String) -> String {
        let n = name(path)
        guard let dot = n.lastIndex(of: "."), dot != n.startIndex else { return n }
        return String(n[..<dot])
    }

    /// `a/b/c.tar` → `tar`.
    public static func ext(_ path: String) -> String {
        let n = name(path)
        guard let dot = n.lastIndex(of: "."), dot != n.startIndex else { return "" }
        return String(n[n.index(after: dot)...])
    }
}
