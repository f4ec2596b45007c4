import Foundation
import XCTest

/// Many hosts, one bucket. Each host is simulated on this machine by its own ROOT, catalog, lock, log and metrics
/// file, given to bin/s3-nightly in its own config file; the bucket is shared (SeaweedFS, and moto). Disjoint
/// sessions: each host's sessions view is right and a rebuild into a third catalog sees both hosts'. Two hosts
/// started at once on the same session: the same bytes are stored once (the other run finds them there, or is
/// refused by the conditional write and postponed), other bytes become a second generation; nothing is replaced.
/// And the README's sharding pipeline, run as it is written there.
final class ManyHostsTests: EndToEndCase {
    private var extraBuckets: [(name: String, endpoint: String)] = []

    override func tearDownWithError() throws {
        for bucket in extraBuckets { reportRemoveBucket(bucket.name, endpoint: bucket.endpoint) }
        extraBuckets = []
        try super.tearDownWithError()
    }

    /// One acquisition host: its sessions folder, catalog and nightly settings.
    struct Host {
        let name: String
        let root: String
        let catalog: String
        let config: String
        let metrics: String
    }

    /// A host whose nightly backs ROOT up into `dest` on `endpoint`.
    private func makeHost(_ name: String, dest: String, endpoint: String) throws -> Host {
        let host = Host(name: name, root: temp.file("\(name)-root"), catalog: temp.file("\(name).sqlite"),
                        config: temp.file("\(name).conf"), metrics: temp.file("\(name).prom"))
        try FileManager.default.createDirectory(atPath: host.root, withIntermediateDirectories: true)
        try reportWrite(host.config, """
            ROOT=\(host.root)
            DEST=\(dest)
            ENDPOINT_URL=\(endpoint)
            CATALOG=\(host.catalog)
            LOCK=\(temp.file("\(name).lock"))
            LOG=\(temp.file("\(name).log"))
            METRICS=\(host.metrics)
            BIN=\(env.binDirectory)

            """)
        return host
    }

    /// A bucket on `endpoint` (SeaweedFS when nil: the class's, shared by its tests), and a prefix of this test's own.
    private func sharedBucket(_ endpoint: String?) throws -> (bucket: String, endpoint: String, prefix: String)? {
        let prefix = "\(name.filter(\.isLetter))/raw/"
        guard let endpoint else { return (try bucket, env.endpoint, prefix) }
        let bucket = uniqueBucketName("hosts")
        guard try reportMakeBucket(bucket, endpoint: endpoint) else { return nil }
        extraBuckets.append((bucket, endpoint))
        return (bucket, endpoint, prefix)
    }

    /// The hosts' nightlies, all started at once; each one's exit status, stdout and stderr.
    private func nightliesAtOnce(_ hosts: [Host], file: StaticString = #filePath,
                                 line: UInt = #line) throws -> [(status: Int32, out: String, err: String)] {
        let script = #"""
            nightly=$0 pids=()
            for config in "$@"; do "$nightly" --config "$config" >"$config.out" 2>"$config.err" & pids+=($!); done
            for pid in "${pids[@]}"; do wait "$pid"; echo $?; done
            """#
        let run = try runProcess("/bin/bash", ["-c", script, reportPackageRoot + "/bin/s3-nightly"] + hosts.map(\.config),
                                 environment: reportEnvironment(), timeout: 240)
        XCTAssertFalse(run.timedOut, run.summary, file: file, line: line)
        assertNoSecret(run, env.secretKey, file: file, line: line)
        let statuses = run.lines.compactMap { Int32($0) }
        XCTAssertEqual(statuses.count, hosts.count, run.summary, file: file, line: line)
        return zip(hosts, statuses).map { host, status in
            (status, (try? String(contentsOfFile: host.config + ".out", encoding: .utf8)) ?? "",
             (try? String(contentsOfFile: host.config + ".err", encoding: .utf8)) ?? "")
        }
    }

    private func nightly(_ host: Host, file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        try reportNightly(["--config", host.config], file: file, line: line)
    }

    /// The session counts of the host's last run, by outcome, from its metrics file.
    private func outcomes(_ host: Host, file: StaticString = #filePath, line: UInt = #line) -> [String: Int] {
        let text = (try? String(contentsOfFile: host.metrics, encoding: .utf8)) ?? ""
        var counts: [String: Int] = [:]
        for row in text.split(separator: "\n") where row.hasPrefix("s3_archive_nightly_sessions{outcome=\"") {
            let fields = row.dropFirst("s3_archive_nightly_sessions{outcome=\"".count).split(separator: "\"")
            if let outcome = fields.first, let value = fields.last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces.union(["}"]))) }) {
                counts[String(outcome)] = value
            }
        }
        XCTAssertFalse(counts.isEmpty, "\(host.metrics): \(text)", file: file, line: line)
        return counts
    }

    private func names(_ host: Host, _ filter: String, catalog: String? = nil) throws -> String {
        let result = try reportRun(["sessions", host.root, "--catalog", catalog ?? host.catalog, "--format", "names", filter])
        XCTAssertEqual(result.status, 0, result.summary)
        return result.out
    }

    /// SESSION under ROOT/YEAR: random data and a note naming the host.
    private func addSession(_ host: Host, _ year: String, _ session: String, size: Int = 3000) throws {
        try reportRandomFile("\(host.root)/\(year)/\(session)/raw/data.bin", size: size)
        try reportWrite("\(host.root)/\(year)/\(session)/meta.txt", "\(session) on \(host.name)\n")
    }

    // MARK: disjoint sessions

    private func assertDisjointHostsShareOneBucket(endpoint: String?, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let (bucket, url, raw) = try sharedBucket(endpoint) else { return }
        let dest = "s3://\(bucket)/\(raw){year}/{session}.tar"
        let a = try makeHost("pc-a", dest: dest, endpoint: url), b = try makeHost("pc-b", dest: dest, endpoint: url)
        try addSession(a, "2024", "2024-01-01_a1")
        try addSession(a, "2024", "2024-02-02_a2")
        try addSession(b, "2024", "2024-01-05_b1")
        try addSession(b, "2023", "2023-07-07_b2")

        let runs = try nightliesAtOnce([a, b], file: file, line: line)
        for run in runs { XCTAssertEqual([String(run.status), run.out, run.err], ["0", "", ""], file: file, line: line) }
        let keys = ["2024/2024-01-01_a1", "2024/2024-02-02_a2", "2024/2024-01-05_b1", "2023/2023-07-07_b2"]
            .flatMap { ["\(raw)\($0).tar", "\(raw)\($0).tar.index.json"] }
        let stored = try reportObjects(bucket, prefix: raw, endpoint: url)
        XCTAssertEqual(Set(stored.keys), Set(keys), file: file, line: line)
        XCTAssertEqual(outcomes(a)["archived"], 2, file: file, line: line)
        XCTAssertEqual(outcomes(b)["archived"], 2, file: file, line: line)

        // Each host's view: its own sessions, backed up; nothing to do.
        XCTAssertEqual(try names(a, "--backed-up"), "2024-01-01_a1\n2024-02-02_a2\n", file: file, line: line)
        XCTAssertEqual(try names(b, "--backed-up"), "2023-07-07_b2\n2024-01-05_b1\n", file: file, line: line)
        for host in [a, b] { XCTAssertEqual(try names(host, "--not-backed-up"), "", file: file, line: line) }

        // A third catalog rebuilt from the bucket knows both hosts' sessions.
        let third = temp.file("rebuilt.sqlite")
        let rebuild = try reportRun(["rebuild", "s3://\(bucket)/\(raw)", "--catalog", third, "--endpoint-url", url,
                                     "--format", "tsv"], file: file, line: line)
        XCTAssertEqual(rebuild.status, 0, rebuild.summary, file: file, line: line)
        XCTAssertEqual(reportTSV(rebuild.out, header: RebuildTests.rebuildHeader)?.rows.first?["archives"], "4",
                       rebuild.summary, file: file, line: line)
        XCTAssertEqual(try names(a, "--backed-up", catalog: third), "2024-01-01_a1\n2024-02-02_a2\n", file: file, line: line)
        XCTAssertEqual(try names(b, "--backed-up", catalog: third), "2023-07-07_b2\n2024-01-05_b1\n", file: file, line: line)

        // The next night, on both: nothing stored.
        for run in try nightliesAtOnce([a, b], file: file, line: line) {
            XCTAssertEqual([String(run.status), run.err], ["0", ""], file: file, line: line)
        }
        XCTAssertEqual(try reportObjects(bucket, prefix: raw, endpoint: url).mapValues { "\($0.etag) \($0.modified)" },
                       stored.mapValues { "\($0.etag) \($0.modified)" }, file: file, line: line)
        for host in [a, b] { XCTAssertEqual(outcomes(host)["skipped"], 2, file: file, line: line) }
    }

    func testTwoHostsArchiveDisjointSessionsIntoOneSeaweedFSBucket() throws {
        try assertDisjointHostsShareOneBucket(endpoint: nil)
    }

    func testTwoHostsArchiveDisjointSessionsIntoOneMotoBucket() throws {
        try assertDisjointHostsShareOneBucket(endpoint: try env.requireMoto())
    }

    // MARK: two hosts, one session

    /// Both hosts hold SESSION (the same bytes when `sameBytes`), and start at once, then again until neither
    /// postpones. Returns the hosts, the bucket and what it held after the first runs.
    private func race(sameBytes: Bool, endpoint: String?, file: StaticString = #filePath, line: UInt = #line) throws
        -> (hosts: [Host], bucket: String, endpoint: String, base: String, first: [String: (etag: String, modified: String)])? {
        guard let (bucket, url, raw) = try sharedBucket(endpoint) else { return nil }
        let dest = "s3://\(bucket)/\(raw){year}/{session}.tar"
        let a = try makeHost("pc-a", dest: dest, endpoint: url), b = try makeHost("pc-b", dest: dest, endpoint: url)
        // Big enough that both uploads are under way at once (multipart).
        try addSession(a, "2024", "2024-06-06_s", size: 12 << 20)
        if sameBytes {
            // The same folder, copied with its times: s3-archive makes the very same tar of it.
            let copy = try runProcess("/bin/cp", ["-a", a.root + "/2024", b.root + "/"], environment: ProcessInfo.processInfo.environment)
            XCTAssertEqual(copy.status, 0, copy.summary, file: file, line: line)
        } else {
            try addSession(b, "2024", "2024-06-06_s", size: 12 << 20)
        }
        let runs = try nightliesAtOnce([a, b], file: file, line: line)
        for run in runs {
            XCTAssertEqual([String(run.status), run.out, run.err], ["0", "", ""], "postponed or skipped is no failure",
                           file: file, line: line)
        }
        let first = try reportObjects(bucket, prefix: raw, endpoint: url)
        let counts = [outcomes(a), outcomes(b)]
        XCTAssertEqual(counts.map { $0["archived"] ?? -1 }.reduce(0, +), 1, "one stores it: \(counts)", file: file, line: line)
        XCTAssertEqual(counts.map { $0["failed"] ?? -1 }, [0, 0], file: file, line: line)
        XCTAssertEqual(first.keys.filter { $0.hasSuffix(".tar") }, [raw + "2024/2024-06-06_s.tar"], "one generation: \(first.keys)",
                       file: file, line: line)
        // The other found it there (skipped) or was refused by the conditional write (postponed): it tries again.
        for _ in 0..<2 where counts.contains(where: { $0["postponed"] == 1 }) {
            for host in [a, b] { XCTAssertEqual(try nightly(host, file: file, line: line).status, 0, file: file, line: line) }
            if [a, b].allSatisfy({ outcomes($0)["postponed"] == 0 }) { break }
        }
        return ([a, b], bucket, url, raw + "2024/2024-06-06_s", first)
    }

    private func assertSameSessionSameBytesIsStoredOnce(endpoint: String?, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let (hosts, bucket, url, base, first) = try race(sameBytes: true, endpoint: endpoint, file: file, line: line) else { return }
        let prefix = String(base.prefix(while: { $0 != "/" }))
        let settled = try reportObjects(bucket, prefix: prefix, endpoint: url)
        XCTAssertEqual(Set(settled.keys), [base + ".tar", base + ".tar.index.json"],
                       "no second generation of the same bytes", file: file, line: line)
        XCTAssertEqual(settled.mapValues { "\($0.etag) \($0.modified)" }, first.mapValues { "\($0.etag) \($0.modified)" },
                       "nothing replaced", file: file, line: line)
        XCTAssertEqual(try hosts.flatMap { try nightlyPuts($0.catalog) }.count, 1, "one upload in all", file: file, line: line)
        for host in hosts {
            XCTAssertEqual(try names(host, "--backed-up"), "2024-06-06_s\n", "\(host.name)", file: file, line: line)
            let again = try nightly(host, file: file, line: line)
            XCTAssertEqual([String(again.status), again.err], ["0", ""], file: file, line: line)
            XCTAssertEqual(outcomes(host)["skipped"], 1, host.name, file: file, line: line)
        }
        XCTAssertEqual(try reportObjects(bucket, prefix: prefix, endpoint: url).mapValues { "\($0.etag) \($0.modified)" },
                       first.mapValues { "\($0.etag) \($0.modified)" }, file: file, line: line)
    }

    func testTwoHostsRacingOnTheSameSessionStoreItOnceOnSeaweedFS() throws {
        try assertSameSessionSameBytesIsStoredOnce(endpoint: nil)
    }

    func testTwoHostsRacingOnTheSameSessionStoreItOnceOnMoto() throws {
        try assertSameSessionSameBytesIsStoredOnce(endpoint: try env.requireMoto())
    }

    /// A host whose session another host stored first (the same folder, copied) stores nothing, and says so in
    /// words and metrics alike: backed up, found stored by another run, not archived.
    func testASessionFoundStoredByAnotherHostIsCountedAsBackedUpNotArchived() throws {
        guard let (bucket, url, raw) = try sharedBucket(nil) else { return }
        let dest = "s3://\(bucket)/\(raw){year}/{session}.tar"
        let a = try makeHost("pc-a", dest: dest, endpoint: url), b = try makeHost("pc-b", dest: dest, endpoint: url)
        try addSession(a, "2024", "2024-03-03_s")
        let copy = try runProcess("/bin/cp", ["-a", a.root + "/2024", b.root + "/"], environment: ProcessInfo.processInfo.environment)
        XCTAssertEqual(copy.status, 0, copy.summary)
        let first = try reportNightly(["--config", a.config, "--verbose"])
        XCTAssertEqual(first.status, 0, first.summary)
        XCTAssertTrue(first.err.contains("end: archived 1, failed 0, already backed up 0\n"), first.err)

        let second = try reportNightly(["--config", b.config, "--verbose"])
        XCTAssertEqual(second.status, 0, second.summary)
        XCTAssertTrue(second.err.contains("found 2024-03-03_s already stored"), second.err)
        XCTAssertTrue(second.err.contains("end: archived 0, failed 0, already backed up 1 (found stored by another run 1)\n"),
                      second.err)
        XCTAssertEqual(outcomes(b)["archived"], 0)
        XCTAssertEqual(outcomes(b)["skipped"], 1)
        XCTAssertEqual(try nightlyPuts(b.catalog), [], "nothing uploaded by the second host")
        XCTAssertEqual(try names(b, "--backed-up"), "2024-03-03_s\n")
    }

    /// One session name, other bytes on each host: both kept, as generations 1 and 2, each index naming its host's
    /// folder; the first stored is never replaced; each host's view says backed up.
    func testOneSessionNameWithOtherBytesOnTwoHostsBecomesTwoGenerations() throws {
        guard let (hosts, bucket, url, base, first) = try race(sameBytes: false, endpoint: nil) else { return }
        let prefix = String(base.prefix(while: { $0 != "/" }))
        let settled = try reportObjects(bucket, prefix: prefix, endpoint: url)
        XCTAssertEqual(Set(settled.keys), [base + ".tar", base + ".tar.index.json", base + ".gen2.tar", base + ".gen2.tar.index.json"])
        for key in first.keys {
            XCTAssertEqual(settled[key]?.etag, first[key]?.etag, "\(key) not replaced")
            XCTAssertEqual(settled[key]?.modified, first[key]?.modified, "\(key) not rewritten")
        }
        var sources: [String] = []
        for key in [base + ".tar.index.json", base + ".gen2.tar.index.json"] {
            let path = temp.file("index-\(sources.count).json")
            XCTAssertEqual(try aws(["s3", "cp", "s3://\(bucket)/\(key)", path], endpoint: url).status, 0)
            let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
            sources.append(index?["source"] as? String ?? "")
        }
        let folders = hosts.map { URL(fileURLWithPath: $0.root + "/2024/2024-06-06_s").resolvingSymlinksInPath().path }
        XCTAssertEqual(Set(sources), Set(folders), "one generation from each host")
        XCTAssertEqual(try hosts.flatMap { try nightlyPuts($0.catalog) }.count, 2)
        for host in hosts {
            XCTAssertEqual(try names(host, "--backed-up"), "2024-06-06_s\n", host.name)
            XCTAssertEqual(try nightly(host).status, 0)
            XCTAssertEqual(outcomes(host)["skipped"], 1, "\(host.name): nothing more stored")
        }
        XCTAssertEqual(try reportObjects(bucket, prefix: prefix, endpoint: url).count, 4)
    }

    // MARK: sharding a backlog

    /// The `sh` code blocks of README's "Many hosts, one bucket" section, as written there.
    private func readmeShellBlocks() throws -> [String] {
        let readme = try String(contentsOfFile: reportPackageRoot + "/README.md", encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "## Many hosts, one bucket").dropFirst().first)
        return section.components(separatedBy: "\n## ")[0].components(separatedBy: "```sh\n").dropFirst()
            .map { $0.components(separatedBy: "```")[0] }
    }

    /// README's "Many hosts, one bucket" pipeline, the block with `xargs`, run as written: four workers share the
    /// backlog of one ROOT, without a catalog; the rebuild after them tells the host's catalog, and its nightly
    /// stores nothing.
    func testTheREADMEShardingPipelineArchivesTheBacklog() throws {
        let bucket = try bucket
        let pipeline = try XCTUnwrap(try readmeShellBlocks().first { $0.contains("xargs") }, "README: a sh block with the pipeline")

        let root = temp.file("backlog/2024")
        let sessions = (1...6).map { "2024-07-0\($0)_run" }
        for (index, session) in sessions.enumerated() { try reportRandomFile("\(root)/\(session)/data.bin", size: 2000 + 100 * index) }
        let catalog = temp.file("backlog.sqlite")
        let script = "set -euo pipefail\n" + pipeline
        let run = try runProcess("/bin/bash", ["-c", script], environment: reportEnvironment([
            "ROOT": root, "DEST": "s3://\(bucket)/shard/2024/{session}.tar", "AWS_ENDPOINT_URL": env.endpoint,
            "S3_ARCHIVE_CATALOG": catalog, "PATH": env.binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? ""),
        ]), timeout: 240)
        XCTAssertEqual(run.status, 0, run.summary)
        let keys = Set(try reportObjects(bucket, prefix: "shard/").keys)
        XCTAssertEqual(keys, Set(sessions.flatMap { ["shard/2024/\($0).tar", "shard/2024/\($0).tar.index.json"] }))

        // The pipeline's rebuild told the host's catalog: its nightly (of the ROOT above, by year) stores nothing.
        let listed = try reportRun(["sessions", root, "--catalog", catalog, "--format", "names", "--backed-up"])
        XCTAssertEqual(listed.out, sessions.map { $0 + "\n" }.joined(), listed.summary)
        let nightly = try reportNightly(nightlyArguments(root: temp.file("backlog"), dest: "s3://\(bucket)/shard/{year}/{session}.tar",
                                                         catalog: catalog))
        XCTAssertEqual([String(nightly.status), nightly.err], ["0", ""])
        XCTAssertEqual(try nightlyPuts(catalog), [], "nothing stored again")
        XCTAssertEqual(Set(try reportObjects(bucket, prefix: "shard/").keys), keys)
    }

    /// README's Slurm array script (the block starting `# shard.sh`), run as a three-task array would run it:
    /// task 0 alone takes its share (the 1st and 4th sessions of the list, nothing else); then tasks 1 and 2 at
    /// once, with task 0 again, store the rest, each session once.
    func testTheREADMESlurmArrayScriptSharesTheBacklogAmongItsTasks() throws {
        let bucket = try bucket
        let shard = try XCTUnwrap(try readmeShellBlocks().first { $0.hasPrefix("#!/bin/bash\n# shard.sh") }, "README: the shard.sh block")
        let script = temp.file("shard.sh")
        try reportWrite(script, shard)

        let root = temp.file("array/2024")
        let sessions = (1...6).map { "2024-08-0\($0)_run" }
        for (index, session) in sessions.enumerated() { try reportRandomFile("\(root)/\(session)/data.bin", size: 1500 + 100 * index) }
        let list = temp.file("backlog.txt")
        let listed = try reportRun(["sessions", root, "--no-catalog", "--format", "names"])
        XCTAssertEqual(listed.out, sessions.map { $0 + "\n" }.joined(), listed.summary)
        try reportWrite(list, listed.out)
        func tasks(_ ids: [Int]) throws -> ProcessResult {
            let runner = #"""
                script=$1 list=$2; shift 2; pids=()
                for id in "$@"; do SLURM_ARRAY_TASK_ID=$id bash "$script" "$list" & pids+=($!); done
                status=0; for pid in "${pids[@]}"; do wait "$pid" || status=$?; done; exit $status
                """#
            return try runProcess("/bin/bash", ["-c", runner, "runner", script, list] + ids.map(String.init),
                                  environment: reportEnvironment([
                                      "ROOT": root, "DEST": "s3://\(bucket)/array/2024/{session}.tar",
                                      "AWS_ENDPOINT_URL": env.endpoint, "SLURM_ARRAY_TASK_COUNT": "3",
                                      "PATH": env.binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? ""),
                                  ]), timeout: 240)
        }
        func stored() throws -> Set<String> { Set(try reportObjects(bucket, prefix: "array/").keys) }
        func objects(_ names: [String]) -> Set<String> {
            Set(names.flatMap { ["array/2024/\($0).tar", "array/2024/\($0).tar.index.json"] })
        }
        let first = try tasks([0])
        XCTAssertEqual(first.status, 0, first.summary)
        XCTAssertEqual(try stored(), objects([sessions[0], sessions[3]]), "task 0 of 3: the 1st and 4th")
        let before = try reportObjects(bucket, prefix: "array/").mapValues { "\($0.etag) \($0.modified)" }
        let rest = try tasks([0, 1, 2])
        XCTAssertEqual(rest.status, 0, rest.summary)
        XCTAssertEqual(try stored(), objects(sessions))
        let after = try reportObjects(bucket, prefix: "array/").mapValues { "\($0.etag) \($0.modified)" }
        XCTAssertEqual(after.filter { before[$0.key] != nil }, before, "task 0's run again replaced nothing")
    }
}
