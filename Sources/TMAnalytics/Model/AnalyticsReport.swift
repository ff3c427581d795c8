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

    /// Breakdowns; the engine defines their members and their JSON (stored in `analytics.report`).
    public var breakdowns: JSONValue

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
        breakdowns = .object([])
    }
}
