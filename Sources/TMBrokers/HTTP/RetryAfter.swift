import Foundation
import TMHTTP

/// Reads `Retry-After` (RFC 9110): delay-seconds, or an HTTP date turned into the time left.
///
/// Guarantees: nil when the header is absent or unreadable (the caller then backs off on its own);
/// never negative.
enum RetryAfter {
    static func duration(in response: HTTPResponse, now: Date = Date()) -> Duration? {
        guard let raw = response.header("Retry-After")?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        if let seconds = Int(raw) { return seconds >= 0 ? .seconds(seconds) : nil }
        if let seconds = Double(raw), seconds.isFinite, seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        if let date = httpDate(raw) { return .milliseconds(max(0, Int64(date.timeIntervalSince(now) * 1000))) }
        return nil
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate, the only form senders may use).
    private static func httpDate(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])),
              let year = Int(parts[3]) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3,
              let seconds = WireTime.epochSeconds(year, month + 1, day, clock[0], clock[1], clock[2]) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}
