import Foundation
import TMBrokers
import TMCore
import TMRisk
import TMRouting

/// What the risk side answers for a new order: the verdict, and what routing and execution quality
/// need from the same look (the last price, the lot, the account's average trade).
public struct RiskCheck: Sendable {
    public enum Outcome: Sendable {
        /// Passed; its value is now reserved in the account's ledger under the order's id.
        case passed(RiskAssessment)
        case denied(RiskDenial)
    }

    public var outcome: Outcome
    /// The last price the check valued the order at (nil when none was known).
    public var lastPrice: FixedDecimal?
    /// The instrument's lot (1 when unknown): the router splits in whole lots.
    public var lotSize: FixedDecimal
    /// The account's average trade value (nil: no history, never split).
    public var averageTradeValue: FixedDecimal?
    /// The limits checked were the emergency ones (none could be loaded).
    public var underEmergencyLimits: Bool

    public init(outcome: Outcome, lastPrice: FixedDecimal?, lotSize: FixedDecimal = 1, averageTradeValue: FixedDecimal? = nil,
                underEmergencyLimits: Bool = false) {
        self.outcome = outcome
        self.lastPrice = lastPrice
        self.lotSize = lotSize
        self.averageTradeValue = averageTradeValue
        self.underEmergencyLimits = underEmergencyLimits
    }
}

/// The risk state of the accounts a placer serves — resident in the order-worker (loaded once, kept
/// current), or loaded per invocation by the cold `order-placer`.
///
/// Guarantees of conforming types: `check` runs every control of `RiskEngine` on the account's
/// current state and limits, and on a pass reserves the order's value under `orderID` before it
/// returns, so the next check of the same account already counts it; `release` and `fill` keep the
/// ledger true as the order ends or fills. Calls for one account are serialised by the caller (one
/// shard owner), but implementations must be safe to call from several tasks.
public protocol RiskGate: Sendable {
    func check(_ order: PlaceOrder, orderID: UUID, now: Date) -> RiskCheck
    /// A working order about to be modified, checked as it will be (`order`: its new quantity and
    /// prices): its current reservation is set aside for the check, replaced on a pass, kept on a
    /// denial — a modify can never take an order past a limit its placement could not.
    func recheck(_ order: PlaceOrder, orderID: UUID, now: Date) -> RiskCheck
    /// The order ended without filling the rest (rejected, cancelled, expired, never sent).
    func release(orderID: UUID, account: UUID)
    /// A fill of the order: its own answer, a look-up, or a trade event.
    func fill(orderID: UUID, account: UUID, symbol: String, exchange: String, side: OrderSide, quantity: FixedDecimal, price: FixedDecimal)
    /// The instrument's market price now (market data's price cache): the price band, a market
    /// order's value and the day's P&L are checked against it from the next check on.
    func observe(lastPrice: FixedDecimal, symbol: String, exchange: String)
}

extension RiskGate {
    public func observe(lastPrice: FixedDecimal, symbol: String, exchange: String) {}
}

/// The latest market price of an instrument as market data last saw it, or nil when none is known
/// (never a stale one passed off as current: the price cache expires what nobody refreshes).
public protocol MarketPriceSource: Sendable {
    func latestPrice(symbol: String, exchange: String) async -> FixedDecimal?
}

/// Where an order may go: the account holder's connected broker accounts that list the instrument,
/// with the router's live inputs.
///
/// Guarantees of conforming types: candidates are accounts of the same user as `order.accountID`,
/// active, at brokers that list `order.exchange`, each with its broker's fee for an order worth
/// `value` (the risk check's notional); latency and error rate come from the calls `record` saw;
/// the circuit state is the broker's breaker as last read (a circuit that opened since is still
/// refused fast, as "never sent", by the adapter's own breaker).
public protocol RouteSource: Sendable {
    func candidates(for order: PlaceOrder, value: FixedDecimal) -> [RouteCandidate]
    /// One broker call, for the live speed and reliability.
    func record(broker: BrokerKind, latency: Duration, failed: Bool)
}
