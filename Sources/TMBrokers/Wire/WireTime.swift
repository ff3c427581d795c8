import Foundation
import TMCore

/// The brokers' time stamps to UTC instants, without `DateFormatter` (locale- and thread-sensitive).
///
/// Guarantees: each parser accepts only its whole format and valid calendar values, else nil;
/// Indian exchange times are read as Asia/Kolkata, which is a fixed UTC+05:30 (no daylight saving).
public enum WireTime {
    /// India Standard Time's offset from UTC, in seconds.
    static let indiaOffset = 19_800

    /// Kite and Upstox: `2026-11-20 09:15:02` or Upstox's `03-Aug-2017 15:03:42`, in IST.
    public static func indianLocal(_ text: String) -> Date? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, let clock = clockTime(parts[1]) else { return nil }
        let date = parts[0].split(separator: "-", omittingEmptySubsequences: false)
        guard date.count == 3 else { return nil }
        let civil: (year: Int, month: Int, day: Int)
        if date[0].count == 4, let year = number(date[0]), let month = number(date[1], digits: 2), let day = number(date[2], digits: 2) {
            civil = (year, month, day)
        } else if let day = number(date[0], digits: 2), let month = monthNames.firstIndex(of: date[1].lowercased()),
                  date[2].count == 4, let year = number(date[2]) {
            civil = (year, month + 1, day)
        } else {
            return nil
        }
        guard let seconds = epochSeconds(civil.year, civil.month, civil.day, clock.hour, clock.minute, clock.second) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds - indiaOffset))
    }

    /// Alpaca: RFC 3339, e.g. `2021-05-10T14:01:04.650275Z` or `2026-11-20T09:15:02.5-05:00`;
    /// any number of fraction digits.
    public static func rfc3339(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == UInt8(ascii: " ") else {
            return nil
        }
        let dateText = Substring(text.prefix(10))
        let fields = dateText.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count == 3, fields[0].count == 4, let year = number(fields[0]), let month = number(fields[1], digits: 2),
              let day = number(fields[2], digits: 2) else { return nil }
        let rest = Substring(String(decoding: bytes[11...], as: UTF8.self))
        guard rest.count >= 9, let clock = clockTime(rest.prefix(8)) else { return nil }
        var tail = rest.dropFirst(8)
        var fraction = 0.0
        if tail.first == "." {
            tail = tail.dropFirst()
            let digits = tail.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let value = Double("0." + digits) else { return nil }
            fraction = value
            tail = tail.dropFirst(digits.count)
        }
        let offset: Int
        if tail == "Z" || tail == "z" {
            offset = 0
        } else if tail.count == 6, let sign = tail.first, sign == "+" || sign == "-", tail[tail.index(tail.startIndex, offsetBy: 3)] == ":",
                  let hours = number(tail.dropFirst().prefix(2), digits: 2), let minutes = number(tail.suffix(2), digits: 2),
                  hours < 24, minutes < 60 {
            offset = (sign == "+" ? 1 : -1) * (hours * 3600 + minutes * 60)
        } else {
            return nil
        }
        guard let seconds = epochSeconds(year, month, day, clock.hour, clock.minute, clock.second) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds - offset) + fraction)
    }

    /// Binance: milliseconds since the Unix epoch.
    public static func epochMilliseconds(_ text: String) -> Date? {
        guard let millis = Int64(text), millis >= 0 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(millis / 1000) + TimeInterval(millis % 1000) / 1000)
    }

    /// Milliseconds since the epoch, for cursors and Binance's `timestamp`.
    public static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    // MARK: Civil time

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    private static func number<S: StringProtocol>(_ text: S, digits: Int? = nil) -> Int? {
        guard !text.isEmpty, digits.map({ text.count == $0 }) ?? true, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    /// `HH:mm:ss`.
    private static func clockTime<S: StringProtocol>(_ text: S) -> (hour: Int, minute: Int, second: Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let hour = number(parts[0], digits: 2), let minute = number(parts[1], digits: 2),
              let second = number(parts[2], digits: 2), hour < 24, minute < 60, second <= 60 else { return nil }
        return (hour, minute, second)
    }

    /// Seconds since 1970-01-01T00:00:00 of a proleptic Gregorian civil time; nil for impossible dates.
    public static func epochSeconds(_ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int, _ second: Int) -> Int? {
        guard (1...12).contains(month), day >= 1, day <= CivilDays.daysIn(year: year, month: month) else { return nil }
        return CivilDays.days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    }
}
