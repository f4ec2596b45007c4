import Foundation
import XCTest

/// bin/s3-nightly --metrics against SeaweedFS: the file node_exporter's textfile collector reads, parsed by
/// prometheus-client's own parser (every metric a gauge with its HELP), written by rename (no temporary file left,
/// readable by the collector's user); a run that stores, one that finds everything backed up, and a failed one,
/// which keeps the previous run's last success time.
final class NightlyMetricsTests: EndToEndCase {
    /// One sample of the parsed file: `name` or `name{label="value"}` → value, type and help of its family.
    struct Sample { var value: Double; var type: String; var help: String }

    /// FILE read by prometheus_client.parser.text_string_to_metric_families, the parser Prometheus' Python client
    /// ships; a file it refuses fails the test.
    private func parseMetrics(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Sample] {
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for s in family.samples:
                    labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
                    out[s.name + ("{%s}" % labels if labels else "")] = [s.value, family.type, family.documentation]
            print(json.dumps(out))
            """
        let result = try runProcess(which("python3") ?? "/usr/bin/python3", ["-c", script, path],
                                    environment: ProcessInfo.processInfo.environment)
        XCTAssertEqual(result.status, 0, "the parser refuses the file: \(result.summary)", file: file, line: line)
        let object = (try? JSONSerialization.jsonObject(with: result.stdout)) as? [String: [Any]] ?? [:]
        return object.compactMapValues { fields in
            guard fields.count == 3, let value = reportNumber(fields[0]), let type = fields[1] as? String,
                  let help = fields[2] as? String else { return nil }
            return Sample(value: value, type: type, help: help)
        }
    }

    private func sessions(_ metrics: [String: Sample]) -> [String: Double] {
        var counts: [String: Double] = [:]
        for outcome in ["archived", "failed", "postponed", "refused", "skipped", "pruned"] {
            counts[outcome] = metrics["s3_archive_nightly_sessions{outcome=\"\(outcome)\"}"]?.value
        }
        return counts
    }

    /// The sizes of the archives (`.tar`) under `prefix`.
    private func tarBytes(_ bucket: String, prefix: String) throws -> Double {
        let result = try aws(["s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix, "--output", "json"])
        XCTAssertEqual(result.status, 0, result.summary)
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        let contents = object?["Contents"] as? [[String: Any]] ?? []
        return contents.filter { ($0["Key"] as? String)?.hasSuffix(".tar") == true }
            .compactMap { reportNumber($0["Size"]) }.reduce(0, +)
    }

    func testMetricsOfAStoringRunAnIdleRunAndAFailedOne() throws {
        let bucket = try bucket
        let root = temp.file("metrics-root")
        for (index, session) in ["2024-01-10_c", "2024-03-03_d"].enumerated() {
            try reportRandomFile("\(root)/2024/\(session)/raw/data.bin", size: 4000 + 100 * index)
        }
        let folder = temp.file("textfile")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let metricsPath = folder + "/s3-nightly.prom"
        let catalog = temp.file("metrics.sqlite")
        let args = nightlyArguments(root: root, dest: "s3://\(bucket)/metrics/{year}/{session}.tar", catalog: catalog)

        let before = Date().timeIntervalSince1970
        let first = try reportNightly(args + ["--metrics", metricsPath])
        XCTAssertEqual(first.status, 0, first.summary)
        XCTAssertEqual(first.err, "", "quiet")
        let stored = try parseMetrics(metricsPath)
        let names = ["last_run_timestamp_seconds", "last_success_timestamp_seconds", "exit_status", "duration_seconds",
                     "archived_bytes"].map { "s3_archive_nightly_" + $0 }
        for name in names {
            XCTAssertEqual(stored[name]?.type, "gauge", "\(name): \(stored.keys.sorted())")
            XCTAssertFalse(stored[name]?.help.isEmpty ?? true, "\(name) has its HELP")
        }
        XCTAssertEqual(stored["s3_archive_nightly_exit_status"]?.value, 0)
        let ran = try XCTUnwrap(stored["s3_archive_nightly_last_run_timestamp_seconds"]?.value)
        XCTAssertTrue(ran >= before - 1 && ran <= Date().timeIntervalSince1970 + 1, "\(ran) is now")
        XCTAssertEqual(stored["s3_archive_nightly_last_success_timestamp_seconds"]?.value, ran, "it succeeded")
        let duration = try XCTUnwrap(stored["s3_archive_nightly_duration_seconds"]?.value)
        XCTAssertTrue(duration > 0 && duration <= first.duration + 1, "\(duration) of \(first.duration) s")
        XCTAssertEqual(sessions(stored), ["archived": 2, "failed": 0, "postponed": 0, "refused": 0, "skipped": 0, "pruned": 0])
        XCTAssertEqual(stored["s3_archive_nightly_archived_bytes"]?.value, try tarBytes(bucket, prefix: "metrics/"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["s3-nightly.prom"],
                       "no temporary file left beside it")
        let mode = try FileManager.default.attributesOfItem(atPath: metricsPath)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o644, "readable by node_exporter's user")

        // Nothing changed: both skipped, nothing stored; a METRICS setting works like the option.
        let config = temp.file("metrics.conf")
        try reportWrite(config, "METRICS=\(metricsPath)\n")
        let idle = try reportNightly(args + ["--config", config])
        XCTAssertEqual(idle.status, 0, idle.summary)
        let unchanged = try parseMetrics(metricsPath)
        XCTAssertEqual(sessions(unchanged), ["archived": 0, "failed": 0, "postponed": 0, "refused": 0, "skipped": 2, "pruned": 0])
        XCTAssertEqual(unchanged["s3_archive_nightly_archived_bytes"]?.value, 0)
        let succeeded = try XCTUnwrap(unchanged["s3_archive_nightly_last_success_timestamp_seconds"]?.value)
        XCTAssertGreaterThanOrEqual(succeeded, ran)

        // A new session to a bucket that does not exist: the run fails; the last success is the previous run's.
        try reportRandomFile("\(root)/2024/2024-05-05_e/raw/data.bin", size: 3000)
        let missing = uniqueBucketName("metrics-missing")
        let failing = nightlyArguments(root: root, dest: "s3://\(missing)/metrics/{year}/{session}.tar", catalog: catalog)
        let failed = try reportNightly(failing + ["--metrics", metricsPath])
        XCTAssertEqual(failed.status, 1, failed.summary)
        let afterFailure = try parseMetrics(metricsPath)
        XCTAssertEqual(afterFailure["s3_archive_nightly_exit_status"]?.value, 1)
        XCTAssertEqual(afterFailure["s3_archive_nightly_last_success_timestamp_seconds"]?.value, succeeded,
                       "kept from the previous file")
        XCTAssertGreaterThan(try XCTUnwrap(afterFailure["s3_archive_nightly_last_run_timestamp_seconds"]?.value), succeeded)
        XCTAssertEqual(sessions(afterFailure), ["archived": 0, "failed": 1, "postponed": 0, "refused": 0, "skipped": 2, "pruned": 0])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["s3-nightly.prom"])

        // A first run that fails has never succeeded: 0, so that an alert on the time since the last success fires.
        let fresh = folder + "/fresh.prom"
        XCTAssertEqual(try reportNightly(failing + ["--metrics", fresh]).status, 1)
        XCTAssertEqual(try parseMetrics(fresh)["s3_archive_nightly_last_success_timestamp_seconds"]?.value, 0)
    }

    /// --dry-run stores nothing and writes no metrics; a folder that does not exist is said on stderr.
    func testDryRunWritesNoMetricsAndAMissingFolderIsSaid() throws {
        let bucket = try bucket
        let root = temp.file("metrics-dry-root")
        try reportRandomFile(root + "/2024/2024-01-10_c/data.bin", size: 2000)
        let args = nightlyArguments(root: root, dest: "s3://\(bucket)/dry/{year}/{session}.tar", catalog: temp.file("dry.sqlite"))
        let metricsPath = temp.file("dry.prom")
        XCTAssertEqual(try reportNightly(args + ["--dry-run", "--metrics", metricsPath]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: metricsPath))

        let nowhere = temp.file("no-such-folder") + "/s3-nightly.prom"
        let run = try reportNightly(args + ["--metrics", nowhere])
        XCTAssertEqual(run.status, 0, "the backup itself went well: \(run.summary)")
        XCTAssertTrue(run.err.contains(nowhere) && run.err.contains("cannot write the metrics"), run.err)
    }
}
