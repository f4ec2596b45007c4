/// S3's rules for lifecycle configurations, checked locally so a mistake is found before it is applied.
public enum LifecycleCheck {
    /// Colder to the right: a rule's transitions must move along this order with growing days.
    static let order = ["STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]

    /// Every problem found, one message each, naming the rule; empty means the policy is valid. The rules in
    /// `skipping` (already refused for their shape) are not checked again.
    public static func problems(_ policy: LifecyclePolicy, skipping: Set<Int> = []) -> [String] {
        var problems: [String] = []
        if policy.rules.isEmpty { problems.append("no rules: a lifecycle configuration needs at least one") }
        if policy.rules.count > 1000 { problems.append("\(policy.rules.count) rules: S3 allows at most 1000") }
        var ids = Set<String>()
        for (index, rule) in policy.rules.enumerated() where !skipping.contains(index) {
            let name = "rule \(index + 1)" + (rule.id.map { " (\($0))" } ?? "")
            func problem(_ text: String) { problems.append("\(name): \(text)") }

            if let id = rule.id {
                if id.isEmpty || id.count > 255 { problem("ID must be 1 to 255 characters") }
                if !ids.insert(id).inserted { problem("ID '\(id)' is used by another rule: IDs must be unique") }
            }
            switch rule.status {
            case "Enabled", "Disabled": break
            case nil: problem("Status is missing: write \"Status\": \"Enabled\" or \"Disabled\"")
            case let other?: problem("Status '\(other)' is not Enabled or Disabled")
            }
            if rule.filter != nil, rule.prefix != nil { problem("give either Filter or the old Prefix, not both") }
            var hasTags = false
            if let filter = rule.filter {
                let parts = [filter.prefix != nil, filter.tag != nil, filter.and != nil,
                             filter.objectSizeGreaterThan != nil, filter.objectSizeLessThan != nil].filter { $0 }.count
                if parts > 1 { problem("a Filter holds one condition; combine several with And") }
                if let tag = filter.tag {
                    hasTags = true
                    if tag.key.isEmpty || tag.key.count > 128 { problem("a tag key must be 1 to 128 characters") }
                    if tag.value.count > 256 { problem("a tag value must be at most 256 characters") }
                }
                if let and = filter.and {
                    let count = (and.prefix != nil ? 1 : 0) + (and.tags?.count ?? 0)
                        + (and.objectSizeGreaterThan != nil ? 1 : 0) + (and.objectSizeLessThan != nil ? 1 : 0)
                    if count < 2 { problem("And needs at least two conditions") }
                    hasTags = hasTags || !(and.tags ?? []).isEmpty
                    let keys = (and.tags ?? []).map(\.key)
                    if Set(keys).count != keys.count { problem("And has the same tag key twice") }
                }
                for size in [filter.objectSizeGreaterThan, filter.objectSizeLessThan, filter.and?.objectSizeGreaterThan,
                             filter.and?.objectSizeLessThan].compactMap({ $0 }) where size < 0 {
                    problem("object sizes in a filter cannot be negative")
                }
            } else if rule.prefix == nil {
                problem("no Filter: write \"Filter\": {} to apply the rule to every object, or a Prefix or Tag")
            }

            let transitions = rule.transitions ?? []
            if transitions.isEmpty, rule.expiration == nil, rule.abortIncompleteMultipartUpload == nil,
               rule.noncurrentVersionExpiration == nil {
                problem("no action: give Transitions, Expiration or AbortIncompleteMultipartUpload")
            }
            var previous: (days: Int, storageClass: String)?
            var seenClasses = Set<String>()
            for transition in transitions {
                guard let storageClass = transition.storageClass else { problem("a transition has no StorageClass"); continue }
                guard let rank = order.firstIndex(of: storageClass) else {
                    problem("'\(storageClass)' is not a storage class a transition can go to (\(order.joined(separator: ", ")))")
                    continue
                }
                if !seenClasses.insert(storageClass).inserted { problem("two transitions to \(storageClass)") }
                if transition.days != nil, transition.date != nil { problem("a transition has both Days and Date") }
                guard let days = transition.days else {
                    if transition.date == nil { problem("the transition to \(storageClass) has neither Days nor Date") }
                    continue
                }
                if days < 0 { problem("the transition to \(storageClass) has negative Days") }
                if ["STANDARD_IA", "ONEZONE_IA"].contains(storageClass), days < 30 {
                    problem("a transition to \(storageClass) needs Days of at least 30 (S3's minimum); it says \(days)")
                }
                if let previous {
                    let previousRank = order.firstIndex(of: previous.storageClass) ?? 0
                    if rank <= previousRank {
                        problem("the transition to \(storageClass) follows \(previous.storageClass): transitions go from warmer to colder classes")
                    }
                    if days <= previous.days {
                        problem("the transition to \(storageClass) on day \(days) is not after the one to \(previous.storageClass) on day \(previous.days)")
                    } else if ["STANDARD_IA", "ONEZONE_IA"].contains(previous.storageClass), days - previous.days < 30 {
                        problem("objects must stay 30 days in \(previous.storageClass) before moving to \(storageClass) (day \(previous.days) → day \(days))")
                    }
                }
                previous = (days, storageClass)
            }
            if let expiration = rule.expiration {
                if let days = expiration.days {
                    if days < 1 { problem("Expiration Days must be at least 1") }
                    if let last = previous, days <= last.days {
                        problem("the expiration on day \(days) comes before the transition to \(last.storageClass) on day \(last.days)")
                    }
                } else if expiration.date == nil, expiration.expiredObjectDeleteMarker == nil {
                    problem("Expiration needs Days, Date or ExpiredObjectDeleteMarker")
                }
            }
            if let abort = rule.abortIncompleteMultipartUpload {
                if (abort.daysAfterInitiation ?? 0) < 1 { problem("AbortIncompleteMultipartUpload needs DaysAfterInitiation of at least 1") }
                if hasTags { problem("AbortIncompleteMultipartUpload cannot be used with a tag filter (uploads have no tags yet)") }
            }
        }
        return problems
    }
}
