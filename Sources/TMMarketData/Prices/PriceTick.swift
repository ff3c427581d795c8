import Foundation
import TMCore

/// One observed price of one instrument: what `market-data` publishes on `market-ticks` and writes
/// to the price cache, and what `tm ticks publish` feeds by hand.
///
/// Wire form (JSON, decimals as strings so no reader goes through `Double`):
/// `{"symbol":"INFY","exchange":"NSE","price":"1402.5","previous_close":"1390","source":"kite","at_ms":1764900000000}`;
/// `previous_close` may be absent. `decode` refuses a bad tick naming the field and the reason.
public struct PriceTick: Sendable, Hashable {
    public var symbol: String
    public var exchange: String
    public var price: Decimal
    /// The previous session's close, for CHANGE_PERCENT alerts and day P&L; nil when unknown.
    public var previousClose: Decimal?
    /// Who observed it: a broker (`kite`, `upstox`, `alpaca`, `binance`) or `manual`.
    public var source: String
    /// When it was observed (Unix ms).
    public var atMs: Int64

    public init(symbol: String, exchange: String, price: Decimal, previousClose: Decimal? = nil, source: String, atMs: Int64) {
        self.symbol = symbol
        self.exchange = exchange
        self.price = price
        self.previousClose = previousClose
        self.source = source
        self.atMs = atMs
    }

    /// A tick that is not what the wire form says.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let field: String
        public let reason: String
        public var description: String { "\(field): \(reason)" }
    }

    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            (key: "symbol", value: .string(symbol)), (key: "exchange", value: .string(exchange)),
            (key: "price", value: .string(DecimalText.plain(price))),
        ]
        if let previousClose { members.append((key: "previous_close", value: .string(DecimalText.plain(previousClose)))) }
        members += [(key: "source", value: .string(source)), (key: "at_ms", value: .number(String(atMs)))]
        return .object(members)
    }

    public static func decode(_ bytes: [UInt8]) throws -> PriceTick {
        guard let value = try? JSONValue.parse(bytes), value.objectFields != nil else {
            throw Invalid(field: "tick", reason: "not a JSON object")
        }
        func text(_ field: String) throws -> String {
            guard let text = value[field]?.stringValue, !text.isEmpty else { throw Invalid(field: field, reason: "missing or not a string") }
            return text
        }
        func positive(_ field: String) throws -> Decimal {
            guard let number = DecimalText.parse(try text(field)) else { throw Invalid(field: field, reason: "not a decimal") }
            guard number > 0 else { throw Invalid(field: field, reason: "must be greater than zero") }
            return number
        }
        guard case .number(let at)? = value["at_ms"], let atMs = Int64(at), atMs >= 0 else {
            throw Invalid(field: "at_ms", reason: "missing or not a whole number of milliseconds")
        }
        return PriceTick(symbol: try text("symbol"), exchange: try text("exchange"), price: try positive("price"),
                         previousClose: value["previous_close"] == nil ? nil : try positive("previous_close"),
                         source: try text("source"), atMs: atMs)
    }
}
