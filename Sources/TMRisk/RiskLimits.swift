import Foundation
import TMCore

/// Whether an account (or everyone) may trade: the kill switch is `halted`.
public enum TradingState: String, Sendable, Codable, Comparable {
    /// Every control applies; any order may pass.
    case active
    /// Only orders that reduce an existing position pass (`trading_limits.trading_state = 'reduce_only'`).
    case reducing = "reduce_only"
    /// No new order passes; cancels still do.
    case halted

    private var severity: Int {
        switch self {
        case .active: return 0
        case .reducing: return 1
        case .halted: return 2
        }
    }

    public static func < (lhs: TradingState, rhs: TradingState) -> Bool { lhs.severity < rhs.severity }
}

/// The limits an order is checked against. `nil` means "not limited at this level".
///
/// Guarantees: `combined(with:)` is the stricter of two levels field by field (the smaller limit,
/// the union of restricted symbols, the more severe trading state), so a user-wide limit can never
/// be loosened by an account's row or the reverse.
public struct RiskLimits: Sendable, Equatable {
    public var tradingState: TradingState = .active
    public var maxOrderQuantity: FixedDecimal?
    public var maxOrderNotional: FixedDecimal?
    /// Largest distance of a limit price from the last price, in percent of the last price.
    public var priceBandPercent: FixedDecimal?
    /// Largest absolute position per symbol, counting working orders that add to it.
    public var maxPositionQuantity: FixedDecimal?
    public var maxPositionNotional: FixedDecimal?
    /// Largest share of the account's equity one symbol's position may be worth (0 < x ≤ 1).
    public var maxConcentration: FixedDecimal?
    /// A positive amount: the day's loss at which orders that add exposure stop.
    public var dailyLossLimit: FixedDecimal?
    /// The day's traded value (filled plus reserved by working orders) an order may not take past.
    public var dailyTurnoverLimit: FixedDecimal?
    public var maxOpenOrders: Int?
    public var maxOrdersPerSecond: Int?
    public var restrictedSymbols: Set<String> = []
    /// How long an identical order (symbol, side, quantity, type, prices) counts as a duplicate.
    public var duplicateWindow: Duration = .seconds(2)
    /// Positions older than this cannot be trusted to check position limits.
    public var maxPositionAge: Duration = .seconds(600)
    /// Set when these are the emergency limits: until when they apply. From then on the engine
    /// denies every order (`TRADING_HALTED`): limits that cannot be read are not trusted longer.
    public var emergencyUntil: Date?

    public init() {}

    /// The limits that apply when none can be loaded (the product brief's): trades up to 2,000.00
    /// each and 10,000.00 in the day, for one hour from `now`.
    public static func emergency(now: Date) -> RiskLimits {
        var limits = RiskLimits()
        limits.maxOrderNotional = 2000
        limits.dailyTurnoverLimit = 10000
        limits.emergencyUntil = now.addingTimeInterval(3600)
        return limits
    }

    public func combined(with other: RiskLimits) -> RiskLimits {
        func stricter<T: Comparable>(_ a: T?, _ b: T?) -> T? {
            switch (a, b) {
            case let (a?, b?): return min(a, b)
            default: return a ?? b
            }
        }
        var out = RiskLimits()
        out.tradingState = max(tradingState, other.tradingState)
        out.maxOrderQuantity = stricter(maxOrderQuantity, other.maxOrderQuantity)
        out.maxOrderNotional = stricter(maxOrderNotional, other.maxOrderNotional)
        out.priceBandPercent = stricter(priceBandPercent, other.priceBandPercent)
        out.maxPositionQuantity = stricter(maxPositionQuantity, other.maxPositionQuantity)
        out.maxPositionNotional = stricter(maxPositionNotional, other.maxPositionNotional)
        out.maxConcentration = stricter(maxConcentration, other.maxConcentration)
        out.dailyLossLimit = stricter(dailyLossLimit, other.dailyLossLimit)
        out.dailyTurnoverLimit = stricter(dailyTurnoverLimit, other.dailyTurnoverLimit)
        out.maxOpenOrders = stricter(maxOpenOrders, other.maxOpenOrders)
        out.maxOrdersPerSecond = stricter(maxOrdersPerSecond, other.maxOrdersPerSecond)
        out.restrictedSymbols = restrictedSymbols.union(other.restrictedSymbols)
        out.duplicateWindow = max(duplicateWindow, other.duplicateWindow)
        out.maxPositionAge = min(maxPositionAge, other.maxPositionAge)
        out.emergencyUntil = stricter(emergencyUntil, other.emergencyUntil)
        return out
    }
}
