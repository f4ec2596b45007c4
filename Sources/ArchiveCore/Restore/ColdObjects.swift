import Foundation

/// Cold objects: readable now, or asked to thaw (once each: never while a restore is under way, never for an
/// object not in cold storage), then waited for together with `--wait`. Returns the keys still frozen (none: all
/// readable); the caller comes back later for those.
func ensureReadable(_ store: ObjectStore, keys: [String], request: RestoreRequest,
                    warn: @Sendable (String) -> Void) throws -> [String] {
    var frozen: [(key: String, storageClass: String)] = []
    for key in keys {
        let url = store.url(of: key)
        guard let info = try store.head(key) else { throw Failure.noInput("\(url): no such object") }
        if info.isReadable { continue }
        if info.restoreInProgress {
            warn("\(url): a restore from \(info.storageClass) is already under way")
        } else if request.dryRun {
            warn("(dry run) would request a restore of \(url) from \(info.storageClass) (tier \(request.tier), \(request.days) days)")
        } else {
            try store.requestRestore(key, days: request.days, tier: request.tier)
            warn("\(url): restore requested from \(info.storageClass) (tier \(request.tier), \(request.days) days)")
            // Some stores (and Expedited retrievals) are done at once.
            if try store.head(key)?.isReadable == true { continue }
        }
        frozen.append((key, info.storageClass))
    }
    if frozen.isEmpty { return [] }
    guard request.wait, !request.dryRun else {
        let deep = frozen.contains { $0.storageClass == "DEEP_ARCHIVE" }
        let hint = deep ? (request.tier == "Bulk" ? "up to 48 hours" : "up to 12 hours")
            : (request.tier == "Expedited" ? "minutes" : request.tier == "Bulk" ? "5-12 hours" : "3-5 hours")
        if !request.dryRun {
            warn("\(frozen.count) object(s) not readable yet (typically \(hint)): run the same command again later, or add --wait")
        }
        return frozen.map(\.key)
    }
    let deadline = Date().addingTimeInterval(request.timeout)
    var pause = 2.0
    var waiting = frozen.map(\.key)
    while !waiting.isEmpty {
        guard Date() < deadline else {
            throw Failure(.tryAgainLater, "\(waiting.count) object(s) still being restored after waiting \(Int(request.timeout)) s: run again later")
        }
        Thread.sleep(forTimeInterval: min(pause, max(0, deadline.timeIntervalSinceNow)))
        pause = min(pause * 2, 900)
        waiting = try waiting.filter { key in
            guard let now = try store.head(key) else { throw Failure.noInput("\(store.url(of: key)): the object disappeared") }
            return !now.isReadable
        }
    }
    return []
}
