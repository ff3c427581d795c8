import Foundation
import TMCore

/// One user's analytics in one currency for one period: a row of `analytics` (migration 0019), and
/// the JSON `tm analytics show --json` prints and `analytics:<user>:<period>` caches.
///
/// Exact amounts are `FixedDecimal` (JSON: strings); ratios are `Double`. Every optional is
/// *undefined* when nil — no decisive closes, no losses, fewer than two returns, zero deviation or
/// drawdown, no capital in this currency — and is stored as NULL / JSON null, never a made-up number.
public struct AnalyticsReport: Sendable, Equatable {
    public var userID: UUID
    public var currency: String
    public var period: AnalyticsPeriod
    /// First day of the period in the exchange zone, `yyyy-MM-dd` (ISO week: its Monday; all: 1970-01-01).
    public var periodStart: String

    // P&L
    public var realizedPnL: FixedDecimal
    /// Open lots at the latest price; only for `.all` (the state now).
    public var unrealizedPnL: FixedDecimal?
    public var totalPnL: FixedDecimal?
    public var fees: FixedDecimal
    public var netPnL: FixedDecimal
    public var grossProfit: FixedDecimal
    public var grossLoss: FixedDecimal

    // Closing fills
    public var closingFills: Int
    public var wins: Int
    public var losses: Int
    public var breakEvens: Int
    public var winRate: Double?
    public var averageWin: FixedDecimal?
    public var averageLoss: FixedDecimal?
    public var largestWin: FixedDecimal?
    public var largestLoss: FixedDecimal?
    public var expectancy: FixedDecimal?
    public var profitFactor: Double?
    public var maxConsecutiveWins: Int
    public var maxConsecutiveLosses: Int

    // Returns against the capital
    public var sharpe: Double?
    public var maxDrawdown: Double?
    public var maxDrawdownAmount: FixedDecimal?
    public var annualizedReturn: Double?
    public var calmar: Double?
    public var recoveryFactor: Double?

    // Activity
    public var fillsCount: Int
    public var tradingDays: Int
    public var averageTradesPerDay: Double?
    public var symbolsTraded: Int
    public var mostTradedSymbol: String?

    /// Categories, top and worst symbols, P&L by hour/weekday/month, the return series' extent.
    public var details: AnalyticsBreakdowns

    /// `details` as the JSON members that follow the headline fields in the report JSON (stored in
    /// `analytics.report`).
    public var breakdowns: JSONValue { AnalyticsReportJSON.breakdowns(details) }

    public init(userID: UUID, currency: String, period: AnalyticsPeriod, periodStart: String) {
        self.userID = userID
        self.currency = currency
        self.period = period
        self.periodStart = periodStart
        realizedPnL = .zero
        fees = .zero
        netPnL = .zero
        grossProfit = .zero
        grossLoss = .zero
        closingFills = 0
        wins = 0
        losses = 0
        breakEvens = 0
        maxConsecutiveWins = 0
        maxConsecutiveLosses = 0
        fillsCount = 0
        tradingDays = 0
        symbolsTraded = 0
        details = AnalyticsBreakdowns()
    }
}

/// The report's figures beyond the headline columns (README "Analytics" defines each).
public struct AnalyticsBreakdowns: Sendable, Equatable {
    /// One category's closing fills (intraday, swing, long_term in that order).
    public struct Category: Sendable, Equatable {
        public var realizedPnL: FixedDecimal = .zero
        public var closingFills = 0
        public var wins = 0
        public var losses = 0
        public var winRate: Double?
        /// Mean holding time of the closing fills' oldest slices: minutes for intraday, days otherwise.
        public var averageHolding: Double?
        public init() {}
    }

    /// One symbol's closing fills in the period.
    public struct Symbol: Sendable, Equatable {
        public var symbol: String
        public var realizedPnL: FixedDecimal
        /// Closing fills.
        public var trades: Int
        public var fills: Int
        public var winRate: Double?
        public init(symbol: String, realizedPnL: FixedDecimal, trades: Int, fills: Int, winRate: Double?) {
            self.symbol = symbol
            self.realizedPnL = realizedPnL
            self.trades = trades
            self.fills = fills
            self.winRate = winRate
        }
    }

    /// Realized P&L of the closing fills holding a bucket: local hour 0–23, ISO weekday 0 (Monday)–6,
    /// month 1–12; only buckets with closing fills, ascending.
    public struct Bucket: Sendable, Equatable {
        public var key: Int
        public var pnl: FixedDecimal
        public init(key: Int, pnl: FixedDecimal) {
            self.key = key
            self.pnl = pnl
        }
    }

    /// Realized P&L before fees (Σ (exit − entry) × qty, signed for shorts).
    public var grossRealizedPnL: FixedDecimal = .zero
    /// All time only: the fees of open lots' fills not yet charged to a slice.
    public var openLotFees: FixedDecimal?
    public var categories = [Category](repeating: Category(), count: 3)
    public var topSymbols: [Symbol] = []
    public var worstSymbols: [Symbol] = []
    public var pnlByHour: [Bucket] = []
    public var pnlByWeekday: [Bucket] = []
    public var pnlByMonth: [Bucket] = []
    /// The daily returns: how many (weekdays), their first and last day, the daily risk-free rate.
    public var returnDays = 0
    public var firstReturnDay: String?
    public var lastReturnDay: String?
    public var riskFreeDaily: Double = 0

    public init() {}
}
