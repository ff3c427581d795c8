import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The time formats the brokers send, computed with `gmtime_r` (thread-safe, no formatter state).
///
/// Guarantees: Kite and Upstox times are India Standard Time (UTC+05:30, no DST) as
/// `yyyy-MM-dd HH:mm:ss`; Alpaca times are RFC 3339 UTC with microseconds; Binance times are
/// milliseconds since the epoch.
public enum Timestamps {
    static let indiaOffsetSeconds = 19_800

    /// `2026-01-15 09:30:05` in India time.
    public static func india(_ date: Date) -> String {
        let parts = components(date, offsetSeconds: indiaOffsetSeconds)
        return zeroPadded([(parts.year, 4, "-"), (parts.month, 2, "-"), (parts.day, 2, " "), (parts.hour, 2, ":"), (parts.minute, 2, ":"),
                           (parts.second, 2, nil)])
    }

    /// `2026-01-15T04:00:05.123456Z`.
    public static func rfc3339(_ date: Date) -> String {
        let parts = components(date, offsetSeconds: 0)
        let micros = Int((date.timeIntervalSince1970 * 1_000_000).rounded(.down)) % 1_000_000
        return zeroPadded([(parts.year, 4, "-"), (parts.month, 2, "-"), (parts.day, 2, "T"), (parts.hour, 2, ":"), (parts.minute, 2, ":"),
                           (parts.second, 2, "."), (micros, 6, "Z")])
    }

    /// `20260115040005123`: Alpaca's activity id prefix.
    static func compactUTC(_ date: Date) -> String {
        let parts = components(date, offsetSeconds: 0)
        let millis = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        return zeroPadded([(parts.year, 4, nil), (parts.month, 2, nil), (parts.day, 2, nil), (parts.hour, 2, nil), (parts.minute, 2, nil),
                           (parts.second, 2, nil), (millis, 3, nil)])
    }

    /// Each number as `%0<width>d` followed by its separator, as `String(format:)` would print them
    /// (which costs ~30 times more); a negative number (a date before year 0) goes to `String(format:)`.
    static func zeroPadded(_ fields: [(value: Int, width: Int, separator: Unicode.Scalar?)]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for field in fields {
            guard field.value >= 0 else {
                return fields.map { String(format: "%0\($0.width)d", $0.value) + ($0.separator.map { String($0) } ?? "") }.joined()
            }
            var digits: [UInt8] = []
            var rest = field.value
            repeat {
                digits.append(UInt8(ascii: "0") + UInt8(rest % 10))
                rest /= 10
            } while rest > 0
            bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: max(0, field.width - digits.count)))
            bytes.append(contentsOf: digits.reversed())
            if let separator = field.separator { bytes.append(UInt8(separator.value)) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func milliseconds(_ date: Date) -> Int { Int((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Midnight of the date's day in India, as an instant (the start of Kite's and Upstox's "day").
    public static func startOfIndianDay(_ date: Date) -> Date {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) + indiaOffsetSeconds
        return Date(timeIntervalSince1970: Double(seconds - seconds % 86_400 - indiaOffsetSeconds))
    }

    /// Parses RFC 3339 (`2026-01-15T04:00:05Z`, with or without fraction or offset), for Alpaca's `after`/`until`.
    public static func parseRFC3339(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withFullDate]
        return formatter.date(from: text)
    }

    private static func components(_ date: Date, offsetSeconds: Int) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        var seconds = time_t(Int(date.timeIntervalSince1970.rounded(.down)) + offsetSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return (Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}
