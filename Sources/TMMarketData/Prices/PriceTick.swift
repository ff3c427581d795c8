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
        // The wire form as market-data writes it, by hand; anything else (and every refusal) below.
        if let tick = PriceTickWire.read(bytes) { return tick }
        return try decodeGeneric(bytes)
    }

    /// Any JSON spelling of a tick, through a `JSONValue` tree; refuses naming the field.
    static func decodeGeneric(_ bytes: [UInt8]) throws -> PriceTick {
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

/// A tick as `market-data` writes it, read by hand: the alert evaluator reads one per message,
/// and the generic way (a `JSONValue` tree, then `Decimal(string:)` for each price) was most of
/// its per-tick cost after the request itself (alert-bench's profile).
///
/// Guarantees: returns exactly what `PriceTick.decode`'s generic reader returns for the ticks it
/// takes — plain ASCII strings without escapes, prices written `digits(.digits)?` (no leading zero,
/// at most 18 digits, above zero), a plain whole `at_ms`, each member once and no other — and nil
/// for anything else, which the generic reader then reads or refuses, naming the field as before.
enum PriceTickWire {
    static func read(_ bytes: [UInt8]) -> PriceTick? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(bytes: buffer)
            return reader.tick()
        }
    }

    /// White space, bytes, strings and whole numbers are read by the shared `ByteCursor` (TMCore).
    private struct Reader {
        var cursor: ByteCursor

        init(bytes: UnsafeBufferPointer<UInt8>) { cursor = ByteCursor(bytes) }

        var bytes: UnsafeBufferPointer<UInt8> { cursor.bytes }

        mutating func tick() -> PriceTick? {
            var symbol: String?, exchange: String?, price: Decimal?, previousClose: Decimal?, source: String?, atMs: Int64?
            cursor.skipSpace()
            guard cursor.next(UInt8(ascii: "{")) else { return nil }
            while true {
                cursor.skipSpace()
                guard let name = text() else { return nil }
                cursor.skipSpace()
                guard cursor.next(UInt8(ascii: ":")) else { return nil }
                cursor.skipSpace()
                switch name {
                case "symbol": guard symbol == nil, let value = text(), !value.isEmpty else { return nil }; symbol = value
                case "exchange": guard exchange == nil, let value = text(), !value.isEmpty else { return nil }; exchange = value
                case "source": guard source == nil, let value = text(), !value.isEmpty else { return nil }; source = value
                case "price": guard price == nil, let value = positive() else { return nil }; price = value
                case "previous_close": guard previousClose == nil, let value = positive() else { return nil }; previousClose = value
                case "at_ms": guard atMs == nil, let value = cursor.wholeNumber(allowingMinus: false) else { return nil }; atMs = value
                default: return nil
                }
                cursor.skipSpace()
                if cursor.next(UInt8(ascii: ",")) { continue }
                guard cursor.next(UInt8(ascii: "}")) else { return nil }
                break
            }
            cursor.skipSpace()
            guard cursor.isAtEnd, let symbol, let exchange, let price, let source, let atMs else { return nil }
            return PriceTick(symbol: symbol, exchange: exchange, price: price, previousClose: previousClose, source: source, atMs: atMs)
        }

        mutating func text() -> String? {
            guard let span = cursor.plainASCIIString() else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[span]), as: UTF8.self)
        }

        /// `digits(.digits)?` above zero, at most 18 digits, no leading zero before other digits.
        mutating func positive() -> Decimal? {
            guard let span = cursor.plainASCIIString(), !span.isEmpty else { return nil }
            var mantissa: UInt64 = 0
            var digits = 0
            var places = 0
            var point = false
            for index in span {
                let byte = bytes[index]
                if byte == UInt8(ascii: ".") {
                    guard !point, digits > 0, index != span.upperBound - 1 else { return nil }
                    point = true
                    continue
                }
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                digits += 1
                guard digits <= 18 else { return nil }
                mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0"))
                if point { places += 1 }
            }
            // A leading zero is only "0" or "0.…".
            if bytes[span.lowerBound] == UInt8(ascii: "0"), span.count > 1, bytes[span.lowerBound + 1] != UInt8(ascii: ".") { return nil }
            guard mantissa > 0 else { return nil }
            // Without trailing zeros, as `Decimal(string:)` keeps it.
            while places > 0, mantissa % 10 == 0 {
                mantissa /= 10
                places -= 1
            }
            return Decimal(sign: .plus, exponent: -places, significand: Decimal(mantissa))
        }

    }
}
