import Foundation
import GRDB

/// What `s3-report refresh` is asked: the objects the catalog holds (under `url`, when given) brought up to date.
public struct RefreshRequest: Sendable {
    /// `s3://bucket/prefix` or `file:///path`: only the catalog's objects under it, from one listing of it. Nil:
    /// every object, from one listing per bucket of the prefix all its objects share.
    public var url: String?
    public var catalogPath: String
    public var s3: S3Configuration.Overrides
    /// HEADs at once, for the restore state of cold objects.
    public var concurrency = 8

    public init(url: String?, catalogPath: String, s3: S3Configuration.Overrides) {
        self.url = url
        self.catalogPath = catalogPath
        self.s3 = s3
    }
}

/// What a refresh changed, one row per object whose class or restore state moved, and what it could not do.
public struct RefreshSummary: Sendable {
    public var table = Table(columns: ["url", "was", "class", "restore"], title: "Refreshed")
    /// Objects the catalog holds that the store no longer has, or has with other bytes (each said on stderr).
    public var problems = 0
}

/// Brings the storage class and restore state of the catalog's objects up to date from the store: the class
/// from ListObjectsV2, which lifecycle transitions change behind our back, and the restore state from a HEAD of
/// each cold (GLACIER, DEEP_ARCHIVE) object, which a listing does not give. An object gone from the store, or
/// holding another ETag, is said through `warn` and left as the catalog has it: `rebuild` records what is there.
public func refreshCatalog(_ request: RefreshRequest, warn: @escaping @Sendable (String) -> Void) throws -> RefreshSummary {
    let catalog = try Catalog(path: request.catalogPath, create: false)
    defer { catalog.close() }
    let scope = try request.url.map { try StorageURL(parsing: $0) }
    let held = try catalog.sayingBusy { try catalog.heldObjects(under: scope?.description) }
    let stores = OpenStores(s3: request.s3)
    var summary = RefreshSummary()
    var seen: [(held: HeldObject, now: ObjectInfo)] = []
    for (location, objects) in Dictionary(grouping: held, by: \.location) {
        let first = try StorageURL(parsing: objects[0].url)
        let store = try stores.store(for: first)
        let prefix = scope.map { Storage.key(of: $0) } ?? sharedFolder(objects.map { Storage.key(of: $0.parsed) })
        let listed = Dictionary(try store.list(prefix: prefix).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for object in objects.sorted(by: { $0.url < $1.url }) {
            guard let now = listed[Storage.key(of: object.parsed)] else {
                warn("\(object.url): not in \(location) any more: left as the catalog has it")
                summary.problems += 1
                continue
            }
            guard now.etag == object.etag else {
                warn("\(object.url): the store holds other bytes (ETag \(now.etag), the catalog says \(object.etag)): run s3-report rebuild to record them")
                summary.problems += 1
                continue
            }
            seen.append((object, now))
        }
    }
    let refreshed = try withRestoreStates(seen, stores: stores, concurrency: request.concurrency)
    var changes: [(url: String, storageClass: String, restore: String?)] = []
    for (object, now) in refreshed where now.storageClass != object.storageClass || now.restore != object.restore {
        changes.append((object.url, now.storageClass, now.restore))
        summary.table.rows.append([object.url, object.storageClass, now.storageClass, RestoreState.describe(now.restore)])
    }
    try catalog.sayingBusy { try catalog.recordRefreshed(changes, checked: refreshed.map(\.held.url)) }
    return summary
}

/// Each cold object's HEAD (its restore state; its class as the store says it now), `concurrency` at once; the
/// others as listed, without a restore state (a directory says "restored" of everything, which means nothing).
/// The first HEAD that fails fails the refresh: nothing is written from a half-asked store.
private func withRestoreStates(_ objects: [(held: HeldObject, now: ObjectInfo)], stores: OpenStores,
                               concurrency: Int) throws -> [(held: HeldObject, now: ObjectInfo)] {
    var result = objects
    for index in result.indices where !result[index].now.isCold { result[index].now.restore = nil }
    let heads = try objects.indices.filter { objects[$0].now.isCold }.map { index in
        (index, try stores.store(for: objects[index].held.parsed), Storage.key(of: objects[index].held.parsed))
    }
    guard !heads.isEmpty else { return result }
    var thrown: Error?
    let engine = TransferEngine(concurrency: concurrency)
    engine.map(heads, { (index, store, key) in (index, Result { try store.head(key) }) },
               shouldContinue: { thrown == nil }) { _, answer in
        switch answer.1 {
        case .success(let info?): result[answer.0].now = info
        case .success(nil): break
        case .failure(let error): thrown = thrown ?? error
        }
    }
    if let thrown { throw thrown }
    return result
}

/// `raw/2024/a.tar` and `raw/2023/b.tar` → `raw/`: the folder every key is under, for one listing of them all.
func sharedFolder(_ keys: [String]) -> String {
    guard var shared = keys.first else { return "" }
    for key in keys.dropFirst() {
        shared = String(zip(shared, key).prefix { $0 == $1 }.map(\.0))
    }
    guard let slash = shared.lastIndex(of: "/") else { return "" }
    return String(shared[...slash])
}

/// An object the catalog holds, as refresh compares it with the store.
struct HeldObject: Sendable {
    var url: String
    var parsed: StorageURL
    var etag: String
    var storageClass: String
    var restore: String?

    /// `s3://bucket` or `file://`: objects listed together.
    var location: String { parsed.bucket.map { "s3://" + $0 } ?? "file://" }
}

extension Catalog {
    /// The objects the catalog holds, under `prefix` (a URL) when given.
    func heldObjects(under prefix: String?) throws -> [HeldObject] {
        try database.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT url, etag, COALESCE(storage_class, 'STANDARD') AS class, restore FROM objects
                WHERE ? IS NULL OR substr(url, 1, length(?)) = ?
                """, arguments: [prefix, prefix, prefix])
            return rows.compactMap { row in
                guard let parsed = try? StorageURL(parsing: row["url"]) else { return nil }
                return HeldObject(url: row["url"], parsed: parsed, etag: row["etag"], storageClass: row["class"],
                                  restore: row["restore"])
            }
        }
    }

    /// Writes the new classes and restore states, and when each object was checked, in one transaction.
    func recordRefreshed(_ changes: [(url: String, storageClass: String, restore: String?)], checked: [String]) throws {
        let now = Date().timeIntervalSince1970
        try database.write { db in
            let update = try db.makeStatement(sql: "UPDATE objects SET storage_class = ?, restore = ? WHERE url = ?")
            for change in changes {
                update.setUncheckedArguments([change.storageClass, change.restore, change.url])
                try update.execute()
            }
            let stamp = try db.makeStatement(sql: "UPDATE objects SET refreshed_at = ? WHERE url = ?")
            for url in checked {
                stamp.setUncheckedArguments([now, url])
                try stamp.execute()
            }
        }
    }
}

/// S3's `x-amz-restore` in the users' words.
public enum RestoreState {
    /// `restoring`, `restored until 2026-12-07T00:00:00Z`, or empty for no restore (or a store that says none).
    public static func describe(_ header: String?) -> String {
        guard let header else { return "" }
        if header.contains("ongoing-request=\"true\"") { return "restoring" }
        guard header.contains("ongoing-request=\"false\"") else { return header }
        guard let start = header.range(of: "expiry-date=\"")?.upperBound,
              let end = header[start...].firstIndex(of: "\"") else { return "restored" }
        let text = String(header[start..<end])
        return "restored until " + (HTTPDate.parse(text).map(UTC.iso8601) ?? text)
    }
}
