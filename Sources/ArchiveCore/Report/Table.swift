import Foundation

/// Rows to show: aligned columns for a person, tab-separated or JSON Lines for a script, or names only.
public struct Table: Sendable {
    public enum Format: String, Sendable, CaseIterable { case table, tsv, json, names }

    public var columns: [String]
    public var rows: [[String]]
    /// Which columns hold numbers (right-aligned in a table, numbers in JSON).
    public var numeric: Set<String> = []
    public var title: String?
    /// More fields for some rows, in JSON only (by row number): names' exact bytes, base64, where they are not UTF-8.
    public var exact: [Int: [(key: String, value: String)]] = [:]

    public init(columns: [String], rows: [[String]] = [], numeric: Set<String> = [], title: String? = nil) {
        self.columns = columns
        self.rows = rows
        self.numeric = numeric
        self.title = title
    }

    public func render(_ format: Format) -> String {
        switch format {
        case .names:
            return rows.map { $0.first ?? "" }.map { $0 + "\n" }.joined()
        case .tsv:
            return ([columns] + rows).map { $0.joined(separator: "\t") + "\n" }.joined()
        case .json:
            return rows.enumerated().map { number, row in
                let fields = zip(columns, row).map { name, value -> String in
                    let key = "\"\(Self.escape(name))\""
                    if numeric.contains(name), Double(value) != nil { return "\(key):\(value)" }
                    return "\(key):\"\(Self.escape(value))\""
                } + (exact[number] ?? []).map { "\"\(Self.escape($0.key))\":\"\(Self.escape($0.value))\"" }
                return "{" + fields.joined(separator: ",") + "}\n"
            }.joined()
        case .table:
            var widths = columns.map(\.count)
            for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
            func line(_ cells: [String]) -> String {
                cells.enumerated().map { i, cell in
                    let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                    return numeric.contains(columns[i]) ? pad + cell : cell + pad
                }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
            }
            var out = title.map { "\($0)\n" } ?? ""
            out += line(columns)
            out += line(widths.map { String(repeating: "-", count: $0) })
            for row in rows { out += line(row) }
            return out
        }
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
