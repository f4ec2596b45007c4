import Foundation

/// Whether `--include` selects a path: the whole path, its last name, or the path below its first folder (an
/// archive's session folder) matches one of the patterns; no pattern selects everything. Archive members and
/// objects that are one file each are selected alike.
func isIncluded(_ path: ArchivePath, by patterns: [String]) -> Bool {
    patterns.isEmpty || patterns.contains { pattern in
        Glob.matches(pattern, path.bytes) || Glob.matches(pattern, path.name.bytes)
            || Glob.matches(pattern, path.droppingFirstComponent.bytes)
    }
}

/// The folder all the keys share (up to and with its last `/`), "" when they share none: records are restored
/// under their keys less it, as `aws s3 cp --recursive` and s5cmd restore a prefix's objects under their keys
/// less the prefix; one record alone goes under its last name.
func commonFolder(of keys: [String]) -> String {
    guard var common = keys.first.map({ Array($0.utf8) }) else { return "" }
    for key in keys.dropFirst() {
        common = Array(zip(common, key.utf8).prefix { $0 == $1 }.map(\.0))
    }
    guard let slash = common.lastIndex(of: UInt8(ascii: "/")) else { return "" }
    return String(decoding: common[...slash], as: UTF8.self)
}

/// Never two objects into one file: each object that is one file claims its path under `--to` in the order the
/// URLs and records were given; an object whose path is already claimed (two prefixes, two buckets, two records
/// that differ only above their common folder) is planned as a failure naming both, and the first is restored.
func placeObjects(_ planned: [PlannedSource]) -> [PlannedSource] {
    var claimed: [String: String] = [:]
    func collision(_ relative: String, _ url: String) -> PlannedSource? {
        guard let first = claimed[relative] else {
            claimed[relative] = url
            return nil
        }
        return .failed(url: url, name: Paths.name(relative), label: "Object", error: Failure.check(
            "\(url): not restored: \(first) is restored to the same path \(relative); restore one of them with another --to"))
    }
    var placed: [PlannedSource] = []
    for source in planned {
        switch source {
        case .source(.object(let url, _, let relative, _)):
            placed.append(collision(relative, url.description) ?? source)
        case .source(.objects(let prefix, let items, let folders)):
            var kept: [(key: String, relativePath: String, info: ObjectInfo?)] = []
            var refused: [PlannedSource] = []
            for item in items {
                let url = prefix.with(key: prefix.key + item.relativePath).description
                if let failure = collision(item.relativePath, url) { refused.append(failure) } else { kept.append(item) }
            }
            if !kept.isEmpty || !folders.isEmpty { placed.append(.source(.objects(prefix: prefix, items: kept, folders: folders))) }
            placed += refused
        default:
            placed.append(source)
        }
    }
    return placed
}
