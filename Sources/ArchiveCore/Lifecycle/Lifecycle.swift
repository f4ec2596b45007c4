import Foundation

/// s3-lifecycle's jobs: check a policy file locally, apply it (check, put, read back, compare), show a bucket's.
public enum Lifecycle {
    /// The policy, or a failure listing every problem (exit 65): of shape (a wrong type, an unknown field) and
    /// against S3's rules, the latter for every rule whose shape is right.
    public static func check(_ given: String) throws -> LifecyclePolicy {
        // A bare name that is no file here (`default`) is a policy shipped with the tools (see `DataFiles`).
        let path = DataFiles.policy(named: given) ?? given
        let reading = try LifecyclePolicy.read(path)
        let policy = reading.policy
        let problems = reading.problems
            + (reading.hasRules ? LifecycleCheck.problems(policy, skipping: reading.misshapen) : [])
        guard problems.isEmpty else {
            throw Failure(.dataError, problems.map { "\(path): \($0)" }.joined(separator: "\n"))
        }
        return policy
    }

    public static func apply(bucket given: String, path: String, s3: S3Configuration.Overrides) throws -> LifecyclePolicy {
        let policy = try check(path)
        let bucket = StorageURL.bucketName(given)
        let client = try client(bucket: bucket, s3: s3)
        try client.headBucket(bucket)
        try client.putLifecycle(bucket: bucket, xml: policy.xml())
        guard let echoed = try client.getLifecycle(bucket: bucket) else {
            throw Failure.check("s3://\(bucket): the lifecycle configuration was accepted but reads back empty")
        }
        let stored = LifecyclePolicy(xml: echoed)
        guard stored.normalized == policy.normalized else {
            throw Failure.check("s3://\(bucket): the lifecycle configuration reads back different from \(path):\n\(stored.json())")
        }
        return stored
    }

    public static func show(bucket given: String, s3: S3Configuration.Overrides) throws -> LifecyclePolicy? {
        let bucket = StorageURL.bucketName(given)
        let client = try client(bucket: bucket, s3: s3)
        return try client.getLifecycle(bucket: bucket).map(LifecyclePolicy.init(xml:))
    }

    /// Whether the bucket has Object Lock (which s3-put's --retain-until and --legal-hold need), and its default
    /// retention. A missing bucket fails as for `show`.
    public static func lock(bucket given: String, s3: S3Configuration.Overrides) throws -> BucketLock {
        let bucket = StorageURL.bucketName(given)
        return try client(bucket: bucket, s3: s3).objectLock(bucket: bucket)
    }

    /// One line for `s3-lifecycle lock`: `s3://B: Object Lock on (default retention GOVERNANCE, 30 days)`.
    public static func lockLine(bucket given: String, _ lock: BucketLock) -> String {
        let name = "s3://\(StorageURL.bucketName(given))"
        guard lock.enabled else { return "\(name): Object Lock off" }
        return "\(name): Object Lock on (" + (lock.defaultRetention.map { "default retention \($0)" } ?? "no default retention") + ")"
    }

    static func client(bucket: String, s3: S3Configuration.Overrides) throws -> S3Client {
        let name = StorageURL.bucketName(bucket)
        guard StorageURL.isValidBucket(name) else {
            throw Failure.usage("invalid bucket name '\(bucket)': 3-63 characters of a-z, 0-9, '.', '-'")
        }
        return S3Client(try S3Configuration.resolve(s3))
    }

    /// A readable table of a policy: one line per transition or action.
    public static func table(_ policy: LifecyclePolicy) -> Table {
        var table = Table(columns: ["rule", "status", "applies to", "action"])
        for rule in policy.rules {
            var scope = "every object"
            if let f = rule.filter {
                if let t = f.tag { scope = "tag \(t.key)=\(t.value)" }
                if let p = f.prefix, !p.isEmpty { scope = "prefix \(p)" }
                if let a = f.and {
                    scope = ([a.prefix.map { "prefix \($0)" }] + (a.tags ?? []).map { "tag \($0.key)=\($0.value)" })
                        .compactMap { $0 }.joined(separator: " and ")
                }
            } else if let p = rule.prefix, !p.isEmpty {
                scope = "prefix \(p)"
            }
            var actions = (rule.transitions ?? []).map { t in
                "to \(t.storageClass ?? "?") " + (t.days.map { $0 == 0 ? "at once" : "after \($0) days" } ?? "on \(t.date ?? "?")")
            }
            if let e = rule.expiration { actions.append("expire " + (e.days.map { "after \($0) days" } ?? e.date ?? "delete markers")) }
            if let d = rule.abortIncompleteMultipartUpload?.daysAfterInitiation {
                actions.append("abort incomplete uploads after \(d) days")
            }
            for action in actions { table.rows.append([rule.id ?? "", rule.status ?? "", scope, action]) }
        }
        return table
    }
}
