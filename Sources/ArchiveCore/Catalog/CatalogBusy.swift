import Foundation
import GRDB
import Synchronization

/// The catalog stayed locked by another program (another tool's long write, a `sqlite3` shell inside a
/// transaction) for longer than a tool waits: exit 74 with one line naming it, never SQLite's own words.
public struct CatalogBusy: ReportableError {
    public let path: String
    public let waited: TimeInterval

    public var exitStatus: ExitStatus { .ioError }

    public var description: String {
        "\(path): the catalog stayed locked by another program for \(Int(waited.rounded())) s: run again once it is done, "
            + "or wait longer (\(Catalog.timeoutVariable)=SECONDS)"
    }

    /// SQLite's busy or locked error, as the catalog this process opened says it; nil for any other error.
    public static func recognizing(_ error: Error) -> CatalogBusy? {
        if let busy = error as? CatalogBusy { return busy }
        guard let database = error as? DatabaseError,
              database.resultCode == .SQLITE_BUSY || database.resultCode == .SQLITE_LOCKED else { return nil }
        let opened = Catalog.lastOpened.withLock { $0 }
        return CatalogBusy(path: opened?.path ?? Catalog.defaultPath(), waited: opened?.wait ?? Catalog.defaultWait)
    }
}

extension Catalog {
    static let timeoutVariable = "S3_ARCHIVE_CATALOG_TIMEOUT"
    static let defaultWait: TimeInterval = 30

    /// The catalog opened last, and its wait: a busy error can surface from any write, far from the open, and
    /// must still name its catalog. The tools open one.
    static let lastOpened = Mutex<(path: String, wait: TimeInterval)?>(nil)

    /// How long a catalog locked by another program is waited for, `S3_ARCHIVE_CATALOG_TIMEOUT` seconds (30 when
    /// unset), and remembered with `path` for the message should the wait run out.
    static func busyTimeout(opening path: String,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TimeInterval {
        var wait = defaultWait
        if let text = environment[timeoutVariable], !text.isEmpty {
            guard let seconds = TimeInterval(text), seconds >= 0, seconds.isFinite else {
                throw Failure.usage("\(timeoutVariable)=\(text): give the seconds to wait for a busy catalog, e.g. 30")
            }
            wait = seconds
        }
        lastOpened.withLock { $0 = (path, wait) }
        return wait
    }

    /// Runs `body` (a catalog write), a busy error from it thrown as this catalog's `CatalogBusy`: the failure of
    /// an upload it stops then names the catalog, not SQLite's statement.
    func sayingBusy<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch where CatalogBusy.recognizing(error) != nil {
            throw CatalogBusy(path: path, waited: CatalogBusy.recognizing(error)?.waited ?? Self.defaultWait)
        }
    }
}
