import GRDB

extension Catalog {
    /// `s3-report status` on a million objects in well under a second: its Stored and Last verifications tables
    /// are counts kept as the catalog is written, by triggers, so that every writer (s3-put, s3-verify, refresh,
    /// rebuild, and a person with the sqlite3 shell) keeps them right without knowing of them. Grouping a million
    /// rows at each report took 2.3 s, most of it joining each archive with its object.
    ///
    /// - stored_counts: per class and year, objects and bytes, and archives and sessions (the first generations'
    ///   URLs, each once) of the archives whose object is in that group.
    /// - stored_sessions: per class, year and first generation's URL, its archives there; a row exists only while
    ///   it counts at least one, so each row is one session of stored_counts.
    /// - latest_verifications: each URL's latest verification (of two at the same instant, the outcome first in
    ///   text order, as the query it replaces chose); verification_counts: how many URLs each outcome is latest of.
    ///
    /// An archive counts while both its row and its object's row exist. When an object is deleted its archive is
    /// uncounted before the delete (the cascade that removes the archive then finds no object); INSERT OR REPLACE
    /// deletes count only because the catalog's connections set recursive_triggers (`Catalog.init`).
    static func registerStatusCounts(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-status-counts") { db in
            try db.execute(sql: """
                CREATE TABLE stored_counts (
                    class TEXT NOT NULL, year TEXT NOT NULL,
                    objects INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
                    archives INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (class, year)
                ) WITHOUT ROWID;
                CREATE TABLE stored_sessions (
                    class TEXT NOT NULL, year TEXT NOT NULL, first_url TEXT NOT NULL, archives INTEGER NOT NULL,
                    PRIMARY KEY (class, year, first_url)
                ) WITHOUT ROWID;
                CREATE TABLE latest_verifications (url TEXT PRIMARY KEY, at REAL NOT NULL, outcome TEXT NOT NULL) WITHOUT ROWID;
                CREATE INDEX latest_verifications_outcome ON latest_verifications(outcome, at);
                CREATE TABLE verification_counts (outcome TEXT PRIMARY KEY, objects INTEGER NOT NULL) WITHOUT ROWID;

                INSERT INTO stored_counts (class, year, objects, bytes)
                    SELECT COALESCE(storage_class, 'STANDARD'), COALESCE(strftime('%Y', stored_at, 'unixepoch'), ''), COUNT(*), SUM(size)
                    FROM objects GROUP BY 1, 2;
                INSERT INTO stored_sessions (class, year, first_url, archives)
                    SELECT COALESCE(o.storage_class, 'STANDARD'), COALESCE(strftime('%Y', o.stored_at, 'unixepoch'), ''),
                           COALESCE(a.first_url, a.url), COUNT(*)
                    FROM archives a INDEXED BY archives_url_first CROSS JOIN objects o INDEXED BY objects_url_class ON o.url = a.url
                    GROUP BY 1, 2, 3;
                UPDATE stored_counts SET (archives, sessions) = (SELECT SUM(s.archives), COUNT(*) FROM stored_sessions s
                    WHERE s.class = stored_counts.class AND s.year = stored_counts.year)
                    WHERE EXISTS (SELECT 1 FROM stored_sessions s WHERE s.class = stored_counts.class AND s.year = stored_counts.year);
                INSERT INTO latest_verifications (url, at, outcome)
                    SELECT url, MAX(at), outcome FROM verifications GROUP BY url;
                INSERT INTO verification_counts (outcome, objects) SELECT outcome, COUNT(*) FROM latest_verifications GROUP BY outcome;

                CREATE TRIGGER objects_counted AFTER INSERT ON objects BEGIN
                    \(Self.countNewObject)
                END;
                CREATE TRIGGER objects_uncounted BEFORE DELETE ON objects BEGIN
                    \(Self.uncountOldObject)
                END;
                CREATE TRIGGER objects_recounted AFTER UPDATE OF url, storage_class, stored_at, size ON objects
                WHEN OLD.url IS NOT NEW.url OR OLD.storage_class IS NOT NEW.storage_class OR OLD.stored_at IS NOT NEW.stored_at
                     OR OLD.size IS NOT NEW.size BEGIN
                    \(Self.uncountOldObject)
                    \(Self.countNewObject)
                END;
                CREATE TRIGGER archives_counted AFTER INSERT ON archives BEGIN
                    \(Self.countNewArchive)
                END;
                CREATE TRIGGER archives_uncounted AFTER DELETE ON archives BEGIN
                    \(Self.uncountOldArchive)
                END;
                CREATE TRIGGER archives_recounted AFTER UPDATE OF url, first_url ON archives
                WHEN OLD.url IS NOT NEW.url OR OLD.first_url IS NOT NEW.first_url BEGIN
                    \(Self.uncountOldArchive)
                    \(Self.countNewArchive)
                END;
                CREATE TRIGGER stored_sessions_added AFTER INSERT ON stored_sessions BEGIN
                    INSERT INTO stored_counts (class, year, archives, sessions) VALUES (NEW.class, NEW.year, NEW.archives, 1)
                        ON CONFLICT (class, year) DO UPDATE SET archives = archives + excluded.archives, sessions = sessions + 1;
                END;
                CREATE TRIGGER stored_sessions_changed AFTER UPDATE OF archives ON stored_sessions BEGIN
                    UPDATE stored_counts SET archives = archives + NEW.archives - OLD.archives, sessions = sessions - (NEW.archives = 0)
                        WHERE class = NEW.class AND year = NEW.year;
                    DELETE FROM stored_sessions WHERE class = NEW.class AND year = NEW.year AND first_url = NEW.first_url AND archives = 0;
                END;
                CREATE TRIGGER verifications_counted AFTER INSERT ON verifications BEGIN
                    INSERT INTO latest_verifications (url, at, outcome) VALUES (NEW.url, NEW.at, NEW.outcome)
                        ON CONFLICT (url) DO UPDATE SET at = excluded.at, outcome = excluded.outcome
                        WHERE excluded.at > at OR (excluded.at = at AND excluded.outcome < outcome);
                END;
                CREATE TRIGGER verifications_uncounted AFTER DELETE ON verifications BEGIN
                    DELETE FROM latest_verifications WHERE url = OLD.url;
                    INSERT INTO latest_verifications (url, at, outcome)
                        SELECT url, MAX(at), outcome FROM verifications WHERE url = OLD.url GROUP BY url;
                END;
                CREATE TRIGGER latest_verifications_added AFTER INSERT ON latest_verifications BEGIN
                    INSERT INTO verification_counts (outcome, objects) VALUES (NEW.outcome, 1)
                        ON CONFLICT (outcome) DO UPDATE SET objects = objects + 1;
                END;
                CREATE TRIGGER latest_verifications_changed AFTER UPDATE OF outcome ON latest_verifications
                WHEN OLD.outcome IS NOT NEW.outcome BEGIN
                    UPDATE verification_counts SET objects = objects - 1 WHERE outcome = OLD.outcome;
                    INSERT INTO verification_counts (outcome, objects) VALUES (NEW.outcome, 1)
                        ON CONFLICT (outcome) DO UPDATE SET objects = objects + 1;
                END;
                CREATE TRIGGER latest_verifications_removed AFTER DELETE ON latest_verifications BEGIN
                    UPDATE verification_counts SET objects = objects - 1 WHERE outcome = OLD.outcome;
                END;
                """)
        }
    }

    // The statements that count a row in (NEW) or out (OLD), each used by the insert or delete trigger of its
    // table and by its update trigger, which does both.
    private static let countNewObject = """
            INSERT INTO stored_counts (class, year, objects, bytes)
                VALUES (COALESCE(NEW.storage_class, 'STANDARD'), COALESCE(strftime('%Y', NEW.stored_at, 'unixepoch'), ''), 1, NEW.size)
                ON CONFLICT (class, year) DO UPDATE SET objects = objects + 1, bytes = bytes + excluded.bytes;
            INSERT INTO stored_sessions (class, year, first_url, archives)
                SELECT COALESCE(NEW.storage_class, 'STANDARD'), COALESCE(strftime('%Y', NEW.stored_at, 'unixepoch'), ''),
                       COALESCE(a.first_url, a.url), 1 FROM archives a WHERE a.url = NEW.url
                ON CONFLICT (class, year, first_url) DO UPDATE SET archives = archives + 1;
        """
    private static let uncountOldObject = """
            UPDATE stored_counts SET objects = objects - 1, bytes = bytes - OLD.size
                WHERE class = COALESCE(OLD.storage_class, 'STANDARD') AND year = COALESCE(strftime('%Y', OLD.stored_at, 'unixepoch'), '');
            UPDATE stored_sessions SET archives = archives - 1
                WHERE class = COALESCE(OLD.storage_class, 'STANDARD') AND year = COALESCE(strftime('%Y', OLD.stored_at, 'unixepoch'), '')
                  AND first_url = (SELECT COALESCE(a.first_url, a.url) FROM archives a WHERE a.url = OLD.url);
        """
    private static let countNewArchive = """
            INSERT INTO stored_sessions (class, year, first_url, archives)
                SELECT COALESCE(o.storage_class, 'STANDARD'), COALESCE(strftime('%Y', o.stored_at, 'unixepoch'), ''),
                       COALESCE(NEW.first_url, NEW.url), 1 FROM objects o WHERE o.url = NEW.url
                ON CONFLICT (class, year, first_url) DO UPDATE SET archives = archives + 1;
        """
    private static let uncountOldArchive = """
            UPDATE stored_sessions SET archives = archives - 1
                WHERE first_url = COALESCE(OLD.first_url, OLD.url) AND (class, year) =
                      (SELECT COALESCE(o.storage_class, 'STANDARD'), COALESCE(strftime('%Y', o.stored_at, 'unixepoch'), '')
                       FROM objects o WHERE o.url = OLD.url);
        """
}
