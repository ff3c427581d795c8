import Foundation
import TMMarketData
import TMRisk  // InstrumentKey: the platform's one name of an instrument (symbol, exchange)

/// A broker account of the user being valued.
public struct AccountRef: Sendable, Hashable {
    public var id: UUID
    public var broker: String
    public var label: String
    public init(id: UUID, broker: String, label: String) {
        self.id = id
        self.broker = broker
        self.label = label
    }
}

/// One instrument in one account, as the database has it: the position (zero quantity when there
/// is none, e.g. closed today) and the fills of the day being valued.
public struct Holding: Sendable, Hashable {
    public var accountID: UUID
    public var instrument: InstrumentKey
    /// The instrument's currency (`instruments.currency`; the broker's usual one when unlisted).
    public var currency: String
    /// Negative for a short; 0 when flat or when only fills of the day exist.
    public var quantity: Decimal = 0
    public var averagePrice: Decimal = 0
    /// `instruments.multiplier` when listed, else what the broker reported with the position.
    public var multiplier: Decimal = 1
    /// A futures contract (`instruments.instrument_type = 'future'`): margined and settled daily, so
    /// its notional is exposure, not something owned — it adds its P&L to the account's value.
    public var isFuture = false
    public var realizedPnl: Decimal = 0
    /// The account's last fill of the instrument up to the end of the day valued.
    public var lastFill: LastFill?
    /// The day's fills: quantities, and Σ quantity × price (without the multiplier) per side.
    public var bought: Decimal = 0
    public var boughtValue: Decimal = 0
    public var sold: Decimal = 0
    public var soldValue: Decimal = 0
    /// The day's fees in the instrument's currency (fees in another asset, e.g. BNB, are left out).
    public var fees: Decimal = 0

    public init(accountID: UUID, instrument: InstrumentKey, currency: String) {
        self.accountID = accountID
        self.instrument = instrument
        self.currency = currency
    }
}

/// A fill's price and time (Unix ms).
public struct LastFill: Sendable, Hashable {
    public var price: Decimal
    public var atMs: Int64
    public init(price: Decimal, atMs: Int64) {
        self.price = price
        self.atMs = atMs
    }
}

/// Cash of one account in one currency.
public struct CashLine: Sendable, Hashable {
    public var accountID: UUID
    public var currency: String
    public var amount: Decimal
    public init(accountID: UUID, currency: String, amount: Decimal) {
        self.accountID = accountID
        self.currency = currency
        self.amount = amount
    }
}

/// What a valuation reads from the database for one user and one day (`PortfolioRows`).
public struct PortfolioInputs: Sendable {
    public var userID: UUID
    /// The UTC day whose fills count (`2026-12-05`).
    public var day: String
    public var accounts: [AccountRef]
    public var holdings: [Holding]
    public var cash: [CashLine]

    public init(userID: UUID, day: String, accounts: [AccountRef], holdings: [Holding], cash: [CashLine]) {
        self.userID = userID
        self.day = day
        self.accounts = accounts
        self.holdings = holdings
        self.cash = cash
    }

    /// The instruments whose cached prices the valuation needs.
    public var instruments: [InstrumentKey] { Array(Set(holdings.map(\.instrument))).sorted { ($0.exchange, $0.symbol) < ($1.exchange, $1.symbol) } }
}

/// The valuation's arithmetic, on exact decimals and nothing else (no I/O).
///
/// Per open position, with P the current price and m the multiplier:
/// - P is the cached price; without one, the account's last fill of the instrument, else the
///   average price — and the position says which (`PriceSource`), so a fallback is never passed
///   off as live;
/// - market value = quantity × P × m (negative for a short): what the position is worth, or for a
///   future (margined, no notional changes hands) its exposure;
/// - unrealized P&L = (P − average price) × quantity × m: for a short (quantity < 0) a rise in
///   price is a loss.
///
/// **Day P&L** of an instrument in an account, for the UTC day D being valued (the day that holds
/// a whole NSE/BSE and a whole US session), with q the quantity now, B/S the quantities bought and
/// sold on D, V_B/V_S their Σ quantity × price, F the day's fees, q₀ = q − (B − S) the quantity
/// held at the previous close and C that close (`previous_close` of the price cache):
///
///     day P&L = m × (V_S − V_B) − F + m × (q × P − q₀ × C)
///
/// i.e. the day's realized trading (cash in minus cash out, fees included) plus the change in
/// value of what is held since the previous close — a position opened on D counts from its fill
/// prices, one closed on D from C to its exit, one held through D from C to P. When C is not known
/// and q₀ ≠ 0, the overnight term is left out (C taken as P) and the figure is marked incomplete
/// (`dayPnlComplete` false). Realized P&L is the brokers' own figure, as synced with the positions.
///
/// Cash per account and currency is what `PortfolioRows` read from `account_funds`. Totals are per
/// currency: total value = cash + Σ market value, where a future counts its unrealized P&L instead
/// of its notional (a short NIFTY future is not a debt of its notional).
public enum PortfolioArithmetic {
    public static func value(_ inputs: PortfolioInputs, prices: [InstrumentKey: CachedPrice], computedAtMs: Int64) -> PortfolioValuation {
        let brokers = Dictionary(inputs.accounts.map { ($0.id, $0.broker) }, uniquingKeysWith: { a, _ in a })
        var perAccount: [UUID: [String: CurrencyTotals]] = [:]
        var positions: [PositionValue] = []
        for line in inputs.cash {
            perAccount[line.accountID, default: [:]][line.currency, default: CurrencyTotals(currency: line.currency)].cash += line.amount
        }
        for h in inputs.holdings {
            let cached = prices[h.instrument]
            let (price, source, feed, at): (Decimal, PriceSource, String?, Int64?) =
                if let cached { (cached.tick.price, .cache, cached.tick.source, cached.tick.atMs) }
                else if let fill = h.lastFill { (fill.price, .lastFill, nil, fill.atMs) }
                else { (h.averagePrice, .averagePrice, nil, nil) }
            let previousClose = cached?.tick.previousClose
            let m = h.multiplier
            let heldAtClose = h.quantity - (h.bought - h.sold)
            let flow = m * (h.soldValue - h.boughtValue) - h.fees
            let close = previousClose ?? price
            let dayPnl = flow + m * (h.quantity * price - heldAtClose * close)
            let dayComplete = previousClose != nil || heldAtClose == 0
            let marketValue = h.quantity * price * m
            let unrealized = (price - h.averagePrice) * h.quantity * m

            var totals = CurrencyTotals(currency: h.currency)
            totals.realizedPnl = h.realizedPnl
            totals.dayPnl = dayPnl
            totals.dayPnlComplete = dayComplete
            if h.quantity != 0 {
                totals.positionsValue = h.isFuture ? unrealized : marketValue
                totals.unrealizedPnl = unrealized
                totals.fallbackPriced = source.isStale ? 1 : 0
                positions.append(PositionValue(
                    accountID: h.accountID, broker: brokers[h.accountID] ?? "", symbol: h.instrument.symbol, exchange: h.instrument.exchange,
                    currency: h.currency, quantity: h.quantity, averagePrice: h.averagePrice, multiplier: m, currentPrice: price,
                    priceSource: source, priceFeed: feed, priceAtMs: at, previousClose: previousClose, marketValue: marketValue,
                    unrealizedPnl: unrealized, realizedPnl: h.realizedPnl, dayPnl: dayPnl, dayPnlComplete: dayComplete))
            }
            perAccount[h.accountID, default: [:]][h.currency, default: CurrencyTotals(currency: h.currency)].add(totals)
        }
        var overall: [String: CurrencyTotals] = [:]
        let accounts = inputs.accounts.map { account in
            let lines = (perAccount[account.id] ?? [:]).values.sorted { $0.currency < $1.currency }
            for line in lines { overall[line.currency, default: CurrencyTotals(currency: line.currency)].add(line) }
            return AccountValue(accountID: account.id, broker: account.broker, label: account.label, totals: lines)
        }
        positions.sort { ($0.accountID.uuidString, $0.exchange, $0.symbol) < ($1.accountID.uuidString, $1.exchange, $1.symbol) }
        return PortfolioValuation(userID: inputs.userID, computedAtMs: computedAtMs, day: inputs.day,
                                  totals: overall.values.sorted { $0.currency < $1.currency }, accounts: accounts, positions: positions)
    }
}
