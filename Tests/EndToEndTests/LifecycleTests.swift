import Foundation
import XCTest

/// s3-lifecycle end to end: every policy shipped in lifecycle/ checks, applies to a moto bucket and reads back equal
/// (by s3-lifecycle show and by aws-cli); broken policies are refused locally, each with its own message; show and
/// apply on buckets without a policy or that do not exist.
final class LifecycleTests: EndToEndCase {
    private var motoBuckets: [String] = []

    override func tearDownWithError() throws {
        if let moto = env?.motoEndpoint {
            for bucket in motoBuckets { reportRemoveBucket(bucket, endpoint: moto) }
        }
        motoBuckets = []
        try super.tearDownWithError()
    }

    /// A new bucket on moto (removed after the test).
    private func motoBucket(_ label: String) throws -> (name: String, endpoint: String) {
        let moto = try env.requireMoto()
        let name = uniqueBucketName("lifecycle-\(label)")
        guard try reportMakeBucket(name, endpoint: moto) else { throw TestEnvironment.Missing() }
        motoBuckets.append(name)
        return (name, moto)
    }

    /// A lifecycle configuration as plain JSON, its rules in ID order, so that two can be compared as values.
    private func normalized(_ object: Any?, file: StaticString = #filePath, line: UInt = #line) -> NSDictionary? {
        guard let dictionary = object as? [String: Any], let rules = dictionary["Rules"] as? [[String: Any]] else {
            XCTFail("not a lifecycle configuration: \(String(describing: object))", file: file, line: line)
            return nil
        }
        let sorted = rules.sorted { ($0["ID"] as? String ?? "") < ($1["ID"] as? String ?? "") }
        return ["Rules": sorted] as NSDictionary
    }

    private func json(_ data: Data) -> Any? { try? JSONSerialization.jsonObject(with: data) }

    // MARK: the shipped policies

    func testEveryShippedPolicyChecksAppliesAndReadsBackEqual() throws {
        let (bucket, moto) = try motoBucket("shipped")
        let folder = reportPackageRoot + "/lifecycle"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { $0.hasSuffix(".json") && $0 != "pricing.json" }.sorted().map { folder + "/" + $0 }
        XCTAssertGreaterThanOrEqual(files.count, 7, "the policies in lifecycle/: \(files)")

        for path in files {
            let expected = normalized(json(try Data(contentsOf: URL(fileURLWithPath: path))))
            let ruleCount = (expected?["Rules"] as? [Any])?.count ?? -1

            let check = try reportLifecycle(["check", path])
            XCTAssertEqual(check.status, 0, check.summary)
            XCTAssertEqual(check.out, "\(path): OK (\(ruleCount) rule\(ruleCount == 1 ? "" : "s"))\n", check.summary)

            let apply = try reportLifecycle(["apply", bucket, path], endpoint: moto)
            XCTAssertEqual(apply.status, 0, apply.summary)
            XCTAssertTrue(apply.out.contains("read back equal"), apply.summary)

            let show = try reportLifecycle(["show", bucket, "--format", "json"], endpoint: moto)
            XCTAssertEqual(show.status, 0, show.summary)
            XCTAssertEqual(normalized(json(show.stdout)), expected, "show reads back \(path): \(show.out)")

            // The independent peer agrees.
            let peer = try aws(["s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket, "--output", "json"],
                               endpoint: moto)
            XCTAssertEqual(peer.status, 0, peer.summary)
            XCTAssertEqual(normalized(json(peer.stdout)), expected, "aws-cli reads back \(path): \(peer.out)")

            // The readable form names every rule.
            if path.hasSuffix("/default.json") {
                let table = try reportLifecycle(["show", bucket, "--format", "table"], endpoint: moto)
                XCTAssertEqual(table.status, 0, table.summary)
                for rule in (expected?["Rules"] as? [[String: Any]]) ?? [] {
                    let id = rule["ID"] as? String ?? "?"
                    XCTAssertTrue(table.out.contains(id), "\(id) in: \(table.out)")
                }
            }
        }

    }

    /// The help says BUCKET is "name or s3://name": both forms work for apply and show.
    func testBucketGivenAsS3URL() throws {
        let (bucket, moto) = try motoBucket("url")
        let policy = reportPackageRoot + "/lifecycle/archive-normal.json"
        let apply = try reportLifecycle(["apply", "s3://\(bucket)", policy], endpoint: moto)
        XCTAssertEqual(apply.status, 0, apply.summary)
        let show = try reportLifecycle(["show", "s3://\(bucket)", "--format", "json"], endpoint: moto)
        XCTAssertEqual(show.status, 0, show.summary)
        XCTAssertEqual(normalized(json(show.stdout)), normalized(json(try Data(contentsOf: URL(fileURLWithPath: policy)))))
    }

    // MARK: broken policies

    /// Name, policy text, and the words of the one message it must get.
    static let broken: [(name: String, text: String, message: String)] = [
        ("status", #"{"Rules":[{"ID":"a","Status":"On","Filter":{},"Expiration":{"Days":3}}]}"#,
         "Status 'On' is not Enabled or Disabled"),
        ("duplicate-ids", #"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{},"Expiration":{"Days":3}},"#
            + #"{"ID":"a","Status":"Enabled","Filter":{},"Expiration":{"Days":4}}]}"#,
         "IDs must be unique"),
        ("ia-too-soon", #"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{},"Transitions":[{"Days":10,"StorageClass":"STANDARD_IA"}]}]}"#,
         "needs Days of at least 30"),
        ("colder-then-warmer", #"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{},"Transitions":["#
            + #"{"Days":10,"StorageClass":"DEEP_ARCHIVE"},{"Days":100,"StorageClass":"GLACIER"}]}]}"#,
         "transitions go from warmer to colder"),
        ("days-not-increasing", #"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{},"Transitions":["#
            + #"{"Days":100,"StorageClass":"GLACIER_IR"},{"Days":50,"StorageClass":"DEEP_ARCHIVE"}]}]}"#,
         "is not after the one to GLACIER_IR"),
        ("unknown-class", #"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{},"Transitions":[{"Days":10,"StorageClass":"FROZEN"}]}]}"#,
         "'FROZEN' is not a storage class"),
        ("no-action", #"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{}}]}"#,
         "no action"),
        ("abort-with-tag", #"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{"Tag":{"Key":"k","Value":"v"}},"#
            + #""AbortIncompleteMultipartUpload":{"DaysAfterInitiation":7}}]}"#,
         "AbortIncompleteMultipartUpload cannot be used with a tag filter"),
        ("expiration-too-soon", #"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{},"#
            + #""Transitions":[{"Days":30,"StorageClass":"GLACIER"}],"Expiration":{"Days":20}}]}"#,
         "comes before the transition"),
        ("malformed", #"{"Rules":[{"ID":"a","#,
         "not a lifecycle configuration"),
        ("missing-rules", #"{"Policies":[]}"#,
         "missing Rules"),
        ("two-conditions", #"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{"Prefix":"x/","Tag":{"Key":"k","Value":"v"}},"#
            + #""Expiration":{"Days":3}}]}"#,
         "combine several with And"),
    ]

    func testCheckRejectsBrokenPoliciesEachWithItsOwnMessage() throws {
        var paths: [String] = []
        for policy in Self.broken {
            let path = temp.file("\(policy.name).json")
            try reportWrite(path, policy.text)
            paths.append(path)
            let check = try reportLifecycle(["check", path])
            XCTAssertEqual(check.status, 65, "\(policy.name): \(check.summary)")
            XCTAssertEqual(check.out, "", "\(policy.name): no OK line")
            XCTAssertTrue(check.err.contains(path), "\(policy.name): the message names the file: \(check.err)")
            XCTAssertTrue(check.err.contains(policy.message), "\(policy.name): expected '\(policy.message)' in: \(check.err)")
            for other in Self.broken where other.name != policy.name {
                XCTAssertFalse(check.err.contains(other.message),
                               "\(policy.name) gets its own message, not '\(other.message)': \(check.err)")
            }
        }

        // All at once, with a good one among them: every problem reported, the good one OK, exit 65.
        let good = reportPackageRoot + "/lifecycle/archive-fast.json"
        let all = try reportLifecycle(["check", good] + paths)
        XCTAssertEqual(all.status, 65, all.summary)
        XCTAssertEqual(all.out, "\(good): OK (1 rule)\n", all.summary)
        for policy in Self.broken {
            XCTAssertTrue(all.err.contains(policy.message), "'\(policy.message)' in: \(all.err)")
        }

        let missing = try reportLifecycle(["check", temp.file("no-such-policy.json")])
        XCTAssertEqual(missing.status, 66, missing.summary)
    }

    // MARK: buckets

    func testShowWithoutPolicyAndApplyToMissingOrWithBrokenPolicy() throws {
        let (bucket, moto) = try motoBucket("empty")
        let show = try reportLifecycle(["show", bucket, "--format", "json"], endpoint: moto)
        XCTAssertEqual(show.status, 66, show.summary)
        XCTAssertTrue(show.err.contains(bucket), show.summary)
        XCTAssertEqual(show.out, "")

        let missingBucket = uniqueBucketName("lifecycle-missing")
        let apply = try reportLifecycle(["apply", missingBucket, reportPackageRoot + "/lifecycle/default.json"], endpoint: moto)
        XCTAssertEqual(apply.status, 66, apply.summary)
        XCTAssertTrue(apply.err.contains(missingBucket), apply.summary)

        // A broken policy is refused before anything is sent: the bucket still has none.
        let broken = temp.file("broken.json")
        try reportWrite(broken, Self.broken[0].text)
        let refused = try reportLifecycle(["apply", bucket, broken], endpoint: moto)
        XCTAssertEqual(refused.status, 65, refused.summary)
        let peer = try aws(["s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket], endpoint: moto)
        XCTAssertNotEqual(peer.status, 0, "no lifecycle configuration was put: \(peer.out)")
        XCTAssertTrue(peer.err.contains("NoSuchLifecycleConfiguration"), peer.summary)
    }
}
