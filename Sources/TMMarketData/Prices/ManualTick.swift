import Foundation
import TMCore

/// A tick fed by hand (`tm ticks publish`), checked exactly as `market-ticks` consumers check one.
///
/// Guarantees: the tick is built from the operator's text through the wire form and
/// `PriceTick.decode`, so it is refused for the same reasons (naming the field) a consumer would
/// refuse it; symbol and exchange are also refused when they hold `:` or spaces (they name the
/// cache key `price:<SYMBOL>:<EXCHANGE>`); the exchange is kept upper-case; decimals are read as
/// text, never through `Double`.
public enum ManualTick {
    public static let source = "manual"

    public static func make(symbol: String, exchange: String, price: String, previousClose: String?, atMs: Int64) throws -> PriceTick {
        for (field, value) in [("symbol", symbol), ("exchange", exchange)] where value.contains(where: { $0 == ":" || $0.isWhitespace }) {
            throw PriceTick.Invalid(field: field, reason: "must not contain ':' or spaces")
        }
        var members: [(key: String, value: JSONValue)] = [("symbol", .string(symbol)), ("exchange", .string(exchange.uppercased())),
                                                          ("price", .string(price))]
        if let previousClose { members.append(("previous_close", .string(previousClose))) }
        members += [("source", .string(source)), ("at_ms", .number(String(atMs)))]
        return try PriceTick.decode(Array(JSONValue.object(members).text.utf8))
    }
}
