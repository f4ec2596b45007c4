import Foundation

/// The objects one s3-put run is about to write, locked against other runs that share its catalog, from before
/// it looks for an identical object until their records are written: a second run of the same upload waits for
/// the first, then finds the object stored and skips it, instead of joining the first one's multipart upload
/// through the catalog and failing half-way. The locks are bytes of one file beside the catalog, `CATALOG.lock`,
/// each at an offset drawn from the SHA-256 of a URL; the kernel drops them when the run ends, however it ends.
/// Runs with another catalog, or `--no-catalog`, are not kept apart.
struct DestinationLocks: Sendable {
    let file: FileLock

    /// Above this many URLs a run takes the whole file instead: the kernel keeps one descriptor's byte locks in
    /// a list it walks for each new one, so 100,000 of them cost minutes (measured: 5,000 in 0.13 s, 20,000 in
    /// 3.7 s). Such a run then waits for, and keeps out, every other run sharing the catalog: still safe, coarser.
    static let mostBytes = 2_000

    /// Locks `urls`; says once, through `waiting`, when another run holds one of them and this run waits.
    static func acquire(_ urls: [String], catalog: Catalog, waiting: (String) -> Void) throws -> DestinationLocks {
        let file = try FileLock(path: catalog.path + ".lock")
        if urls.count > mostBytes {
            do {
                if try !file.tryLockAll() {
                    waiting("\(file.path): another run sharing the catalog is writing: waiting for it to end")
                    try file.lockAll()
                }
            } catch {
                file.close()
                throw error
            }
            return DestinationLocks(file: file)
        }
        // One order for every run, so that two runs with overlapping sets never each hold what the other waits for.
        let offsets = Dictionary(urls.map { (offset(of: $0), $0) }, uniquingKeysWith: { first, _ in first })
        var said = false
        do {
            for (offset, url) in offsets.sorted(by: { $0.key < $1.key }) where try !file.tryLock(at: offset) {
                if !said {
                    waiting("\(url): another s3-put is writing it (\(file.path)): waiting for it to end")
                    said = true
                }
                try file.lock(at: offset)
            }
        } catch {
            file.close()
            throw error
        }
        return DestinationLocks(file: file)
    }

    func release() { file.close() }

    /// Where a URL's lock lives in the file: 62 bits of its SHA-256, a positive `off_t`.
    static func offset(of url: String) -> Int64 {
        let digest = Digest.sha256(Array(url.utf8))
        let bits = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int64(bitPattern: bits >> 2)
    }
}

/// What s3-put does, with a catalog, before it writes anything: waits for the other runs writing the same
/// objects, then settles the uploads earlier runs left in progress there. Nil without a catalog.
func holdDestinations(_ items: [PutItem], store: ObjectStore, catalog: Catalog?, options: UploadOptions,
                      warn: (String) -> Void) throws -> DestinationLocks? {
    guard let catalog else { return nil }
    let locks = try DestinationLocks.acquire(items.map(\.url.description), catalog: catalog, waiting: warn)
    do {
        try settleLeftoverUploads(items, store: store, catalog: catalog, options: options, warn: warn)
    } catch {
        locks.release()
        throw error
    }
    return locks
}
