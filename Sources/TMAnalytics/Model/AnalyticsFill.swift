import Foundation
import TMCore

/// One fill as the analytics see it: what `trades` holds, reduced to what matching needs.
///
/// Amounts are exact (`FixedDecimal`, nine places); the time is microseconds since the Unix epoch
/// (UTC), Postgres's own resolution, so ordering never rounds two fills together.
public struct AnalyticsFill: Sendable, Hashable {
    public enum Side: UInt8, Sendable { case buy, sell }

    /// A trade's own category (`trades.category`); when absent the engine derives one from the
    /// holding time of the closing fill's oldest slice.
    public enum Category: String, Sendable, CaseIterable, Codable { case intraday, swing, longTerm = "long_term" }

    public var symbol: String
    public var exchange: String
    public var side: Side
    /// > 0.
    public var quantity: FixedDecimal
    /// > 0.
    public var price: FixedDecimal
    /// ≥ 0, in the fill's currency.
    public var fee: FixedDecimal
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var timeMicros: Int64
    /// The broker's trade id: breaks ties between fills at the same microsecond.
    public var brokerTradeID: String
    public var category: Category?

    public init(symbol: String, exchange: String, side: Side, quantity: FixedDecimal, price: FixedDecimal, fee: FixedDecimal,
                timeMicros: Int64, brokerTradeID: String, category: Category? = nil) {
        self.symbol = symbol
        self.exchange = exchange
        self.side = side
        self.quantity = quantity
        self.price = price
        self.fee = fee
        self.timeMicros = timeMicros
        self.brokerTradeID = brokerTradeID
        self.category = category
    }
}

/// Everything the engine needs to compute one user's analytics in one currency: the whole history
/// of fills (matching always runs over all of it), the capital when it is in this currency, and
/// the latest prices of the instruments still open.
public struct UserFills: Sendable {
    public var userID: UUID
    /// The currency of every fill here: amounts in different currencies are never added up.
    public var currency: String
    /// `users.capital` when `users.capital_currency` is this currency; nil otherwise (no return-based ratios).
    public var capital: FixedDecimal?
    /// In any order; the engine orders them by time, then broker trade id.
    public var fills: [AnalyticsFill]

    public init(userID: UUID, currency: String, capital: FixedDecimal?, fills: [AnalyticsFill]) {
        self.userID = userID
        self.currency = currency
        self.capital = capital
        self.fills = fills
    }
}

/// The periods analytics are kept for, with the names `analytics.period` stores.
public enum AnalyticsPeriod: String, Sendable, CaseIterable, Codable {
    case day, week, month, year, all
}
