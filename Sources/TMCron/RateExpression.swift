/// `rate(N unit)`: a fixed interval, placed deterministically so that any two schedulers agree on slots.
///
/// Guarantees:
/// - `second(s)`, `minute(s)` and `hour(s)`: fires at every instant that is a whole multiple of N
///   seconds (minutes, hours) since 1970-01-01T00:00Z. Elapsed time, not wall time: the zone plays no part, and daylight saving
///   changes nothing.
/// - `day(s)`: fires at local midnight in the zone on every day whose number of days since the local
///   date 1970-01-01 is a multiple of N. A midnight skipped or repeated by daylight saving follows the
///   fixed-time cron rule (`DaylightSavingRule.firstReached`).
/// - N is a whole number from 1 up to an interval of 10 years; singular and plural units are both
///   accepted for any N.
struct RateExpression: Hashable, Sendable {
    enum Unit: String, Hashable, Sendable {
        case seconds, minutes, hours, days

        var seconds: Int64 {
            switch self {
            case .seconds: 1
            case .minutes: 60
            case .hours: 3_600
            case .days: secondsPerDay
            }
        }
    }

    let count: Int64
    let unit: Unit

    /// The longest accepted interval; longer ones would outrun the "within ~10 years" contract.
    static let longestInterval: Int64 = 3_650 * secondsPerDay

    private static let usage = "expected rate(N unit) with unit second(s), minute(s), hour(s) or day(s), e.g. rate(5 minutes)"

    init(parsing text: String) throws(FieldError) {
        // "rate(" ... ")" with optional whitespace inside the parentheses.
        let lowered = text.lowercased()
        guard lowered.hasPrefix("rate"), lowered.hasSuffix(")") else {
            throw FieldError(field: "rate", reason: Self.usage)
        }
        let afterKeyword = text.dropFirst(4).drop(while: \.isWhitespace)
        guard afterKeyword.first == "(" else { throw FieldError(field: "rate", reason: Self.usage) }
        let inside = afterKeyword.dropFirst().dropLast()
        let words = inside.split(whereSeparator: \.isWhitespace)
        guard words.count == 2 else { throw FieldError(field: "rate", reason: Self.usage) }
        let number = words[0]
        guard number.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw FieldError(field: "rate", reason: "'\(number)' is not a whole number")
        }
        let unit: Unit
        switch words[1].lowercased() {
        case "second", "seconds": unit = .seconds
        case "minute", "minutes": unit = .minutes
        case "hour", "hours": unit = .hours
        case "day", "days": unit = .days
        default:
            throw FieldError(field: "rate", reason: "unknown unit '\(words[1])' (use second(s), minute(s), hour(s) or day(s))")
        }
        let count = Int64(number) ?? .max
        guard count >= 1 else { throw FieldError(field: "rate", reason: "N must be at least 1") }
        guard count <= Self.longestInterval / unit.seconds else {
            throw FieldError(
                field: "rate",
                reason: "\(number) \(unit.rawValue) is longer than 10 years (at most \(Self.longestInterval / unit.seconds))"
            )
        }
        self.count = count
        self.unit = unit
    }

    var interval: Int64 { count * unit.seconds }

    /// The first fire time strictly after `instant`.
    func nextFire(after instant: Int64, in localTime: LocalTime) -> Int64? {
        switch unit {
        case .seconds, .minutes, .hours:
            return (floorDiv(instant, interval) + 1) * interval
        case .days:
            return localTime.nextFire(of: LocalMidnights(everyDays: count), after: instant)
        }
    }
}

/// Local midnights of the days whose number (since the local date 1970-01-01) is a multiple of N.
struct LocalMidnights: WallClockSchedule {
    let everyDays: Int64

    var daylightSavingRule: DaylightSavingRule { .firstReached }

    func firstMatch(atOrAfter wall: Int64, before limit: Int64) -> Int64? {
        let firstDay = floorDiv(wall + secondsPerDay - 1, secondsPerDay)  // first midnight at or after `wall`
        let day = floorDiv(firstDay + everyDays - 1, everyDays) * everyDays
        let result = day * secondsPerDay
        return result < limit ? result : nil
    }
}
