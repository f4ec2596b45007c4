/// Sizes as users write them: `8MiB`, `8M`, `8mb`, `8388608`. Binary multiples throughout,
/// as aws-cli and s5cmd read them.
public enum ByteSize {
    public static func parse(_ text: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        guard !digits.isEmpty, let number = Int(digits) else {
            throw Failure.usage("invalid size '\(text)': write a number with an optional unit, e.g. 8MiB, 64M, 1G")
        }
        let unit = trimmed.dropFirst(digits.count).lowercased()
        let shift: Int
        switch unit {
        case "", "b": shift = 0
        case "k", "kb", "kib": shift = 10
        case "m", "mb", "mib": shift = 20
        case "g", "gb", "gib": shift = 30
        case "t", "tb", "tib": shift = 40
        default:
            throw Failure.usage("invalid size unit in '\(text)': use B, KiB, MiB, GiB or TiB (K, M, G, T)")
        }
        let (value, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { throw Failure.usage("size '\(text)' is too large") }
        return value
    }

    /// A short human form: `8 MiB`, `1.5 GiB`, `512 B`.
    public static func format(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1024, index < units.count - 1 { value /= 1024; index += 1 }
        if index == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded)) \(units[index])" : "\(rounded) \(units[index])"
    }
}

import Foundation

/// Sizes as cloud bills count them: `827GB` is 827 × 10^9 bytes (GiB and friends stay binary).
public enum DecimalSize {
    public static func parse(_ text: String) throws -> Int {
        let lower = text.lowercased()
        for (unit, scale) in [("tb", 1_000_000_000_000), ("gb", 1_000_000_000), ("mb", 1_000_000), ("kb", 1000)]
            where lower.hasSuffix(unit) && !lower.hasSuffix("i" + unit.dropFirst()) {
            guard let number = Double(lower.dropLast(2)) else { break }
            let bytes = number * Double(scale)
            // Double accepts nan, inf and 1e30, which Int(_:) would trap on; a size is a finite count of bytes.
            guard bytes.isFinite, bytes >= 0, bytes < Double(Int.max) else {
                throw Failure.usage("invalid size '\(text)': write a number from 0 to 9000000TB with its unit, e.g. 827GB, 1.5TB")
            }
            return Int(bytes)
        }
        return try ByteSize.parse(text)
    }
}
