import Foundation
import TMBrokers
import TMCore

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
    public var positions: [InstrumentKey: FixedDecimal] = [:]
    public var positionsAsOf: Date?
    /// What new orders may use at the broker as of `fundsAsOf` (`BrokerFunds.available`).
    public var buyingPower: FixedDecimal?
    public var fundsAsOf: Date? {
        didSet { recountBuyingPowerReserved() }
    }
    /// The account's total value, for concentration (nil: concentration is not checked).
    public var equity: FixedDecimal?
    /// Today's realized plus unrealized P&L; negative is a loss.
    public var dailyPnl: FixedDecimal = 0
    /// Today's filled value.
    public var turnoverFilled: FixedDecimal = 0
    /// Today's loss as the daily loss limit counts it (negative: a gain).
    public var dailyLoss: FixedDecimal { -dailyPnl }
    /// Today's turnover as the daily turnover limit counts it: filled, and held by working orders.
    public var turnoverUsed: FixedDecimal { turnoverFilled + turnoverReserved }
    public private(set) var workingOrders: [String: WorkingOrder] = [:]
    /// The value working orders hold against the day's turnover.
    public private(set) var turnoverReserved: FixedDecimal = 0
    /// Buying power held by orders sent after the funds were read (the broker's figure already
    /// counts the ones before); reducing orders hold none.
    public private(set) var buyingPowerReserved: FixedDecimal = 0
    /// Working quantity per instrument and side, and the working orders of each instrument: the
    /// aggregates every check reads, kept as orders come and go so a check costs no scan.
    private var workingQuantity: [SideKey: FixedDecimal] = [:]
    private var workingIDs: [InstrumentKey: Set<String>] = [:]
    /// Submission times within the last second, oldest first (the submit-rate throttle).
    private(set) var recentSubmits: [Date] = []
    /// Identical orders recently accepted, with when (duplicate detection).
    private(set) var recentFingerprints: [Fingerprint: Date] = [:]
    /// How many fingerprints the last prune kept.
    private var fingerprintsKept = 0

    struct SideKey: Hashable, Sendable {
        let instrument: InstrumentKey
        let side: OrderSide

        // `OrderSide` is a raw-value enum: synthesized hashing would hash its raw *string*.
        func hash(into hasher: inout Hasher) {
            hasher.combine(instrument.symbol)
            hasher.combine(side == .buy)
        }
    }

    public init() {}

    public func position(_ instrument: InstrumentKey) -> FixedDecimal { positions[instrument] ?? 0 }

    /// Working orders' remaining quantity on one side of one instrument.
    public func working(_ instrument: InstrumentKey, side: OrderSide) -> FixedDecimal {
        workingQuantity[SideKey(instrument: instrument, side: side)] ?? 0
    }

    /// The working orders of one instrument, in id order.
    public func workingOrders(of instrument: InstrumentKey) -> [WorkingOrder] {
        (workingIDs[instrument] ?? []).sorted().compactMap { workingOrders[$0] }
    }

    /// `workingOrders(of:).first(where:)` — the matching order with the smallest id — without
    /// sorting or copying the orders (the self-trade check asks on every order).
    public func firstWorkingOrder(of instrument: InstrumentKey, where matches: (WorkingOrder) -> Bool) -> WorkingOrder? {
        guard let ids = workingIDs[instrument] else { return nil }
        var first: WorkingOrder?
        for id in ids where first.map({ id < $0.id }) ?? true {
            if let order = workingOrders[id], matches(order) { first = order }
        }
        return first
    }

    // MARK: The ledger

    /// Records an order the engine accepted: it holds its value until it fills or ends.
    public mutating func reserve(id: String, _ order: OrderIntent, _ assessment: RiskAssessment, at now: Date) {
        put(WorkingOrder(id: id, instrument: order.instrument, side: order.side, remainingQuantity: order.quantity,
                         limitPrice: order.limitPrice, reservePrice: assessment.price, multiplier: assessment.multiplier,
                         reducesExposure: assessment.reducesExposure, submittedAt: now))
        noteSubmission(Fingerprint(order), at: now)
    }

    /// A fill of a working order: its reservation shrinks by the quantity, the day's filled value and
    /// the position grow. A fill of an order this ledger does not hold (placed elsewhere) still counts.
    public mutating func fill(id: String, instrument: InstrumentKey, side: OrderSide, quantity: FixedDecimal, price: FixedDecimal, multiplier: FixedDecimal = 1) {
        if var order = workingOrders[id] {
            order.remainingQuantity -= min(quantity, order.remainingQuantity)
            if order.remainingQuantity > 0 { put(order) } else { remove(id) }
        }
        turnoverFilled += quantity * price * multiplier
        positions[instrument, default: 0] += side == .buy ? quantity : -quantity
    }

    /// The order ended without filling the rest (rejected, cancelled, expired): its reservation goes.
    public mutating func release(id: String) { remove(id) }

    /// An order already working when this state was rebuilt (from its row, after a restart): it holds
    /// its value like any reservation, but is not a new submission (no throttle, no duplicate).
    public mutating func restore(_ order: WorkingOrder) { put(order) }

    /// After a rebuild from rows (`reloaded from:` the state it replaces): keeps what rows do not
    /// hold — the recent submissions (throttle, duplicates) and the reservations of orders checked
    /// since `since` whose rows were not yet committed when read — so a periodic reload never
    /// forgets an order in flight nor resets the rate limit.
    public mutating func carryOver(from previous: AccountRisk, since: Date) {
        recentSubmits = previous.recentSubmits
        recentFingerprints = previous.recentFingerprints
        fingerprintsKept = previous.fingerprintsKept
        for (id, order) in previous.workingOrders where workingOrders[id] == nil && order.submittedAt >= since { put(order) }
    }

    /// Working orders as the broker or the database lists them (after a restart, or a sync).
    public mutating func replaceWorkingOrders(_ orders: [WorkingOrder]) {
        for id in Array(workingOrders.keys) { remove(id) }
        for order in orders { put(order) }
    }

    /// Adds an order's share of every aggregate (replacing its previous version).
    private mutating func put(_ order: WorkingOrder) {
        // One look-up of the id, not a removal then an insertion (a new order is the common case).
        if let previous = workingOrders.updateValue(order, forKey: order.id) {
            count(previous, sign: -1)
            if previous.instrument != order.instrument { forgetID(order.id, of: previous.instrument) }
        }
        count(order, sign: 1)
        workingIDs[order.instrument, default: []].insert(order.id)
    }

    private mutating func remove(_ id: String) {
        guard let order = workingOrders.removeValue(forKey: id) else { return }
        count(order, sign: -1)
        forgetID(id, of: order.instrument)
    }

    /// An instrument's set stays when it empties: the next order of the instrument reuses it (no
    /// set allocated and freed per order); at most one per instrument the account traded.
    private mutating func forgetID(_ id: String, of instrument: InstrumentKey) {
        workingIDs[instrument]?.remove(id)
    }

    private mutating func count(_ order: WorkingOrder, sign: FixedDecimal) {
        let value = order.reservedValue * sign
        turnoverReserved += value
        if holdsBuyingPower(order) { buyingPowerReserved += value }
        let key = SideKey(instrument: order.instrument, side: order.side)
        let working = (workingQuantity[key] ?? 0) + order.remainingQuantity * sign
        workingQuantity[key] = working == 0 ? nil : working
    }

    private func holdsBuyingPower(_ order: WorkingOrder) -> Bool {
        !order.reducesExposure && (fundsAsOf.map { order.submittedAt >= $0 } ?? true)
    }

    private mutating func recountBuyingPowerReserved() {
        buyingPowerReserved = workingOrders.values.reduce(0) { holdsBuyingPower($1) ? $0 + $1.reservedValue : $0 }
    }

    // MARK: Throttle and duplicates

    struct Fingerprint: Hashable, Sendable {
        let instrument: InstrumentKey
        let side: OrderSide
        let quantity: FixedDecimal
        let type: OrderType
        let limitPrice: FixedDecimal?
        let triggerPrice: FixedDecimal?

        init(_ order: OrderIntent) {
            instrument = order.instrument
            side = order.side
            quantity = order.quantity
            type = order.type
            limitPrice = order.limitPrice
            triggerPrice = order.triggerPrice
        }

        // Numbers and the symbol only: the side and type are raw-value enums (synthesized hashing
        // would hash their raw strings, four strings per fingerprint); equality compares every field.
        func hash(into hasher: inout Hasher) {
            hasher.combine(instrument.symbol)
            hasher.combine(side == .buy)
            hasher.combine(quantity.units)
            hasher.combine(limitPrice?.units ?? -1)
            hasher.combine(triggerPrice?.units ?? -1)
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
        // Fingerprints older than a minute can no longer match any sensible window. Pruned when the
        // map has doubled since the last prune (at least 256): an account placing more than 256
        // orders a minute would otherwise copy the whole map on every order.
        if recentFingerprints.count > max(256, 2 * fingerprintsKept) {
            recentFingerprints = recentFingerprints.filter { now.timeIntervalSince($0.value) < 60 }
            fingerprintsKept = recentFingerprints.count
        }
        recentFingerprints[fingerprint] = now
    }
}
