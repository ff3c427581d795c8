import Foundation

/// A parsed schedule expression: five-field cron, `rate(...)`, or a macro (`@daily`, ...).
///
/// Guarantees:
/// - Parsing is strict: anything malformed, out of range, or that could never fire (31 February) throws a
///   `ScheduleExpressionError` naming the field and the reason.
/// - Fire times are whole minutes (every zone offset in use since 1972 is a whole number of minutes),
///   except those of `rate(N seconds)`, which are whole seconds,
///   strictly increasing, and a pure function of the expression, the zone and the instant (given the
///   same time-zone database), so two schedulers always agree on the slots. Instants given are truncated to whole seconds.
/// - Cron expressions and `rate(N days)` match local wall-clock time in the given zone; daylight saving
///   follows cronie: with a restricted hour field (one not starting with `*`) a wall time skipped by a
///   spring-forward fires once at the instant of the jump (several skipped times collapse into that one
///   instant), and a wall time repeated by a fall-back fires only at its first occurrence; with an hour
///   field starting with `*` (`*`, `*/n`) skipped times simply do not occur and repeated ones fire in
///   both occurrences, so "every 15 minutes" stays every 15 minutes of real time.
/// - `rate(N seconds|minutes|hours)` fires at instants that are multiples of the interval since
///   1970-01-01T00:00Z, in any zone.
/// - The search goes day by day, never minute by minute, and gives up after about 10 years (3,660 days).
///   Every accepted expression fires within that, except contrived ones that combine 29 February with a
///   day-of-week step (`0 0 29 2 */4` waits from 2032 to 2052), for which `nextFireTime` answers nil.
///
/// Equality and hashing follow the trimmed text: `0 9 * * MON` and `0 9 * * 1` fire alike but are
/// different expressions.
public struct ScheduleExpression: Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Hashable, Sendable {
        case cron(CronExpression)
        case rate(RateExpression)
    }

    private let text: String
    private let kind: Kind

    /// Parses `text` (surrounding whitespace ignored).
    /// - Throws: `ScheduleExpressionError`.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        self.text = trimmed
        do {
            if trimmed.isEmpty {
                throw FieldError(field: "expression", reason: "empty expression")
            } else if trimmed.lowercased().hasPrefix("rate") {
                kind = .rate(try RateExpression(parsing: trimmed))
            } else {
                kind = .cron(try CronExpression(parsing: trimmed))
            }
        } catch let error as FieldError {
            throw ScheduleExpressionError(expression: trimmed, field: error.field, reason: error.reason)
        }
    }

    /// The text as given, trimmed.
    public var description: String { text }

    /// The first fire time strictly after `instant`, evaluated in `zone`; nil if none within ~10 years.
    public func nextFireTime(after instant: Date, in zone: TimeZone) -> Date? {
        guard let seconds = Self.wholeSeconds(instant), let next = next(after: seconds, in: LocalTime(zone: zone)) else {
            return nil
        }
        return Date(timeIntervalSince1970: TimeInterval(next))
    }

    /// Fire times in (`after`, `through`] — exclusive, inclusive — in order, at most `limit`.
    public func fireTimes(after: Date, through: Date, in zone: TimeZone, limit: Int) -> [Date] {
        guard limit > 0, let start = Self.wholeSeconds(after), let end = Self.wholeSeconds(through) else { return [] }
        let localTime = LocalTime(zone: zone)
        var result: [Date] = []
        var cursor = start
        while result.count < limit, let next = next(after: cursor, in: localTime), next <= end {
            result.append(Date(timeIntervalSince1970: TimeInterval(next)))
            cursor = next
        }
        return result
    }

    /// The next `count` fire times strictly after `instant` (fewer only if the search gives up).
    public func nextFireTimes(after instant: Date, count: Int, in zone: TimeZone) -> [Date] {
        guard count > 0, let start = Self.wholeSeconds(instant) else { return [] }
        let localTime = LocalTime(zone: zone)
        var result: [Date] = []
        result.reserveCapacity(count)
        var cursor = start
        while result.count < count, let next = next(after: cursor, in: localTime) {
            result.append(Date(timeIntervalSince1970: TimeInterval(next)))
            cursor = next
        }
        return result
    }

    private func next(after instant: Int64, in localTime: LocalTime) -> Int64? {
        switch kind {
        case .cron(let cron): localTime.nextFire(of: cron, after: instant)
        case .rate(let rate): rate.nextFire(after: instant, in: localTime)
        }
    }

    /// Unix seconds, truncated toward the past; nil for instants no calendar can hold.
    private static func wholeSeconds(_ date: Date) -> Int64? {
        let interval = date.timeIntervalSince1970
        guard interval.isFinite, abs(interval) < 1e15 else { return nil }
        return Int64(interval.rounded(.down))
    }
}
