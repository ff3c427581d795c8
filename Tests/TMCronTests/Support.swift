import Foundation
import Testing
import TMCron

/// An instant from ISO 8601 text with an offset or `Z`: "2026-03-08T07:00:00Z", "2026-01-05T09:00:00+05:30".
func instant(_ text: String) -> Date {
    guard let date = ISO8601DateFormatter().date(from: text) else { fatalError("bad test instant \(text)") }
    return date
}

func zone(_ identifier: String) -> TimeZone {
    guard let zone = TimeZone(identifier: identifier) else { fatalError("unknown test zone \(identifier)") }
    return zone
}

/// Local ISO 8601 with the zone's offset at that instant, e.g. "2026-03-08T03:00:00-04:00"
/// ("Z" in UTC), so that expectations show both the wall time and the offset.
func local(_ date: Date, _ zone: TimeZone) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = zone
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

func utc(_ date: Date) -> String { local(date, zone("UTC")) }

/// The next `count` fire times of `expression` after `after`, printed in the zone.
func next(_ expression: String, after: String, count: Int, in zoneID: String = "UTC") throws -> [String] {
    let zone = zone(zoneID)
    return try ScheduleExpression(parsing: expression)
        .nextFireTimes(after: instant(after), count: count, in: zone)
        .map { local($0, zone) }
}

/// All fire times in (after, through], printed in the zone.
func between(_ expression: String, _ after: String, _ through: String, in zoneID: String = "UTC", limit: Int = 100_000) throws -> [String] {
    let zone = zone(zoneID)
    return try ScheduleExpression(parsing: expression)
        .fireTimes(after: instant(after), through: instant(through), in: zone, limit: limit)
        .map { local($0, zone) }
}

/// One row of a fire-time table: the expression, where it is evaluated, and what the user should see.
struct FireCase: CustomTestStringConvertible, Sendable {
    let expression: String
    let zone: String
    let after: String
    let expected: [String]
    let why: String

    init(_ expression: String, in zone: String = "UTC", after: String, _ expected: [String], _ why: String) {
        self.expression = expression
        self.zone = zone
        self.after = after
        self.expected = expected
        self.why = why
    }

    var testDescription: String { "\(why): '\(expression)' in \(zone)" }

    func actual() throws -> [String] {
        try next(expression, after: after, count: expected.count, in: zone)
    }
}

/// A deterministic pseudo-random generator (SplitMix64) so that generated cases reproduce exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
