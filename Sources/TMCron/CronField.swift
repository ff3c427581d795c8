/// The five fields of a cron expression, with their ranges and the names each accepts.
enum CronFieldKind: String, CaseIterable, Sendable {
    case minute
    case hour
    case dayOfMonth = "day-of-month"
    case month
    case dayOfWeek = "day-of-week"

    /// The values a user may write. Day-of-week accepts 7 as a second Sunday, folded to 0 after parsing.
    var writableRange: ClosedRange<Int> {
        switch self {
        case .minute: 0...59
        case .hour: 0...23
        case .dayOfMonth: 1...31
        case .month: 1...12
        case .dayOfWeek: 0...7
        }
    }

    /// Three-letter names, indexed from the field's first value; nil where the field has none.
    var names: [String]? {
        switch self {
        case .month: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        case .dayOfWeek: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        default: nil
        }
    }

    /// How an unknown name is described in an error: "unknown month name 'JANN'".
    var nameNoun: String {
        self == .month ? "month name" : "day name"
    }
}

/// A set of small non-negative integers (0...63) as a bit mask: membership and "next member at or
/// after" are single instructions, which is what keeps the day-by-day search cheap.
struct FieldSet: Hashable, Sendable {
    private(set) var bits: UInt64 = 0

    init() {}

    init(_ values: some Sequence<Int>) {
        for value in values { insert(value) }
    }

    mutating func insert(_ value: Int) {
        bits |= 1 << UInt64(value)
    }

    func contains(_ value: Int) -> Bool {
        value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0
    }

    /// The smallest member that is at least `value`, if any.
    func first(atOrAfter value: Int) -> Int? {
        guard value < 64 else { return nil }
        let rest = bits >> UInt64(max(value, 0))
        return rest == 0 ? nil : max(value, 0) + rest.trailingZeroBitCount
    }

    var minimum: Int? { bits == 0 ? nil : bits.trailingZeroBitCount }

    var isEmpty: Bool { bits == 0 }

    var members: [Int] { (0..<64).filter(contains) }
}

/// One parsed cron field: the set of values it matches, and whether it was written as a wildcard.
///
/// `isWildcard` is true when the field text starts with `*` (`*` or `*/n`), as in Vixie cron and cronie;
/// it decides the day-of-month/day-of-week rule and which daylight-saving rule applies to the hour.
struct CronField: Hashable, Sendable {
    let kind: CronFieldKind
    let values: FieldSet
    let isWildcard: Bool

    /// Parses `text` (a `*`, value, range, list or step) or throws a reason naming what is wrong.
    /// Errors are `FieldError` so that the caller can attach the whole expression.
    init(parsing text: String, as kind: CronFieldKind) throws(FieldError) {
        self.kind = kind
        isWildcard = text.hasPrefix("*")
        var values = FieldSet()
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        for item in items {
            guard !item.isEmpty else {
                throw FieldError(kind, "empty item in list '\(text)'")
            }
            for value in try Self.parseItem(item, kind: kind) {
                // Day-of-week 7 is Sunday, like 0.
                values.insert(kind == .dayOfWeek && value == 7 ? 0 : value)
            }
        }
        self.values = values
    }

    /// One list item: `*`, `v`, `a-b`, each optionally followed by `/step`.
    private static func parseItem(_ item: Substring, kind: CronFieldKind) throws(FieldError) -> StrideThrough<Int> {
        let parts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else {
            throw FieldError(kind, "'\(item)' has more than one '/'")
        }
        let base = parts[0]
        let range = kind.writableRange
        var step = 1
        if parts.count == 2 {
            let stepText = parts[1]
            guard !stepText.isEmpty else { throw FieldError(kind, "missing step after '/' in '\(item)'") }
            guard let parsed = parseNumber(stepText) else {
                throw FieldError(kind, "step '\(stepText)' is not a number")
            }
            guard parsed >= 1 else { throw FieldError(kind, "step must be at least 1") }
            // A step wider than the field matches only its start, which is never what was meant
            // (`*/90` is not "every 90 minutes"); refuse it rather than fire hourly.
            let span = (kind == .dayOfWeek ? 6 : range.upperBound) - range.lowerBound
            guard parsed <= span else {
                throw FieldError(kind, "step \(parsed) is larger than the field's range \(range.lowerBound)-\(kind == .dayOfWeek ? 6 : range.upperBound)")
            }
            step = parsed
        }
        let low: Int
        let high: Int
        if base == "*" {
            low = range.lowerBound
            high = kind == .dayOfWeek ? 6 : range.upperBound  // `*` is 0-6; 7 would repeat Sunday
        } else {
            let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
            switch bounds.count {
            case 1:
                low = try parseValue(bounds[0], kind: kind)
                // `a/n` means a-max/n; a bare `a` is just a.
                high = parts.count == 2 ? max(low, kind == .dayOfWeek ? 6 : range.upperBound) : low
            case 2:
                low = try parseValue(bounds[0], kind: kind)
                high = try parseValue(bounds[1], kind: kind)
                guard low <= high else {
                    // `FRI-SUN` is the likely mistake: Sunday is 0, but 7 may end a range.
                    let hint = kind == .dayOfWeek && high == 0 ? "; use 7 for a Sunday that ends a range" : ""
                    throw FieldError(kind, "range \(base) is reversed (start after end\(hint))")
                }
            default:
                throw FieldError(kind, "'\(base)' is not a value or a range a-b")
            }
        }
        return stride(from: low, through: high, by: step)
    }

    /// A number in the field's range, or (month, day-of-week) a three-letter name in any case.
    private static func parseValue(_ text: Substring, kind: CronFieldKind) throws(FieldError) -> Int {
        guard !text.isEmpty else { throw FieldError(kind, "missing value in range") }
        let range = kind.writableRange
        if let number = parseNumber(text) {
            guard range.contains(number) else {
                throw FieldError(kind, "\(text) is out of range \(range.lowerBound)-\(range.upperBound)")
            }
            return number
        }
        guard let names = kind.names else {
            throw FieldError(kind, "'\(text)' is not a number")
        }
        guard let index = names.firstIndex(of: text.uppercased()) else {
            throw FieldError(kind, "unknown \(kind.nameNoun) '\(text)'")
        }
        return range.lowerBound + index
    }

    /// ASCII digits only (no sign, no spaces); nil for anything else. Huge numbers become `Int.max`
    /// so that they are reported as out of range rather than as not numbers.
    private static func parseNumber(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text) ?? Int.max
    }
}

/// A field-level parse failure; `ScheduleExpression` turns it into a `ScheduleExpressionError`.
struct FieldError: Error {
    let field: String
    let reason: String

    init(_ kind: CronFieldKind, _ reason: String) {
        field = kind.rawValue
        self.reason = reason
    }

    init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }
}
