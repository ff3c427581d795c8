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
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second)
    }

    /// `2026-01-15T04:00:05.123456Z`.
    public static func rfc3339(_ date: Date) -> String {
        let parts = components(date, offsetSeconds: 0)
        let micros = Int((date.timeIntervalSince1970 * 1_000_000).rounded(.down)) % 1_000_000
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second, micros)
    }

    /// `20260115040005123`: Alpaca's activity id prefix.
    static func compactUTC(_ date: Date) -> String {
        let parts = components(date, offsetSeconds: 0)
        let millis = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        return String(format: "%04d%02d%02d%02d%02d%02d%03d", parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second, millis)
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
