import Foundation
import TMBrokers

/// One account's state as the risk engine needs it, kept current by the order worker: positions,
/// funds, working orders, the day's P&L and turnover, recent submissions.
///
/// Guarantees: the day's usage is reserved when an order is accepted by the engine (`reserve`),
/// confirmed fill by fill (`fill`) and released when the order ends unfilled (`release`), so two
/// orders checked one after the other can never both spend the same turnover or buying power.
/// Everything here derives from stored rows (working orders, today's fills, the last positions
/// and funds), so a restarted worker rebuilds it exactly.
public struct AccountRisk: Sendable {
    /// Signed quantity per instrument (negative = short), as of `positionsAsOf`.
    public var positions: [InstrumentKey: Decimal] = [:]
    public var positionsAsOf: Date?
    /// What new orders may use at the broker as of `fundsAsOf` (`BrokerFunds.available`).
    public var buyingPower: Decimal?
    public var fundsAsOf: Date?
    /// The account's total value, for concentration (nil: concentration is not checked).
    public var equity: Decimal?
    /// Today's realized plus unrealized P&L; negative is a loss.
    public var dailyPnl: Decimal = 0
    /// Today's filled value.
    public var turnoverFilled: Decimal = 0
    public private(set) var workingOrders: [String: WorkingOrder] = [:]
    /// Submission times within the last second, oldest first (the submit-rate throttle).
    private(set) var recentSubmits: [Date] = []
    /// Identical orders recently accepted, with when (duplicate detection).
    private(set) var recentFingerprints: [Fingerprint: Date] = [:]

    public init() {}

    /// The value working orders hold against the day's turnover.
    public var turnoverReserved: Decimal { workingOrders.values.reduce(0) { $0 + $1.reservedValue } }

    /// Buying power held by orders sent after the funds were read (the broker's figure already
    /// counts the ones before).
    public var buyingPowerReserved: Decimal {
        workingOrders.values.reduce(0) { total, order in
            guard !order.reducesExposure, fundsAsOf.map({ order.submittedAt >= $0 }) ?? true else { return total }
            return total + order.reservedValue
        }
    }

    public func position(_ instrument: InstrumentKey) -> Decimal { positions[instrument] ?? 0 }

    /// Working orders' remaining quantity on one side of one instrument.
    public func working(_ instrument: InstrumentKey, side: OrderSide) -> Decimal {
        workingOrders.values.reduce(0) { $0 + ($1.instrument == instrument && $1.side == side ? $1.remainingQuantity : 0) }
    }

    // MARK: The ledger

    /// Records an order the engine accepted: it holds its value until it fills or ends.
    public mutating func reserve(id: String, _ order: OrderIntent, _ assessment: RiskAssessment, at now: Date) {
        workingOrders[id] = WorkingOrder(id: id, instrument: order.instrument, side: order.side, remainingQuantity: order.quantity,
                                         limitPrice: order.limitPrice, reservePrice: assessment.price, multiplier: assessment.multiplier,
                                         reducesExposure: assessment.reducesExposure, submittedAt: now)
        noteSubmission(Fingerprint(order), at: now)
    }

    /// A fill of a working order: its reservation shrinks by the quantity, the day's filled value and
    /// the position grow. A fill of an order this ledger does not hold (placed elsewhere) still counts.
    public mutating func fill(id: String, instrument: InstrumentKey, side: OrderSide, quantity: Decimal, price: Decimal, multiplier: Decimal = 1) {
        if var order = workingOrders[id] {
            order.remainingQuantity -= min(quantity, order.remainingQuantity)
            workingOrders[id] = order.remainingQuantity > 0 ? order : nil
        }
        turnoverFilled += quantity * price * multiplier
        positions[instrument, default: 0] += side == .buy ? quantity : -quantity
    }

    /// The order ended without filling the rest (rejected, cancelled, expired): its reservation goes.
    public mutating func release(id: String) {
        workingOrders[id] = nil
    }

    /// Working orders as the broker or the database lists them (after a restart, or a sync).
    public mutating func replaceWorkingOrders(_ orders: [WorkingOrder]) {
        workingOrders = Dictionary(orders.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
    }

    // MARK: Throttle and duplicates

    struct Fingerprint: Hashable, Sendable {
        let instrument: InstrumentKey
        let side: OrderSide
        let quantity: Decimal
        let type: OrderType
        let limitPrice: Decimal?
        let triggerPrice: Decimal?

        init(_ order: OrderIntent) {
            instrument = order.instrument
            side = order.side
            quantity = order.quantity
            type = order.type
            limitPrice = order.limitPrice
            triggerPrice = order.triggerPrice
        }
    }

    /// Submissions in the second before `now`.
    func submissions(inSecondBefore now: Date) -> ArraySlice<Date> {
        let start = now.addingTimeInterval(-1)
        let first = recentSubmits.firstIndex { $0 > start } ?? recentSubmits.endIndex
        return recentSubmits[first...]
    }

    func lastAccepted(_ fingerprint: Fingerprint) -> Date? { recentFingerprints[fingerprint] }

    private mutating func noteSubmission(_ fingerprint: Fingerprint, at now: Date) {
        let start = now.addingTimeInterval(-1)
        if let first = recentSubmits.firstIndex(where: { $0 > start }) { recentSubmits.removeFirst(first) } else { recentSubmits.removeAll() }
        recentSubmits.append(now)
        // Fingerprints older than a minute can no longer match any sensible window.
        if recentFingerprints.count > 256 { recentFingerprints = recentFingerprints.filter { now.timeIntervalSince($0.value) < 60 } }
        recentFingerprints[fingerprint] = now
    }
}
