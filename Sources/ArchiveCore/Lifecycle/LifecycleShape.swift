import Foundation

/// The field names and value types of a lifecycle file, checked before it is decoded: a decoder stops at the
/// first wrong type and names it by its coding path; this lists every one, in the rule's words
/// (`rule 3 (ID): Transitions 1: Days: expected a whole number, found the text "30"`), and every unknown field,
/// which a decoder would drop without a word (and `apply` would then put a policy other than the file's).
enum LifecycleShape {
    indirect enum Kind: Sendable {
        case text, wholeNumber, trueOrFalse
        case object([(String, Kind)])
        case list(Kind)
    }

    static let tag = Kind.object([("Key", .text), ("Value", .text)])
    static let rule = Kind.object([
        ("ID", .text), ("Status", .text),
        ("Filter", .object([
            ("Prefix", .text), ("Tag", tag),
            ("And", .object([("Prefix", .text), ("Tags", .list(tag)),
                             ("ObjectSizeGreaterThan", .wholeNumber), ("ObjectSizeLessThan", .wholeNumber)])),
            ("ObjectSizeGreaterThan", .wholeNumber), ("ObjectSizeLessThan", .wholeNumber)])),
        ("Prefix", .text),
        ("Transitions", .list(.object([("Days", .wholeNumber), ("Date", .text), ("StorageClass", .text)]))),
        ("Expiration", .object([("Days", .wholeNumber), ("Date", .text), ("ExpiredObjectDeleteMarker", .trueOrFalse)])),
        ("AbortIncompleteMultipartUpload", .object([("DaysAfterInitiation", .wholeNumber)])),
        ("NoncurrentVersionExpiration", .object([("NoncurrentDays", .wholeNumber)])),
    ])

    /// What a file holds: its problems of shape, and the policy with each misshapen rule left empty (so the other
    /// rules keep their numbers) plus which rules those are.
    struct Reading {
        var problems: [String] = []
        var misshapen: Set<Int> = []
        /// False when there is no list of rules to check further.
        var hasRules = false
        var policy = LifecyclePolicy(rules: [])
    }

    static func read(_ data: Data) throws -> Reading {
        let document: JSONValue
        do { document = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw Failure(.dataError, "not a lifecycle configuration (JSON {\"Rules\": [...]}): \(Failure.describing(error))")
        }
        guard case .object(let top) = document else {
            throw Failure(.dataError, "not a lifecycle configuration: the file holds \(document.kindName), not {\"Rules\": [...]}")
        }
        var reading = Reading()
        for key in top.keys.sorted() where key != "Rules" {
            reading.problems.append("\(key): not a field of a lifecycle configuration (only Rules)")
        }
        guard let rulesValue = top["Rules"] else {
            reading.problems.append("missing Rules: a lifecycle file is {\"Rules\": [...]}")
            return reading
        }
        guard case .list(let rules) = rulesValue else {
            reading.problems.append("Rules: expected a list [...], found \(rulesValue.kindName)")
            return reading
        }
        reading.hasRules = true
        var kept: [JSONValue] = []
        for (index, ruleValue) in rules.enumerated() {
            var found: [String] = []
            check(ruleValue, against: rule, path: [], into: &found)
            var name = "rule \(index + 1)"
            if case .object(let fields) = ruleValue, case .text(let id)? = fields["ID"] { name += " (\(id))" }
            reading.problems += found.map { "\(name): \($0)" }
            if found.isEmpty { kept.append(ruleValue) } else {
                reading.misshapen.insert(index)
                kept.append(.object([:]))
            }
        }
        reading.policy = try JSONDecoder().decode(LifecyclePolicy.self, from: JSONEncoder().encode(JSONValue.object(["Rules": .list(kept)])))
        return reading
    }

    private static func check(_ value: JSONValue, against kind: Kind, path: [String], into problems: inout [String]) {
        let field = path.isEmpty ? "" : path.joined(separator: ": ") + ": "
        switch (kind, value) {
        case (.text, .text), (.wholeNumber, .integer), (.trueOrFalse, .boolean):
            return
        case (.list(let element), .list(let items)):
            for (index, item) in items.enumerated() {
                var itemPath = path
                itemPath[itemPath.count - 1] += " \(index + 1)"
                check(item, against: element, path: itemPath, into: &problems)
            }
        case (.object(let fields), .object(let given)):
            for (name, fieldKind) in fields {
                if let fieldValue = given[name] { check(fieldValue, against: fieldKind, path: path + [name], into: &problems) }
            }
            let known = Set(fields.map(\.0))
            for name in given.keys.sorted() where !known.contains(name) {
                problems.append("\(field)\(name): not a field here (expected one of \(fields.map(\.0).joined(separator: ", ")))")
            }
            if fields.map(\.0) == ["Key", "Value"] {
                for required in ["Key", "Value"] where given[required] == nil { problems.append("\(field)\(required) is missing") }
            }
        default:
            problems.append("\(field)expected \(kind.expectation), found \(value.kindName)")
        }
    }
}

extension LifecycleShape.Kind {
    var expectation: String {
        switch self {
        case .text: return "text in quotes"
        case .wholeNumber: return "a whole number"
        case .trueOrFalse: return "true or false"
        case .object: return "an object {...}"
        case .list: return "a list [...]"
        }
    }
}

/// Any JSON value, kept as its type so that a wrong one can be named.
enum JSONValue: Codable, Equatable, Sendable {
    case text(String), integer(Int), number(Double), boolean(Bool), null
    case list([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .boolean(value) }
        else if let value = try? container.decode(Int.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .text(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .list(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .boolean(let value): try container.encode(value)
        case .null: try container.encodeNil()
        case .list(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The value as a message shows what was found: `the text "30"`, `2.5`, `a list`.
    var kindName: String {
        switch self {
        case .text(let value): return "the text \"\(value.count > 40 ? value.prefix(40) + "…" : value)\""
        case .integer(let value): return String(value)
        case .number(let value): return String(value)
        case .boolean(let value): return String(value)
        case .null: return "null"
        case .list: return "a list [...]"
        case .object: return "an object {...}"
        }
    }
}
