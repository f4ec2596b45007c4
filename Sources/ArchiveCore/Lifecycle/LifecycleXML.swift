import Foundation

/// The lifecycle configuration as S3 speaks it (XML), both ways.
extension LifecyclePolicy {
    public func xml() -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;")
        }
        func tag(_ t: Tag) -> String { "<Tag><Key>\(esc(t.key))</Key><Value>\(esc(t.value))</Value></Tag>" }
        var out = "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for rule in rules {
            out += "<Rule>"
            if let id = rule.id { out += "<ID>\(esc(id))</ID>" }
            if let filter = rule.filter {
                out += "<Filter>"
                if let p = filter.prefix { out += "<Prefix>\(esc(p))</Prefix>" }
                if let t = filter.tag { out += tag(t) }
                if let n = filter.objectSizeGreaterThan { out += "<ObjectSizeGreaterThan>\(n)</ObjectSizeGreaterThan>" }
                if let n = filter.objectSizeLessThan { out += "<ObjectSizeLessThan>\(n)</ObjectSizeLessThan>" }
                if let and = filter.and {
                    out += "<And>"
                    if let p = and.prefix { out += "<Prefix>\(esc(p))</Prefix>" }
                    for t in and.tags ?? [] { out += tag(t) }
                    if let n = and.objectSizeGreaterThan { out += "<ObjectSizeGreaterThan>\(n)</ObjectSizeGreaterThan>" }
                    if let n = and.objectSizeLessThan { out += "<ObjectSizeLessThan>\(n)</ObjectSizeLessThan>" }
                    out += "</And>"
                }
                out += "</Filter>"
            } else if let prefix = rule.prefix {
                out += "<Prefix>\(esc(prefix))</Prefix>"
            }
            out += "<Status>\(rule.status ?? "Enabled")</Status>"
            for t in rule.transitions ?? [] {
                out += "<Transition>"
                if let d = t.days { out += "<Days>\(d)</Days>" }
                if let d = t.date { out += "<Date>\(esc(d))</Date>" }
                if let c = t.storageClass { out += "<StorageClass>\(c)</StorageClass>" }
                out += "</Transition>"
            }
            if let e = rule.expiration {
                out += "<Expiration>"
                if let d = e.days { out += "<Days>\(d)</Days>" }
                if let d = e.date { out += "<Date>\(esc(d))</Date>" }
                if let m = e.expiredObjectDeleteMarker { out += "<ExpiredObjectDeleteMarker>\(m)</ExpiredObjectDeleteMarker>" }
                out += "</Expiration>"
            }
            if let n = rule.noncurrentVersionExpiration?.noncurrentDays {
                out += "<NoncurrentVersionExpiration><NoncurrentDays>\(n)</NoncurrentDays></NoncurrentVersionExpiration>"
            }
            if let d = rule.abortIncompleteMultipartUpload?.daysAfterInitiation {
                out += "<AbortIncompleteMultipartUpload><DaysAfterInitiation>\(d)</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
            }
            out += "</Rule>"
        }
        return out + "</LifecycleConfiguration>"
    }

    public init(xml root: XMLElement) {
        func tag(_ e: XMLElement) -> Tag { Tag(key: e.text(of: "Key") ?? "", value: e.text(of: "Value") ?? "") }
        func int(_ e: XMLElement?, _ name: String) -> Int? { e?.all(name).first.flatMap { Int($0.text) } }
        rules = root.all("Rule").map { r in
            var rule = Rule()
            rule.id = r.all("ID").first?.text
            rule.status = r.all("Status").first?.text
            if let f = r.all("Filter").first {
                var filter = Filter()
                filter.prefix = f.all("Prefix").first?.text
                filter.tag = f.all("Tag").first.map(tag)
                filter.objectSizeGreaterThan = int(f, "ObjectSizeGreaterThan")
                filter.objectSizeLessThan = int(f, "ObjectSizeLessThan")
                if let a = f.all("And").first {
                    filter.and = And(prefix: a.all("Prefix").first?.text, tags: a.all("Tag").isEmpty ? nil : a.all("Tag").map(tag),
                                     objectSizeGreaterThan: int(a, "ObjectSizeGreaterThan"),
                                     objectSizeLessThan: int(a, "ObjectSizeLessThan"))
                }
                rule.filter = filter
            } else {
                rule.prefix = r.all("Prefix").first?.text
            }
            let transitions = r.all("Transition").map {
                Transition(days: int($0, "Days"), date: $0.all("Date").first?.text, storageClass: $0.all("StorageClass").first?.text)
            }
            rule.transitions = transitions.isEmpty ? nil : transitions
            if let e = r.all("Expiration").first {
                rule.expiration = Expiration(days: int(e, "Days"), date: e.all("Date").first?.text,
                                             expiredObjectDeleteMarker: e.all("ExpiredObjectDeleteMarker").first.map { $0.text == "true" })
            }
            if let n = r.all("NoncurrentVersionExpiration").first {
                rule.noncurrentVersionExpiration = NoncurrentExpiration(noncurrentDays: int(n, "NoncurrentDays"))
            }
            if let a = r.all("AbortIncompleteMultipartUpload").first {
                rule.abortIncompleteMultipartUpload = AbortIncomplete(daysAfterInitiation: int(a, "DaysAfterInitiation"))
            }
            return rule
        }
    }

    /// The same policy in the form a server echoes back: an empty prefix is no prefix, an empty filter
    /// matches everything, rules in ID order.
    public var normalized: LifecyclePolicy {
        var copy = self
        copy.rules = rules.map { rule in
            var r = rule
            if r.status == nil { r.status = "Enabled" }
            if var f = r.filter {
                if f.prefix == "" { f.prefix = nil }
                if var a = f.and {
                    if a.prefix == "" { a.prefix = nil }
                    f.and = a
                }
                r.filter = f
            }
            if r.filter == nil, r.prefix == "" { r.filter = Filter(); r.prefix = nil }
            if r.transitions?.isEmpty == true { r.transitions = nil }
            return r
        }.sorted { ($0.id ?? "") < ($1.id ?? "") }
        return copy
    }
}

