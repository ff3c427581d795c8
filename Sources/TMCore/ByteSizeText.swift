/// Sizes in manifests: `1MiB`, `512KiB`, `65536` (bytes), `2 MiB`; binary units (KiB, MiB, GiB) and
/// their decimal look-alikes (KB, MB, GB), which mean the same powers of 1024 here.
public enum ByteSizeText {
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let text: String
        public var description: String { "'\(text)' is not a size (use e.g. 65536, 512KiB, 1MiB)" }
    }

    public static func parse(_ text: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber || $0 == "_" }
        guard !digits.isEmpty, let value = Int(digits.replacingOccurrences(of: "_", with: "")) else { throw ParseError(text: text) }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let scale: Int
        switch unit {
        case "", "b", "bytes": scale = 1
        case "k", "kb", "kib": scale = 1 << 10
        case "m", "mb", "mib": scale = 1 << 20
        case "g", "gb", "gib": scale = 1 << 30
        default: throw ParseError(text: text)
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow else { throw ParseError(text: text) }
        return bytes
    }

    /// `1048576` → `1 MiB`, `1536` → `1.5 KiB`, `100` → `100 bytes`.
    public static func format(_ bytes: Int) -> String {
        for (unit, size) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes >= size {
            if bytes % size == 0 { return "\(bytes / size) \(unit)" }
            let tenths = (bytes * 10 + size / 2) / size
            return "\(tenths / 10).\(tenths % 10) \(unit)"
        }
        return "\(bytes) bytes"
    }
}
