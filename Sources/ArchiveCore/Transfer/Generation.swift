import Foundation

/// The keys of a session's archive generations. A changed session is archived again beside its first archive,
/// never over it: generation 1 is the key the template gives (`raw/2024/S.tar`), generation N ≥ 2 the same key
/// with `.genN` before its last extension (`raw/2024/S.gen2.tar`; no extension: `raw/2024/S.gen2`). The index of
/// each goes beside it as `KEY.index.json`, as for the first.
public enum Generation {
    /// The key of generation `number` of the archive whose first key is `base`.
    public static func key(_ base: String, number: Int) -> String {
        guard number > 1 else { return base }
        let (stem, ext) = split(base)
        return stem + ".gen\(number)" + ext
    }

    /// The generation `key` is of the archive whose first key is `base`, or nil when it is none of them.
    public static func number(of key: String, base: String) -> Int? {
        if key == base { return 1 }
        let (stem, ext) = split(base)
        guard key.hasPrefix(stem + ".gen"), key.hasSuffix(ext), key.count > stem.count + 4 + ext.count else { return nil }
        let digits = key.dropFirst(stem.count + 4).dropLast(ext.count)
        guard digits.first != "0", digits.allSatisfy(\.isASCII), let n = Int(digits), n >= 2 else { return nil }
        return n
    }

    /// The prefix every generation's key starts with: what a listing of them asks for.
    public static func listingPrefix(_ base: String) -> String { split(base).stem }

    /// The first key of the archive whose generation `number` is at `key`, or nil when `key` is no such
    /// generation. Both readings of a key are tried (`S.gen2.tar` from `S.tar`; `S.gen2` from `S`) and the one
    /// that gives `key` back wins.
    public static func firstKey(of key: String, number: Int) -> String? {
        if number == 1 { return key }
        guard number > 1 else { return nil }
        let (stem, ext) = split(key)
        let suffix = ".gen\(number)"
        let candidates = [stem.hasSuffix(suffix) ? String(stem.dropLast(suffix.count)) + ext : nil,
                          ext == suffix ? stem : nil]
        return candidates.compactMap { $0 }.first { self.key($0, number: number) == key }
    }

    /// The generations stored of the archive whose first key is `base`, oldest first, from one listing. Each
    /// generation's index (`KEY.index.json`) lists under the same prefix but is no generation itself.
    public static func stored(_ base: String, in store: ObjectStore) throws -> [(number: Int, object: ObjectInfo)] {
        try store.list(prefix: listingPrefix(base))
            .compactMap { object in number(of: object.key, base: base).map { ($0, object) } }
            .sorted { $0.number < $1.number }
    }

    /// `raw/2024/S.tar` → (`raw/2024/S`, `.tar`): the last extension of the last path component only.
    private static func split(_ key: String) -> (stem: String, ext: String) {
        let name = key.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return (key, "") }
        let ext = String(name[dot...])
        return (String(key.dropLast(ext.count)), ext)
    }
}
