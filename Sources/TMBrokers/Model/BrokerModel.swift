import Foundation

/// The brokers the platform connects to (the `broker_accounts.broker` values).
public enum BrokerKind: String, Sendable, Codable, CaseIterable {
    case kite, upstox, alpaca, binance
}

public enum OrderSide: String, Sendable, Codable { case buy, sell }

public enum OrderType: String, Sendable, Codable { case market, limit, stop, stopLimit = "stop_limit" }

public enum TimeInForce: String, Sendable, Codable { case day, gtc, ioc, fok }

/// An order to place. Prices and quantities are exact decimals.
public struct OrderRequest: Sendable, Equatable {
    /// Deterministic from the order's idempotency key and valid for the broker (see `ClientOrderID`).
    public var clientOrderID: String
    /// The broker's symbol: Kite `tradingsymbol`, Upstox `instrument_token` (`NSE_EQ|INE...`),
    /// Alpaca and Binance symbols.
    public var symbol: String
    /// NSE/BSE for the Indian brokers; nil where the broker has none.
    public var exchange: String?
    public var side: OrderSide
    public var quantity: Decimal
    public var type: OrderType
    public var limitPrice: Decimal?
    public var stopPrice: Decimal?
    public var timeInForce: TimeInForce
    /// Kite `product` (CNC, MIS, NRML) / Upstox (D, I); nil = the adapter's default for delivery.
    public var product: String?

    public init(clientOrderID: String, symbol: String, exchange: String? = nil, side: OrderSide, quantity: Decimal,
                type: OrderType, limitPrice: Decimal? = nil, stopPrice: Decimal? = nil, timeInForce: TimeInForce = .day,
                product: String? = nil) {
        self.clientOrderID = clientOrderID
        self.symbol = symbol
        self.exchange = exchange
        self.side = side
        self.quantity = quantity
        self.type = type
        self.limitPrice = limitPrice
        self.stopPrice = stopPrice
        self.timeInForce = timeInForce
        self.product = product
    }
}

/// An order's state at the broker, normalised.
public enum BrokerOrderStatus: String, Sendable, Codable {
    /// Accepted, nothing filled yet (includes the broker's pending/new/trigger-pending states).
    case open
    case partiallyFilled = "partially_filled"
    case filled, cancelled, rejected, expired
}

/// An order as the broker reports it.
public struct BrokerOrder: Sendable, Equatable, Codable {
    public var brokerOrderID: String
    public var clientOrderID: String?
    public var symbol: String
    public var exchange: String?
    public var side: OrderSide
    public var type: OrderType
    public var quantity: Decimal
    public var filledQuantity: Decimal
    public var averagePrice: Decimal?
    public var limitPrice: Decimal?
    public var status: BrokerOrderStatus
    public var rejectReason: String?
    public var submittedAt: Date?
    public var updatedAt: Date?

    public init(brokerOrderID: String, clientOrderID: String?, symbol: String, exchange: String?, side: OrderSide, type: OrderType,
                quantity: Decimal, filledQuantity: Decimal, averagePrice: Decimal?, limitPrice: Decimal?, status: BrokerOrderStatus,
                rejectReason: String? = nil, submittedAt: Date? = nil, updatedAt: Date? = nil) {
        self.brokerOrderID = brokerOrderID
        self.clientOrderID = clientOrderID
        self.symbol = symbol
        self.exchange = exchange
        self.side = side
        self.type = type
        self.quantity = quantity
        self.filledQuantity = filledQuantity
        self.averagePrice = averagePrice
        self.limitPrice = limitPrice
        self.status = status
        self.rejectReason = rejectReason
        self.submittedAt = submittedAt
        self.updatedAt = updatedAt
    }
}

/// One fill as the broker reports it. `brokerTradeID` is unique per account at the broker; a
/// broker that reports partial fills as one growing activity (none of ours today) must still give
/// each fill its own id.
public struct BrokerTrade: Sendable, Equatable, Codable {
    public var brokerTradeID: String
    public var brokerOrderID: String
    public var clientOrderID: String?
    public var symbol: String
    public var exchange: String?
    public var side: OrderSide
    public var quantity: Decimal
    public var price: Decimal
    /// Fees charged for this fill (0 when the broker reports none), in `feeCurrency`.
    public var fee: Decimal
    public var feeCurrency: String?
    public var executedAt: Date

    public init(brokerTradeID: String, brokerOrderID: String, clientOrderID: String? = nil, symbol: String, exchange: String?,
                side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal = 0, feeCurrency: String? = nil, executedAt: Date) {
        self.brokerTradeID = brokerTradeID
        self.brokerOrderID = brokerOrderID
        self.clientOrderID = clientOrderID
        self.symbol = symbol
        self.exchange = exchange
        self.side = side
        self.quantity = quantity
        self.price = price
        self.fee = fee
        self.feeCurrency = feeCurrency
        self.executedAt = executedAt
    }
}

/// A position snapshot line. Quantity is signed (negative = short).
public struct BrokerPosition: Sendable, Equatable, Codable {
    public var symbol: String
    public var exchange: String?
    public var quantity: Decimal
    public var averagePrice: Decimal
    public var lastPrice: Decimal?
    public var realizedPnl: Decimal?
    public var unrealizedPnl: Decimal?

    public init(symbol: String, exchange: String?, quantity: Decimal, averagePrice: Decimal, lastPrice: Decimal? = nil,
                realizedPnl: Decimal? = nil, unrealizedPnl: Decimal? = nil) {
        self.symbol = symbol
        self.exchange = exchange
        self.quantity = quantity
        self.averagePrice = averagePrice
        self.lastPrice = lastPrice
        self.realizedPnl = realizedPnl
        self.unrealizedPnl = unrealizedPnl
    }
}

/// Where a trade sync resumes: opaque to callers, stored as JSON in `broker_accounts.sync_cursor`.
/// Each adapter keeps what its broker pages by (Alpaca: last activity id / time; Binance: last trade
/// id per symbol; Kite/Upstox: the day's trades are re-read, so the cursor holds the last fill time).
public struct TradeCursor: Sendable, Equatable, Codable {
    public var values: [String: String]
    public init(_ values: [String: String] = [:]) { self.values = values }
}

/// The trades since a cursor (every page already fetched) and the cursor to resume from next time.
public struct TradeBatch: Sendable, Equatable {
    public var trades: [BrokerTrade]
    public var next: TradeCursor
    public init(trades: [BrokerTrade], next: TradeCursor) {
        self.trades = trades
        self.next = next
    }
}
