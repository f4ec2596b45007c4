import Foundation
import XCTest

/// `s3-report status` reads counts the catalog keeps as it is written (migration v5-status-counts, SQLite
/// triggers). After each write of a realistic sequence on moto (archives and a raw object uploaded, a second
/// generation, an archive replaced, verifications that pass and fail, a refresh moving an archive to
/// DEEP_ARCHIVE, rebuilds replacing a record and filling a new catalog), its Stored and Last verifications tables
/// are compared with the same tables computed by the full queries status ran before v5, kept here as the oracle
/// (run by python3's sqlite3). A catalog at v4 (the v5 tables and triggers dropped) is migrated on opening and
/// gives the same tables.
final class StatusCountsTests: EndToEndCase {
    private var extraBuckets: [(name: String, endpoint: String)] = []

    override func tearDownWithError() throws {
        for bucket in extraBuckets { reportRemoveBucket(bucket.name, endpoint: bucket.endpoint) }
        extraBuckets = []
        try super.tearDownWithError()
    }

    /// The Stored table as status computed it before v5: objects by class and year, joined with the archives and
    /// sessions (first generations' URLs, each once) of the archives whose object is in that group.
    static let storedOracle = """
        SELECT o.class, o.year, o.objects, COALESCE(a.archives, 0), o.bytes, COALESCE(a.sessions, 0)
        FROM (SELECT COALESCE(storage_class, 'STANDARD') AS class, strftime('%Y', stored_at, 'unixepoch') AS year,
                     COUNT(*) AS objects, SUM(size) AS bytes FROM objects GROUP BY 1, 2) o
        LEFT JOIN (SELECT COALESCE(o.storage_class, 'STANDARD') AS class, strftime('%Y', o.stored_at, 'unixepoch') AS year,
                          COUNT(*) AS archives, COUNT(DISTINCT COALESCE(a.first_url, a.url)) AS sessions
                   FROM archives a JOIN objects o ON o.url = a.url GROUP BY 1, 2) a
        ON a.class = o.class AND a.year = o.year ORDER BY 1, 2
        """

    /// The Last verifications table as status computed it before v5: each URL's latest verification, by outcome.
    static let checksOracle = """
        SELECT outcome, COUNT(*), MAX(at)
        FROM (SELECT outcome, MAX(at) AS at FROM verifications GROUP BY url) GROUP BY outcome ORDER BY outcome
        """

    /// status's Stored and Last verifications tables (tsv), as rows of cells.
    private func statusTables(_ catalog: String, file: StaticString = #filePath,
                              line: UInt = #line) throws -> (stored: [[String]], checks: [[String]]) {
        let result = try reportRun(["status", "--catalog", catalog, "--format", "tsv"], file: file, line: line)
        XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
        let tables = reportSplitTSV(result.out, headers: ReportTests.statusHeaders, file: file, line: line) ?? []
        let stored = tables.first?.rows.map { row in
            ["class", "year", "objects", "archives", "bytes", "sessions"].map { row[$0] ?? "" }
        } ?? []
        let checks = tables.last?.rows.map { row in ["outcome", "objects", "last"].map { row[$0] ?? "" } } ?? []
        return (stored, checks)
    }

    /// The same tables from the oracle's queries.
    private func oracleTables(_ catalog: String) -> (stored: [[String]], checks: [[String]]) {
        let checks = (reportSQLite(catalog, Self.checksOracle) ?? [["unreadable"]]).map { row in
            row.count == 3 ? [row[0], row[1], Double(row[2]).map {
                ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: $0))
            } ?? row[2]] : row
        }
        return (reportSQLite(catalog, Self.storedOracle) ?? [["unreadable"]], checks)
    }

    /// status's tables are the oracle's; returns them.
    @discardableResult
    private func assertCounts(_ catalog: String, _ step: String, file: StaticString = #filePath,
                              line: UInt = #line) throws -> (stored: [[String]], checks: [[String]]) {
        let oracle = oracleTables(catalog)
        let status = try statusTables(catalog, file: file, line: line)
        XCTAssertEqual(status.stored, oracle.stored, "Stored, after \(step)", file: file, line: line)
        XCTAssertEqual(status.checks, oracle.checks, "Last verifications, after \(step)", file: file, line: line)
        return status
    }

    func testStatusCountsFollowEveryWriteOfTheCatalog() throws {
        let moto = try env.requireMoto()
        let bucket = uniqueBucketName("counts")
        guard try reportMakeBucket(bucket, endpoint: moto) else { return }
        extraBuckets.append((bucket, moto))
        let catalog = temp.file("counts.sqlite")
        let put = ["--catalog", catalog]

        // Two sessions archived, one raw file stored beside them.
        var records: [String] = []
        for name in ["2024-01-01_x", "2024-01-02_y"] {
            let session = temp.file("counts/\(name)")
            try reportRandomFile(session + "/data.bin", size: 4000)
            guard let stored = try archiveAndPut(session, to: "s3://\(bucket)/raw/\(name).tar", endpoint: moto, extra: put) else { return }
            records.append(stored.line)
        }
        let raw = temp.file("notes.bin")
        try reportRandomFile(raw, size: 700)
        let rawPut = try s3put(["--endpoint-url", moto, "--catalog", catalog, raw, "s3://\(bucket)/notes/notes.bin"], endpoint: false)
        XCTAssertEqual(rawPut.status, 0, rawPut.summary)
        records.append(contentsOf: rawPut.lines)
        var tables = try assertCounts(catalog, "the uploads")
        XCTAssertEqual(tables.stored.map { [$0[2], $0[3], $0[5]] }, [["3", "2", "2"]], "one class, one year")

        // A second generation of x: three archives, still two sessions.
        try reportRandomFile(temp.file("counts/2024-01-01_x") + "/more.bin", size: 1000)
        guard let second = try archiveAndPut(temp.file("counts/2024-01-01_x"), to: "s3://\(bucket)/raw/2024-01-01_x.tar",
                                             endpoint: moto, extra: put) else { return }
        XCTAssertEqual(second.record["generation"] as? Int, 2, second.line)
        records.append(second.line)
        tables = try assertCounts(catalog, "a second generation")
        XCTAssertEqual(tables.stored.map { [$0[2], $0[3], $0[5]] }, [["4", "3", "2"]])

        // y replaced in place (--replace): INSERT OR REPLACE of its object and archive rows.
        try reportRandomFile(temp.file("counts/2024-01-02_y") + "/more.bin", size: 3000)
        guard let inPlace = try archiveAndPut(temp.file("counts/2024-01-02_y"), to: "s3://\(bucket)/raw/2024-01-02_y.tar",
                                               endpoint: moto, extra: put + ["--replace"]) else { return }
        XCTAssertNil(inPlace.record["generation"], inPlace.line)
        records[1] = inPlace.line
        tables = try assertCounts(catalog, "an archive replaced")
        XCTAssertEqual(tables.stored.map { [$0[2], $0[3], $0[5]] }, [["4", "3", "2"]])

        // Verifications: all pass, then the raw file is gone and fails while the archives pass again.
        let input = ProcessInput.data(Data((records.joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(try s3verify(["--catalog", catalog], endpoint: moto, input: input).status, 0)
        try assertCounts(catalog, "verifications that pass")
        XCTAssertEqual(try aws(["s3", "rm", "s3://\(bucket)/notes/notes.bin"], endpoint: moto).status, 0)
        XCTAssertEqual(try s3verify(["--catalog", catalog], endpoint: moto, input: input).status, 1)
        tables = try assertCounts(catalog, "a verification that fails")
        XCTAssertEqual(tables.checks.map { [$0[0], $0[1]] }, [["failed", "1"], ["ok", "3"]])

        // A lifecycle transition of the first generation, recorded by refresh: the session counts in both classes.
        let key = "raw/2024-01-01_x.tar"
        XCTAssertEqual(try aws(["s3api", "copy-object", "--bucket", bucket, "--key", key, "--copy-source", "\(bucket)/\(key)",
                                "--storage-class", "DEEP_ARCHIVE", "--metadata-directive", "COPY"], endpoint: moto).status, 0)
        let refresh = try reportRun(["refresh", "s3://\(bucket)/raw/", "--catalog", catalog, "--endpoint-url", moto])
        XCTAssertEqual(refresh.status, 0, refresh.summary)
        tables = try assertCounts(catalog, "a refresh")
        XCTAssertEqual(tables.stored.map { [$0[0], $0[2], $0[3], $0[5]] },
                       [["DEEP_ARCHIVE", "1", "1", "1"], ["STANDARD", "3", "2", "2"]])

        // Rebuilds: a record of other bytes replaced (a delete, its cascade and an insert); a new catalog filled.
        let stale = "UPDATE objects SET etag = 'stale', storage_class = 'GLACIER' WHERE url = 's3://\(bucket)/raw/2024-01-02_y.tar'"
        XCTAssertNotNil(reportSQLite(catalog, stale, write: true))
        try assertCounts(catalog, "a class changed by the sqlite3 shell")
        let rebuild = ["rebuild", "s3://\(bucket)/raw/", "--endpoint-url", moto, "--format", "tsv", "--catalog"]
        let replaced = try reportRun(rebuild + [catalog])
        XCTAssertEqual(replaced.status, 0, replaced.summary)
        XCTAssertEqual(reportTSV(replaced.out, header: RebuildTests.rebuildHeader)?.rows.first?["replaced"], "1", replaced.out)
        let before = try assertCounts(catalog, "a rebuild replacing a record")
        let fresh = temp.file("rebuilt.sqlite")
        XCTAssertEqual(try reportRun(rebuild + [fresh]).status, 0)
        try assertCounts(fresh, "a rebuild into a new catalog")

        // A catalog of v4 (no counts) migrates on opening, counting what it holds.
        try downgradeToV4(catalog)
        XCTAssertEqual(reportSQLiteCount(catalog, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'stored_counts'"), 0)
        let migrated = try assertCounts(catalog, "opening a v4 catalog")
        XCTAssertEqual(migrated.stored, before.stored)
        XCTAssertEqual(migrated.checks, before.checks)
    }

    /// Drops what v5-status-counts made, and its entry in GRDB's migrations table: the catalog as v4 left it.
    private func downgradeToV4(_ catalog: String) throws {
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            for (kind, name) in db.execute("SELECT type, name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                db.execute("DROP TRIGGER " + name)
            for table in ("stored_counts", "stored_sessions", "latest_verifications", "verification_counts"):
                db.execute("DROP TABLE " + table)
            db.execute("DELETE FROM grdb_migrations WHERE identifier = 'v5-status-counts'")
            """
        let result = try runProcess(which("python3") ?? "python3", ["-c", script, catalog],
                                    environment: ProcessInfo.processInfo.environment, timeout: 30)
        XCTAssertEqual(result.status, 0, result.summary)
    }
}
