import Foundation

public enum Side: String, Sendable { case buy, sell }

public enum SimOrderType: String, Sendable { case market, limit }

/// An order's life at the simulated broker; each front end spells it its broker's way.
public enum SimOrderStatus: String, Sendable {
    case open
    case partiallyFilled = "partially_filled"
    case filled, cancelled, rejected

    /// Still working at the exchange (can fill or be cancelled).
    public var isWorking: Bool { self == .open || self == .partiallyFilled }
}

/// What a front end asks the exchange to place, already parsed from the broker's wire format.
public struct OrderTicket: Sendable {
    public var symbol: String
    public var side: Side
    public var type: SimOrderType
    public var quantity: Decimal
    public var limitPrice: Decimal?
    /// Alpaca `client_order_id`, Binance `newClientOrderId`, Kite/Upstox `tag`.
    public var clientOrderID: String?
    public var timeInForce: String
    /// Kite product (CNC/MIS/NRML), Upstox product (D/I); empty elsewhere.
    public var product: String
    /// Kite variety (regular, amo, ...); empty elsewhere.
    public var variety: String

    public init(symbol: String, side: Side, type: SimOrderType, quantity: Decimal, limitPrice: Decimal? = nil, clientOrderID: String? = nil,
                timeInForce: String = "DAY", product: String = "", variety: String = "") {
        self.symbol = symbol
        self.side = side
        self.type = type
        self.quantity = quantity
        self.limitPrice = limitPrice
        self.clientOrderID = clientOrderID
        self.timeInForce = timeInForce
        self.product = product
        self.variety = variety
    }
}

/// An order as the simulated exchange holds it.
///
/// Guarantees: `filledQuantity` ≤ `quantity`; `filledValue` is the exact sum of fill quantity × price,
/// so the average price is exact up to the division.
public struct SimOrder: Sendable {
    public let id: String
    /// Numeric id (Binance `orderId`); also the order's position in the account's book.
    public let number: Int
    public let ticket: OrderTicket
    public let instrument: Instrument
    public internal(set) var filledQuantity: Decimal = 0
    public internal(set) var filledValue: Decimal = 0
    public internal(set) var status: SimOrderStatus = .open
    public internal(set) var statusMessage: String?
    public let createdAt: Date
    public internal(set) var updatedAt: Date
    public internal(set) var filledAt: Date?
    public internal(set) var cancelledAt: Date?
    /// The order that replaced this one (Alpaca's replace), and the one this order replaced.
    public internal(set) var replacedBy: String?
    public internal(set) var replaces: String?
    /// The matching tick of the last fill, so a resting order fills at most once per tick.
    var lastFillTick: Int64 = .min

    public var symbol: String { ticket.symbol }
    public var side: Side { ticket.side }
    public var quantity: Decimal { ticket.quantity }
    public var clientOrderID: String? { ticket.clientOrderID }
    public var remainingQuantity: Decimal { status.isWorking ? quantity - filledQuantity : 0 }
    public var cancelledQuantity: Decimal { status == .cancelled || status == .rejected ? quantity - filledQuantity : 0 }

    /// Volume-weighted fill price, rounded to 8 places; nil before any fill.
    public var averagePrice: Decimal? {
        filledQuantity > 0 ? filledValue.divided(by: filledQuantity, roundedToScale: 8) : nil
    }
}

/// One fill (a trade) of an order.
public struct SimTrade: Sendable {
    /// Unique per account; increasing, so Binance's `fromId` and Alpaca's paging can use it.
    public let number: Int
    public let id: String
    public let orderID: String
    public let orderNumber: Int
    public let instrument: Instrument
    public let side: Side
    public internal(set) var quantity: Decimal
    public internal(set) var price: Decimal
    public internal(set) var fee: Decimal
    public let feeAsset: String
    public let time: Date
    /// Filled resting (limit orders after placement) rather than on arrival.
    public let isMaker: Bool
    /// The order's filled quantity after this fill, and what was left (Alpaca's cum_qty / leaves_qty).
    public let cumulativeQuantity: Decimal
    public let leavesQuantity: Decimal

    public var symbol: String { instrument.symbol }
}

/// An account's credentials at one broker.
public struct SimCredentials: Sendable {
    public var apiKey: String
    public var apiSecret: String
    /// Kite and Upstox tokens; Alpaca and Binance have none.
    public var accessToken: String?
    /// False after `expire-token`: every call is refused the broker's way until `restore-token`.
    public var tokenValid: Bool = true

    public init(apiKey: String, apiSecret: String, accessToken: String?) {
        self.apiKey = apiKey
        self.apiSecret = apiSecret
        self.accessToken = accessToken
    }
}
