/// Why a schedule expression was refused: which expression, which part of it, and what is wrong,
/// in words meant for the person who wrote it.
///
/// `field` is one of "minute", "hour", "day-of-month", "month", "day-of-week" (a cron field),
/// "rate" (inside `rate(...)`), or "expression" (the shape of the whole: field count, macro name,
/// emptiness). `description` reads `'<expression>': <field>: <reason>`.
public struct ScheduleExpressionError: Error, CustomStringConvertible, Sendable, Equatable {
    public let expression: String
    public let field: String
    public let reason: String

    public init(expression: String, field: String, reason: String) {
        self.expression = expression
        self.field = field
        self.reason = reason
    }

    public var description: String { "'\(expression)': \(field): \(reason)" }
}
