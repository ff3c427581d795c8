import Foundation

/// Why the exchange refused an order; each front end turns it into its broker's error shape.
public enum PlacementRejection: Error, Sendable, Equatable {
    case unknownInstrument(String)
    case nonPositiveQuantity
    case notLotMultiple(lotSize: Decimal)
    case missingLimitPrice
    case nonPositivePrice
    case notTickMultiple(tickSize: Decimal)
    /// Alpaca: the id was used before; Binance: an order with it is still working.
    case duplicateClientOrderID(String)
}

/// Why a cancel was refused.
public enum CancelRejection: Error, Sendable, Equatable {
    case notFound
    case notWorking(SimOrderStatus)
}

/// Why an admin fill or trade correction was refused (reported as a 400 naming the field).
public struct AdminRejection: Error, Sendable {
    public let status: Int
    public let field: String
    public let reason: String
    public init(status: Int = 400, field: String, reason: String) {
        self.status = status
        self.field = field
        self.reason = reason
    }
}

/// How a broker treats a client order id that was used before.
public enum ClientIDRule: Sendable {
    /// Kite and Upstox tags: no dedup; a second order with the same tag is a second order.
    case none
    /// Alpaca: an id can never be reused.
    case uniqueForever
    /// Binance: refused only while an order with the id is still working.
    case uniqueWhileWorking
}
