import Foundation

extension Duration {
    /// The duration as fractional seconds, for C APIs that take `timeval`s or doubles.
    public var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }

    /// The duration in whole milliseconds (rounded down), for C APIs and Redis commands.
    public var milliseconds: Int64 {
        let (s, attos) = components
        return s * 1000 + attos / 1_000_000_000_000_000
    }
}

/// Human-written durations as used in manifests and on the command line: `250ms`, `30s`, `5m`,
/// `1h`, `2d`, and sums like `1h30m`. A bare number is rejected: the unit is never guessed.
public enum DurationText {
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let text: String
        public var description: String { "'\(text)' is not a duration (use e.g. 500ms, 30s, 5m, 1h, 2d)" }
    }

    public static func parse(_ text: String) throws -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        var total = Duration.zero
        var rest = Substring(trimmed)
        guard !rest.isEmpty else { throw ParseError(text: text) }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard !digits.isEmpty, let value = Double(digits), value >= 0 else { throw ParseError(text: text) }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let millis: Double
            switch unit {
            case "ms": millis = value
            case "s", "sec", "secs", "second", "seconds": millis = value * 1000
            case "m", "min", "mins", "minute", "minutes": millis = value * 60_000
            case "h", "hr", "hour", "hours": millis = value * 3_600_000
            case "d", "day", "days": millis = value * 86_400_000
            default: throw ParseError(text: text)
            }
            total += .milliseconds(Int64(millis.rounded()))
        }
        return total
    }

    /// The shortest exact rendering: `90s` → `1m30s`, `1500ms` → `1.5s`.
    public static func format(_ duration: Duration) -> String {
        var ms = duration.milliseconds
        if ms == 0 { return "0s" }
        if ms < 1000 { return "\(ms)ms" }
        if ms < 60_000 && ms % 1000 != 0 { return String(format: "%.1fs", Double(ms) / 1000) }
        var parts: [String] = []
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms >= size {
            parts.append("\(ms / size)\(unit)")
            ms %= size
        }
        return parts.joined()
    }
}
