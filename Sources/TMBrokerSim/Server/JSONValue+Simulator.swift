import Foundation
import TMCore

/// The simulator's reading of request bodies with `JSONValue` (TMCore): JSON whose numbers stay
/// their exact text and whose objects keep their order, so money round-trips and responses list
/// fields the way the brokers do.
///
/// Guarantees: `decimalValue` goes from text to `Decimal` without `Double`, accepting what the
/// simulator has always accepted (`DecimalText.parseLenient`); `parse` refuses nesting deeper than
/// `maxRequestDepth`.
extension JSONValue {
    /// Deep nesting is refused rather than risking the stack of a connection thread.
    public static let maxRequestDepth = 64

    /// Parses a request body (RFC 8259); numbers keep their text.
    public static func parse(_ data: Data) throws -> JSONValue {
        try parse([UInt8](data), maxDepth: maxRequestDepth)
    }

    /// A number, or a string holding a plain decimal (Alpaca and Binance send decimals as strings).
    public var decimalValue: Decimal? {
        switch self {
        case .number(let text), .string(let text): return DecimalText.parseLenient(text)
        default: return nil
        }
    }
}
