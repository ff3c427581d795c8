import TMCore

/// A calendar date (proleptic Gregorian) as a day number since 1970-01-01: what the analytics group
/// fills by, in the exchange's zone. Arithmetic on the day number, no Foundation `Calendar`, so
/// dating ten million fills costs nanoseconds each.
public struct AnalyticsDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Days since 1970-01-01 (negative before).
    public let daysSinceEpoch: Int

    public init(daysSinceEpoch: Int) { self.daysSinceEpoch = daysSinceEpoch }

    /// nil for a date that does not exist (2023-02-29).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= CivilCalendar.daysIn(year: year, month: month) else { return nil }
        daysSinceEpoch = CivilCalendar.days(year: year, month: month, day: day)
    }

    /// Parses `yyyy-MM-dd`.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public var year: Int { CivilCalendar.civil(daysSinceEpoch).year }
    public var month: Int { CivilCalendar.civil(daysSinceEpoch).month }
    public var day: Int { CivilCalendar.civil(daysSinceEpoch).day }
    /// ISO weekday: Monday 0 … Sunday 6.
    public var weekday: Int { CivilCalendar.isoWeekday(daysSinceEpoch) }

    /// `yyyy-MM-dd`.
    public var description: String { CivilCalendar.text(daysSinceEpoch) }

    public static func < (a: AnalyticsDay, b: AnalyticsDay) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }
}

/// The analytics' calendar: periods, weekdays and day texts on day numbers (`CivilDays`).
enum CivilCalendar {
    @inline(__always) static func days(year: Int, month: Int, day: Int) -> Int { CivilDays.days(year: year, month: month, day: day) }
    @inline(__always) static func civil(_ days: Int) -> (year: Int, month: Int, day: Int) { CivilDays.civil(days) }
    static func daysIn(year: Int, month: Int) -> Int { CivilDays.daysIn(year: year, month: month) }

    /// Monday 0 … Sunday 6 (1970-01-01 was a Thursday).
    @inline(__always) static func isoWeekday(_ days: Int) -> Int { ((days % 7) + 7 + 3) % 7 }

    /// The first day of the period of `kind` holding `day`, and the first day after it.
    static func range(of period: AnalyticsPeriod, containing day: Int) -> (start: Int, end: Int) {
        switch period {
        case .day: return (day, day + 1)
        case .week:
            let start = day - isoWeekday(day)
            return (start, start + 7)
        case .month:
            let c = civil(day)
            let start = days(year: c.year, month: c.month, day: 1)
            return (start, start + daysIn(year: c.year, month: c.month))
        case .year:
            let y = civil(day).year
            return (days(year: y, month: 1, day: 1), days(year: y + 1, month: 1, day: 1))
        case .all: return (Int(Int32.min), Int(Int32.max))
        }
    }

    static func text(_ days: Int) -> String {
        let c = civil(days)
        guard (0...9999).contains(c.year) else {
            return "\(c.year)-\(c.month < 10 ? "0" : "")\(c.month)-\(c.day < 10 ? "0" : "")\(c.day)"
        }
        // Ten ASCII bytes: a small string, no allocation.
        let zero = UInt8(ascii: "0"), dash = UInt8(ascii: "-")
        let bytes: [UInt8] = [zero + UInt8(c.year / 1000), zero + UInt8(c.year / 100 % 10), zero + UInt8(c.year / 10 % 10),
                              zero + UInt8(c.year % 10), dash, zero + UInt8(c.month / 10), zero + UInt8(c.month % 10), dash,
                              zero + UInt8(c.day / 10), zero + UInt8(c.day % 10)]
        return String(decoding: bytes, as: UTF8.self)
    }
}
