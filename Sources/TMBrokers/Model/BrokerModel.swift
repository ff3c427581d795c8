import Foundation

/// The brokers the platform connects to (the `broker_accounts.broker` values).
public enum BrokerKind: String, Sendable, Codable, CaseIterable {
    case kite, upstox, alpaca, binance

    /// The broker's position in `allCases`: tables on the order path are indexed by it, since a
    /// dictionary keyed by a raw-value enum hashes the raw string on every look-up.
    public var ordinal: Int {
        switch self {
        case .kite: return 0
        case .upstox: return 1
        case .alpaca: return 2
        case .binance: return 3
        }
    }
}

/// The `broker_accounts.broker` of a manual account: a user's own record of fills at a broker the
/// platform does not connect to, filled by `tm trades import`. Deliberately not a `BrokerKind`:
/// there is no broker to call, so sync and market data skip it and the order path refuses it.
public enum ManualAccount {
    public static let broker = "manual"
    /// Why nothing is asked of a broker for such an account.
    public static let reason = "a manual account (its trades are imported with tm trades import; there is no broker to call)"
}

public enum OrderSide: String, Sendable, Codable { case buy, sell }

public enum OrderType: String, Sendable, Codable { case market, limit, stop, stopLimit = "stop_limit" }

public enum TimeInForce: String, Sendable, Codable { case day, gtc, ioc, fok }

/// How a position is held, where the broker distinguishes (Kite `product`, Upstox `product`).
public enum ProductType: String, Sendable, Codable, CaseIterable {
    /// Kite CNC, Upstox D: bought for delivery, held overnight.
    case delivery
    /// Kite MIS, Upstox I (also Kite's CO and BO): squared off the same day.
    case intraday
    /// Kite NRML: futures and options carried overnight.
    case carryForward = "carry_forward"
    /// Kite and Upstox MTF: delivery bought on the broker's margin.
    case margin

    /// The product's position in `allCases` (see `BrokerKind.ordinal`).
    public var ordinal: Int {
        switch self {
        case .delivery: return 0
        case .intraday: return 1
        case .carryForward: return 2
        case .margin: return 3
        }
    }
}

/// An order to place. Prices and quantities are exact decimals.
public struct OrderRequest: Sendable, Equatable {
    /// Deterministic from the order's idempotency key and valid for the broker (see `ClientOrderID`).
    public var clientOrderID: String
    /// The platform's symbol, which is the exchange's trading symbol (Kite `tradingsymbol`, Upstox
    /// `trading_symbol`, Alpaca and Binance symbols); Upstox places by `brokerToken`.
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
    /// The broker's own id of the instrument where it trades by one (Upstox's instrument key,
    /// `NSE_EQ|INE848E01016`, from `instruments.broker_tokens`); nil elsewhere.
    public var brokerToken: String?

    public init(clientOrderID: String, symbol: String, exchange: String? = nil, side: OrderSide, quantity: Decimal,
                type: OrderType, limitPrice: Decimal? = nil, stopPrice: Decimal? = nil, timeInForce: TimeInForce = .day,
                product: String? = nil, brokerToken: String? = nil) {
        self.brokerToken = brokerToken
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

extension BrokerOrderStatus {
    /// The platform's `orders.state` for this status and fill, consistent with the schema's
    /// invariants (FILLED only when all is filled, PARTIALLY_FILLED only strictly between). The one
    /// mapping sync and the order placer share.
    public func platformState(filled: Decimal, quantity: Decimal) -> String {
        switch self {
        case .filled: return filled == quantity ? "FILLED" : (filled > 0 ? "PARTIALLY_FILLED" : "ACCEPTED")
        case .partiallyFilled, .open: return filled == 0 ? "ACCEPTED" : (filled == quantity ? "FILLED" : "PARTIALLY_FILLED")
        case .cancelled: return "CANCELLED"
        case .rejected: return "REJECTED"
        case .expired: return "EXPIRED"
        }
    }
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
    /// Trigger price of a stop or stop-limit order.
    public var stopPrice: Decimal?
    /// Delivery or intraday (Kite `product`, Upstox `product`); nil where the broker has none.
    public var product: ProductType?
    /// What is still working at the broker (Kite/Upstox `pending_quantity`, Alpaca/Binance quantity −
    /// filled while open); 0 once the order is finished; nil when the broker did not say.
    public var remainingQuantity: Decimal?

    public init(brokerOrderID: String, clientOrderID: String?, symbol: String, exchange: String?, side: OrderSide, type: OrderType,
                quantity: Decimal, filledQuantity: Decimal, averagePrice: Decimal?, limitPrice: Decimal?, status: BrokerOrderStatus,
                rejectReason: String? = nil, submittedAt: Date? = nil, updatedAt: Date? = nil, stopPrice: Decimal? = nil,
                product: ProductType? = nil, remainingQuantity: Decimal? = nil) {
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
        self.stopPrice = stopPrice
        self.product = product
        self.remainingQuantity = remainingQuantity
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
    /// Delivery or intraday (Kite/Upstox `product`); nil where the broker has none.
    public var product: ProductType?
    /// Whether this fill added liquidity (Binance `isMaker`); nil when the broker does not say.
    public var isMaker: Bool?
    /// Price × quantity in the quote currency as the broker computed it (Binance `quoteQty`).
    public var quoteQuantity: Decimal?
    /// What was left of the order after this fill (Alpaca `leaves_qty`); nil when not reported.
    public var orderRemainingQuantity: Decimal?

    public init(brokerTradeID: String, brokerOrderID: String, clientOrderID: String? = nil, symbol: String, exchange: String?,
                side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal = 0, feeCurrency: String? = nil, executedAt: Date,
                product: ProductType? = nil, isMaker: Bool? = nil, quoteQuantity: Decimal? = nil, orderRemainingQuantity: Decimal? = nil) {
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
        self.product = product
        self.isMaker = isMaker
        self.quoteQuantity = quoteQuantity
        self.orderRemainingQuantity = orderRemainingQuantity
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
    /// Contract size: value = quantity × price × multiplier (1 for shares and coins; 1,000 for some
    /// Indian commodity and currency contracts). Exposure understated without it.
    public var multiplier: Decimal

    public init(symbol: String, exchange: String?, quantity: Decimal, averagePrice: Decimal, lastPrice: Decimal? = nil,
                realizedPnl: Decimal? = nil, unrealizedPnl: Decimal? = nil, multiplier: Decimal = 1) {
        self.symbol = symbol
        self.exchange = exchange
        self.quantity = quantity
        self.averagePrice = averagePrice
        self.lastPrice = lastPrice
        self.realizedPnl = realizedPnl
        self.unrealizedPnl = unrealizedPnl
        self.multiplier = multiplier
    }

    /// |quantity| × price × multiplier at the last price (the average price when there is none).
    public var exposure: Decimal { abs(quantity) * (lastPrice ?? averagePrice) * multiplier }
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

/// A change to a working order: the new quantity and prices, with what the broker needs to send
/// them (Kite and Upstox want the order type and validity again; Binance cancel-replace and
/// Alpaca's replace make a new order, which gets `replacementClientOrderID`).
public struct OrderModification: Sendable, Equatable {
    public var brokerOrderID: String
    public var symbol: String
    public var exchange: String?
    public var side: OrderSide
    public var type: OrderType
    /// The new total quantity (filled part included, as the brokers count it).
    public var quantity: Decimal
    public var limitPrice: Decimal?
    public var stopPrice: Decimal?
    public var timeInForce: TimeInForce
    /// The client id of the replacement where the broker makes a new order; derived from the
    /// modification's idempotency key like every client order id.
    public var replacementClientOrderID: String

    public init(brokerOrderID: String, symbol: String, exchange: String? = nil, side: OrderSide, type: OrderType, quantity: Decimal,
                limitPrice: Decimal? = nil, stopPrice: Decimal? = nil, timeInForce: TimeInForce = .day, replacementClientOrderID: String) {
        self.brokerOrderID = brokerOrderID
        self.symbol = symbol
        self.exchange = exchange
        self.side = side
        self.type = type
        self.quantity = quantity
        self.limitPrice = limitPrice
        self.stopPrice = stopPrice
        self.timeInForce = timeInForce
        self.replacementClientOrderID = replacementClientOrderID
    }
}

/// Money the account has at the broker, per segment or currency (Kite/Upstox: equity and
/// commodity segments; Alpaca: the account; Binance: each cash asset).
public struct BrokerFunds: Sendable, Equatable, Codable {
    /// Kite/Upstox segment (`equity`, `commodity`); nil where the broker has one account.
    public var segment: String?
    public var currency: String
    /// What new orders may use now (Kite `net`, Upstox `available_margin`, Alpaca `buying_power`,
    /// Binance `free`).
    public var available: Decimal
    /// Cash in the account (Kite `available.cash`, Alpaca `cash`); nil when not reported apart.
    public var cash: Decimal?
    /// Margin or balance tied up by open orders and positions (Kite `utilised.debits`, Upstox
    /// `used_margin`, Binance `locked`).
    public var used: Decimal?
    /// The account's total value (Alpaca `equity`, Binance free + locked); nil when not reported.
    public var total: Decimal?

    public init(segment: String? = nil, currency: String, available: Decimal, cash: Decimal? = nil, used: Decimal? = nil, total: Decimal? = nil) {
        self.segment = segment
        self.currency = currency
        self.available = available
        self.cash = cash
        self.used = used
        self.total = total
    }
}

/// An instrument to price: the platform's symbol and exchange (nil where the broker has none).
public struct InstrumentRef: Sendable, Hashable, Codable {
    public var symbol: String
    public var exchange: String?
    /// The broker's own id of the instrument where it quotes by one (Upstox's instrument key).
    public var brokerToken: String?
    public init(symbol: String, exchange: String? = nil, brokerToken: String? = nil) {
        self.symbol = symbol
        self.exchange = exchange
        self.brokerToken = brokerToken
    }
}

/// The last traded price of an instrument as the broker reported it.
public struct LastPrice: Sendable, Equatable, Codable {
    public var instrument: InstrumentRef
    public var price: Decimal
    /// When the trade happened, where the broker says (Alpaca); nil otherwise.
    public var tradedAt: Date?
    /// The previous session's close, where the call carries it (`LastPriceSource.quotes`); nil otherwise.
    public var previousClose: Decimal?
    public init(instrument: InstrumentRef, price: Decimal, tradedAt: Date? = nil, previousClose: Decimal? = nil) {
        self.instrument = instrument
        self.price = price
        self.tradedAt = tradedAt
        self.previousClose = previousClose
    }
}
