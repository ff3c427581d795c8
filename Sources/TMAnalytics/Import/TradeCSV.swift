import Foundation
import TMBrokers
import TMCore

/// The CSV format of `tm trades import`: one fill per line after a header row naming the columns
/// (any order):
///
/// | column     | value                                                                   |
/// |------------|-------------------------------------------------------------------------|
/// | `symbol`   | the instrument's symbol, e.g. `INFY`                                    |
/// | `exchange` | e.g. `NSE`, `NASDAQ`                                                    |
/// | `side`     | `buy` or `sell`                                                         |
/// | `quantity` | exact decimal > 0, at most nine places                                  |
/// | `price`    | exact decimal > 0, at most nine places                                  |
/// | `fee`      | exact decimal ≥ 0, at most nine places                                  |
/// | `time`     | ISO 8601 with an offset: `2026-01-05T09:15:00+05:30`, `…00.25Z` (≤ µs)  |
/// | `trade_id` | the fill's id, unique in the account: re-importing it is not a new fill |
/// | `category` | optional column, may be empty: `intraday`, `swing` or `long_term`       |
///
/// Guarantees: a value is read exactly or refused — never rounded, never guessed; every refusal
/// names the line, the field and the reason (`ImportProblem`).
public enum TradeCSV {
    public enum Column: String, CaseIterable, Sendable {
        case symbol, exchange, side, quantity, price, fee, time, tradeID = "trade_id", category
        var isRequired: Bool { self != .category }
    }

    /// A header or a fill, or every problem that stops it being one.
    public enum Parsed<Value> {
        case value(Value)
        case problems([ImportProblem])
    }

    /// Where each column is in a line.
    public struct Header: Sendable {
        let positions: [Column: Int]
        let count: Int
        func value(_ column: Column, in fields: [String]) -> String? { positions[column].map { fields[$0] } }
    }

    /// The header's columns, or every problem with it (unknown, repeated or missing columns): a
    /// file whose header is wrong cannot be read at all.
    public static func header(_ fields: [String], line: Int = 1) -> Parsed<Header> {
        var positions: [Column: Int] = [:]
        var problems: [ImportProblem] = []
        for (index, raw) in fields.enumerated() {
            let name = raw.lowercased()
            guard let column = Column(rawValue: name) else {
                problems.append(ImportProblem(line: line, field: raw, reason: "unknown column (the columns: \(Column.allCases.map(\.rawValue).joined(separator: ", ")))"))
                continue
            }
            if positions[column] != nil {
                problems.append(ImportProblem(line: line, field: name, reason: "column named twice"))
            }
            positions[column] = index
        }
        for column in Column.allCases where column.isRequired && positions[column] == nil {
            problems.append(ImportProblem(line: line, field: column.rawValue, reason: "missing column"))
        }
        return problems.isEmpty ? .value(Header(positions: positions, count: fields.count)) : .problems(problems)
    }

    /// One line's fill, or every problem in it (a field at a time, in column order).
    public static func fill(_ fields: [String], header: Header, line: Int) -> Parsed<AnalyticsFill> {
        guard fields.count == header.count else {
            return .problems([ImportProblem(line: line, field: "line", reason: "\(fields.count) fields, the header has \(header.count)")])
        }
        var problems: [ImportProblem] = []
        func required(_ column: Column) -> String? {
            let value = header.value(column, in: fields) ?? ""
            if value.isEmpty { problems.append(ImportProblem(line: line, field: column.rawValue, reason: "missing")); return nil }
            return value
        }
        func decimal(_ column: Column, positive: Bool) -> FixedDecimal? {
            guard let text = required(column) else { return nil }
            guard let value = FixedDecimal(text) else {
                problems.append(ImportProblem(line: line, field: column.rawValue,
                                              reason: "'\(shown(text))' is not an exact decimal of at most nine places"))
                return nil
            }
            if positive ? value <= .zero : value < .zero {
                problems.append(ImportProblem(line: line, field: column.rawValue, reason: "must be \(positive ? "> 0" : "≥ 0") (got \(text))"))
                return nil
            }
            return value
        }
        let symbol = required(.symbol)
        let exchange = required(.exchange)
        var side: AnalyticsFill.Side?
        if let text = required(.side) {
            switch text.lowercased() {
            case "buy": side = .buy
            case "sell": side = .sell
            default: problems.append(ImportProblem(line: line, field: "side", reason: "'\(shown(text))' is not buy or sell"))
            }
        }
        let quantity = decimal(.quantity, positive: true)
        let price = decimal(.price, positive: true)
        let fee = decimal(.fee, positive: false)
        var micros: Int64?
        if let text = required(.time) {
            micros = ISOTime.micros(text)
            if micros == nil {
                problems.append(ImportProblem(line: line, field: "time",
                                              reason: "'\(shown(text))' is not an ISO 8601 time with an offset (e.g. 2026-01-05T09:15:00+05:30), at most microseconds"))
            }
        }
        let tradeID = required(.tradeID)
        var category: AnalyticsFill.Category?
        if let text = header.value(.category, in: fields), !text.isEmpty {
            category = AnalyticsFill.Category(rawValue: text.lowercased())
            if category == nil {
                problems.append(ImportProblem(line: line, field: "category", reason: "'\(shown(text))' is not intraday, swing or long_term"))
            }
        }
        guard problems.isEmpty, let symbol, let exchange, let side, let quantity, let price, let fee, let micros, let tradeID else {
            return .problems(problems)
        }
        return .value(AnalyticsFill(symbol: symbol, exchange: exchange, side: side, quantity: quantity, price: price, fee: fee,
                                      timeMicros: micros, brokerTradeID: tradeID, category: category))
    }

    /// A value as a problem quotes it: at most 40 characters.
    static func shown(_ text: String) -> String { text.count > 40 ? String(text.prefix(40)) + "…" : text }
}

/// One refused line (or header): which line, which field, why.
public struct ImportProblem: Sendable, Codable, Equatable, CustomStringConvertible {
    public var line: Int
    public var field: String
    public var reason: String

    public init(line: Int, field: String, reason: String) {
        self.line = line
        self.field = field
        self.reason = reason
    }

    public var description: String { "line \(line), \(field): \(reason)" }
}

/// ISO 8601 times with an explicit offset, to the microsecond.
enum ISOTime {
    /// `YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM|±HHMM)` (a space may stand for the `T`; up to six
    /// fraction digits) as microseconds since the epoch; nil for anything else, including a time
    /// with no offset (its instant would be a guess) or an impossible date.
    static func micros(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var value = 0
            for k in i..<(i + n) {
                guard b[k] >= 48, b[k] <= 57 else { return nil }
                value = value * 10 + Int(b[k] - 48)
            }
            i += n
            return value
        }
        func expect(_ c: Character) -> Bool {
            guard i < b.count, b[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2) else { return nil }
        guard i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = digits(2), expect(":"), let minute = digits(2), expect(":"), let second = digits(2) else { return nil }
        var fraction = 0
        if expect(".") {
            var places = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                places += 1
                guard places <= 6 else { return nil }
                fraction = fraction * 10 + Int(b[i] - 48)
                i += 1
            }
            guard places > 0 else { return nil }
            for _ in places..<6 { fraction *= 10 }
        }
        var offsetSeconds = 0
        if expect("Z") {
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = digits(2) else { return nil }
            _ = expect(":")
            guard let om = digits(2), oh <= 18, om < 60 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count, year >= 1970, hour < 24, minute < 60, second < 60,
              let seconds = WireTime.epochSeconds(year, month, day, hour, minute, second) else { return nil }
        return (Int64(seconds) - Int64(offsetSeconds)) * 1_000_000 + Int64(fraction)
    }
}
