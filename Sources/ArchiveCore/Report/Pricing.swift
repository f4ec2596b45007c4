import Foundation

/// Storage prices per GB-month (GB = 10^9 bytes) for one region, from `pricing.json`.
public struct Pricing: Sendable {
    public var region: String
    public var perGBMonth: [String: Double]

    /// The pricing file given, else `$S3_ARCHIVE_PRICING`, else the one shipped with the tools (installed in
    /// `PREFIX/share/s3-archive/`, or the source tree's `lifecycle/`), else built-in us-east-1 list prices.
    /// Never the current directory's: the answer must not depend on where cron starts.
    public static func load(path: String?, region: String) throws -> Pricing {
        let candidates = path.map { [$0] }
            ?? [ProcessInfo.processInfo.environment["S3_ARCHIVE_PRICING"]].compactMap { $0 } + DataFiles.pricingCandidates()
        for candidate in candidates {
            guard let data = FileManager.default.contents(atPath: candidate) else {
                if path != nil { throw Failure.noInput("\(candidate): no such pricing file") }
                continue
            }
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let regions = object["regions"] as? [String: Any] else {
                throw Failure(.dataError, "\(candidate): not a pricing file: expected {\"regions\": {\"REGION\": {\"CLASS\": price}}}")
            }
            guard let prices = regions[region] as? [String: Any] else {
                throw Failure(.dataError, "\(candidate): no prices for region \(region): add it, or use --region with one of \(regions.keys.sorted().joined(separator: ", "))")
            }
            var table: [String: Double] = [:]
            for (storageClass, value) in prices {
                guard let price = (value as? NSNumber)?.doubleValue, price >= 0 else {
                    throw Failure(.dataError, "\(candidate): the price of \(storageClass) in \(region) is not a number")
                }
                table[storageClass] = price
            }
            return Pricing(region: region, perGBMonth: table)
        }
        return Pricing(region: "us-east-1", perGBMonth: ["STANDARD": 0.023, "INTELLIGENT_TIERING": 0.023, "STANDARD_IA": 0.0125,
                                                          "ONEZONE_IA": 0.01, "GLACIER_IR": 0.004, "GLACIER": 0.0036,
                                                          "DEEP_ARCHIVE": 0.00099])
    }

    func price(_ storageClass: String) -> Double { perGBMonth[storageClass] ?? perGBMonth["STANDARD"] ?? 0 }

    /// The policies in lifecycle/: where an archive sits and from which day.
    static let policies: [(name: String, steps: [(fromDay: Int, storageClass: String)])] = [
        ("stay in STANDARD", [(0, "STANDARD")]),
        ("archive=fast: DEEP_ARCHIVE after 7 days", [(0, "STANDARD"), (7, "DEEP_ARCHIVE")]),
        ("archive=normal: DEEP_ARCHIVE after 30 days", [(0, "STANDARD"), (30, "DEEP_ARCHIVE")]),
        ("archive=delayed: GLACIER after 90 days", [(0, "STANDARD"), (90, "GLACIER")]),
        ("backup=deep-archive: DEEP_ARCHIVE at once", [(0, "DEEP_ARCHIVE")]),
    ]

    /// Monthly cost of what is stored, by class and for the whole as if in each class; and the first year's
    /// cost of the same bytes under each lifecycle policy (days counted from upload).
    func tables(byClass: [String: Int]) -> [Table] {
        let total = byClass.values.reduce(0, +)
        let gb = Double(total) / 1e9
        var monthly = Table(columns: ["class", "bytes", "size", "USD/GB-month", "USD/month"],
                            numeric: ["bytes", "USD/GB-month", "USD/month"], title: "Monthly storage (\(region))")
        for (storageClass, bytes) in byClass.sorted(by: { $0.key < $1.key }) {
            monthly.rows.append([storageClass, String(bytes), ByteSize.format(bytes), String(price(storageClass)),
                                 String(format: "%.2f", Double(bytes) / 1e9 * price(storageClass))])
        }
        var whatIf = Table(columns: ["all in class", "USD/month"], numeric: ["USD/month"],
                           title: String(format: "The same %.0f GB in one class", gb))
        for storageClass in ["STANDARD", "STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"] {
            whatIf.rows.append([storageClass, String(format: "%.2f", gb * price(storageClass))])
        }
        var firstYear = Table(columns: ["policy", "USD first year"], numeric: ["USD first year"],
                              title: String(format: "First year for %.0f GB under each lifecycle policy", gb))
        for policy in Self.policies {
            var cost = 0.0
            for (i, step) in policy.steps.enumerated() {
                let end = i + 1 < policy.steps.count ? policy.steps[i + 1].fromDay : 365
                cost += gb * price(step.storageClass) * Double(end - step.fromDay) / (365.0 / 12.0)
            }
            firstYear.rows.append([policy.name, String(format: "%.2f", cost)])
        }
        return [monthly, whatIf, firstYear]
    }
}
