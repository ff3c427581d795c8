import Foundation
import TMCore
import TMBrokers

/// An order as the risk engine sees it: what would be sent, in the platform's symbols.
public struct OrderIntent: Sendable, Equatable {
    public var symbol: String
    public var exchange: String
    public var side: OrderSide
    public var quantity: FixedDecimal
    public var type: OrderType
    public var limitPrice: FixedDecimal?
    public var triggerPrice: FixedDecimal?

    public init(symbol: String, exchange: String, side: OrderSide, quantity: FixedDecimal, type: OrderType,
                limitPrice: FixedDecimal? = nil, triggerPrice: FixedDecimal? = nil) {
        self.symbol = symbol
        self.exchange = exchange
        self.side = side
        self.quantity = quantity
        self.type = type
        self.limitPrice = limitPrice
        self.triggerPrice = triggerPrice
    }

    /// +quantity for a buy, −quantity for a sell: what the order does to the position.
    public var signedQuantity: FixedDecimal { side == .buy ? quantity : -quantity }

    var instrument: InstrumentKey { InstrumentKey(symbol: symbol, exchange: exchange) }
}

/// An instrument of the platform's master (`instruments`): exchange and symbol; shared by the
/// risk engine, market data and the portfolio. Printed `SYMBOL:EXCHANGE`.
public struct InstrumentKey: Sendable, Hashable, CustomStringConvertible {
    public var symbol: String
    public var exchange: String
    public init(symbol: String, exchange: String) {
        self.symbol = symbol
        self.exchange = exchange
    }
    public var description: String { "\(symbol):\(exchange)" }

    /// The symbol alone is hashed (equality still compares both): a risk check hashes instrument
    /// keys a dozen times, and each string costs a round of SipHash; one symbol listed on two
    /// exchanges is only a two-way collision.
    public func hash(into hasher: inout Hasher) { hasher.combine(symbol) }
}

/// What the instrument master says an order for the instrument must respect.
public struct InstrumentRules: Sendable, Equatable {
    public var lotSize: FixedDecimal
    public var tickSize: FixedDecimal
    public var tradable: Bool
    /// Most decimal places a price may have (nil: whatever the tick allows).
    public var priceScale: Int?
    /// Most decimal places a quantity may have (nil: whatever the lot allows).
    public var quantityScale: Int?
    /// Contract size: an order's value is quantity × price × multiplier.
    public var multiplier: FixedDecimal

    public init(lotSize: FixedDecimal = 1, tickSize: FixedDecimal, tradable: Bool = true, priceScale: Int? = nil, quantityScale: Int? = nil,
                multiplier: FixedDecimal = 1) {
        self.lotSize = lotSize
        self.tickSize = tickSize
        self.tradable = tradable
        self.priceScale = priceScale
        self.quantityScale = quantityScale
        self.multiplier = multiplier
    }
}

/// A quantity or price the instrument does not allow: the order field, the reason code, the words.
public struct RuleBreach: Sendable, Equatable {
    /// `quantity`, `price` (the limit) or `trigger`, as the `orders` messages name them.
    public var field: String
    public var reason: RiskReason
    public var message: String
}

extension InstrumentRules {
    /// The first way the quantity or prices break the lot, the tick or the precision; nil when they
    /// fit. One check for intake (which refuses before enqueueing) and the risk engine.
    public func breach(quantity: FixedDecimal?, limitPrice: FixedDecimal?, triggerPrice: FixedDecimal?) -> RuleBreach? {
        if let quantity {
            guard quantity > 0 else { return RuleBreach(field: "quantity", reason: .quantityNotPositive, message: "quantity must be positive, not \(quantity)") }
            guard quantity.isMultiple(of: lotSize) else {
                return RuleBreach(field: "quantity", reason: .quantityNotLotMultiple, message: "\(quantity) is not a multiple of the lot size \(lotSize)")
            }
            if let places = quantityScale, !quantity.fits(places: places) {
                return RuleBreach(field: "quantity", reason: .precisionExceeded, message: "\(quantity) has more than \(places) decimal places")
            }
        }
        // Two calls, not a loop over an array: this runs on every order (no allocation).
        return priceBreach("price", limitPrice) ?? priceBreach("trigger", triggerPrice)
    }

    private func priceBreach(_ field: String, _ price: FixedDecimal?) -> RuleBreach? {
        guard let price else { return nil }
        guard price > 0, price.isMultiple(of: tickSize) else {
            return RuleBreach(field: field, reason: .priceNotTickMultiple, message: "\(price) is off the tick: not a multiple of the tick size \(tickSize)")
        }
        if let places = priceScale, !price.fits(places: places) {
            return RuleBreach(field: field, reason: .precisionExceeded, message: "\(price) has more than \(places) decimal places")
        }
        return nil
    }
}

/// An order of the account that is still working at a broker, with what it holds of the day's
/// turnover and of the buying power.
public struct WorkingOrder: Sendable, Equatable {
    public var id: String
    public var instrument: InstrumentKey
    public var side: OrderSide
    public var remainingQuantity: FixedDecimal
    /// nil for market and stop orders.
    public var limitPrice: FixedDecimal?
    /// The price its value was reserved at (limit, trigger or last price when placed).
    public var reservePrice: FixedDecimal
    public var multiplier: FixedDecimal
    /// Whether it reduced a position when placed (reducing orders reserve no buying power).
    public var reducesExposure: Bool
    public var submittedAt: Date

    public init(id: String, instrument: InstrumentKey, side: OrderSide, remainingQuantity: FixedDecimal, limitPrice: FixedDecimal?,
                reservePrice: FixedDecimal, multiplier: FixedDecimal = 1, reducesExposure: Bool, submittedAt: Date) {
        self.id = id
        self.instrument = instrument
        self.side = side
        self.remainingQuantity = remainingQuantity
        self.limitPrice = limitPrice
        self.reservePrice = reservePrice
        self.multiplier = multiplier
        self.reducesExposure = reducesExposure
        self.submittedAt = submittedAt
    }

    /// The value it still holds: remaining × reserve price × multiplier.
    public var reservedValue: FixedDecimal { remainingQuantity * reservePrice * multiplier }
}
