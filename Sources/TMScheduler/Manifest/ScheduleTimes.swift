import Foundation
import TMCron

/// The fire times of one or more expressions in one time zone: their union, each instant once.
///
/// Guarantees: results are strictly increasing; an instant two expressions share appears once;
/// intervals are half-open like `ScheduleExpression.fireTimes`: (after, through].
public struct ScheduleTimes: Sendable, CustomStringConvertible {
    public let expressions: [ScheduleExpression]
    public let timeZone: TimeZone

    public init(_ expressions: [ScheduleExpression], timeZone: TimeZone) {
        precondition(!expressions.isEmpty, "a schedule needs at least one expression")
        self.expressions = expressions
        self.timeZone = timeZone
    }

    /// Parses `texts`, naming the field (`expression` or `expressions[i]`) of the first bad one.
    public init(parsing texts: [String], timeZone: TimeZone, field: (Int) -> String) throws(ScheduleExpressionFailure) {
        var parsed: [ScheduleExpression] = []
        for (index, text) in texts.enumerated() {
            do {
                parsed.append(try ScheduleExpression(parsing: text))
            } catch let error as ScheduleExpressionError {
                throw ScheduleExpressionFailure(field: field(index), reason: "'\(text)': \(error.field): \(error.reason)")
            } catch {
                throw ScheduleExpressionFailure(field: field(index), reason: "'\(text)': \(error)")
            }
        }
        self.init(parsed, timeZone: timeZone)
    }

    /// The first fire time after `date`.
    public func next(after date: Date) -> Date? {
        expressions.compactMap { $0.nextFireTime(after: date, in: timeZone) }.min()
    }

    /// The first `count` fire times after `date`.
    public func next(_ count: Int, after date: Date) -> [Date] {
        merge(expressions.map { $0.nextFireTimes(after: date, count: count, in: timeZone) }, limit: count)
    }

    /// The fire times in (after, through], the earliest `limit` of them.
    public func times(after start: Date, through end: Date, limit: Int) -> [Date] {
        merge(expressions.map { $0.fireTimes(after: start, through: end, in: timeZone, limit: limit) }, limit: limit)
    }

    private func merge(_ lists: [[Date]], limit: Int) -> [Date] {
        guard lists.count > 1 else { return Array((lists.first ?? []).prefix(limit)) }
        return Array(Set(lists.joined()).sorted().prefix(limit))
    }

    public var description: String { expressions.map(\.description).joined(separator: " | ") }
}

/// An expression that does not parse, with the manifest field it came from.
public struct ScheduleExpressionFailure: Error, Sendable, CustomStringConvertible {
    public let field: String
    public let reason: String
    public var description: String { "\(field): \(reason)" }
}
