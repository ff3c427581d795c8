import Foundation
import Logging
import TMBrokers
import TMCore
import TMPostgres
import TMRisk

/// The resident risk state of the accounts a placer serves, and the `RiskGate` over it: per account
/// its `AccountRisk` (positions, funds, working orders, today's fills), the limits that apply to it,
/// the instrument master and the last prices — loaded from the database, then kept current by the
/// order path's own calls (`check` reserves, `fill`, `release`, `setLastPrice`) and by
/// `refreshLimits` polls.
///
/// Guarantees:
/// - `load` rebuilds accounts from rows alone: orders in an open state (ROUTED, SUBMITTING,
///   ACCEPTED, PARTIALLY_FILLED, UNKNOWN) hold their remaining value again, so a restarted worker
///   still counts the turnover and buying power they use; today's (UTC) fills give the filled
///   turnover and the P&L; positions are as of the account's last sync. Recent submissions (the
///   throttle, duplicates) are not rebuilt.
/// - Limits: the account's and its user's `trading_limits` rows, the stricter of the two, with the
///   platform's defaults where neither sets one and the global trading state over all. When they
///   cannot be read, every account gets `RiskLimits.emergency` (from the first failure, for its
///   hour; past it every order is denied, `TRADING_HALTED`, until a read succeeds), keeping the most severe trading state last known — a halt survives an unreadable
///   table — and every `RiskCheck` says `underEmergencyLimits`; each later poll tries again.
/// - `refreshLimits` costs one row read while nothing changed and reports whether the limits it
///   applies changed; a change committed before a poll applies to every check after it.
/// - `FUNDS_UNKNOWN` says why: no funds read yet, or funds read but none in the currency the
///   instrument trades in (naming both), so an order sent to the wrong account is told so.
/// - Thread-safe: one lock over the whole book; a check holds it for the engine's microseconds.
public final class RiskBook: RiskGate {
    private let state = Locked(State())
    /// Held by `load` and `refreshLimits` for their reads: one at a time, so a read never replaces a
    /// newer one, and every read covers the users of all accounts loaded (checks never wait on it).
    private let reading = NSLock()
    private let engine: RiskEngine
    private let logger: Logger

    struct State {
        var instruments: [InstrumentKey: InstrumentListing] = [:]
        var lastPrices: [InstrumentKey: FixedDecimal] = [:]
        /// Prices market data set: newer than anything a load reads, so a load keeps them.
        var fedPrices: Set<InstrumentKey> = []
        /// Moves with every price change: an account values its P&L again when it differs.
        var priceEpoch: UInt64 = 0
        var accounts: [UUID: AccountBook] = [:]
        /// The last limits read (nil: never read), and since when none could be.
        var rows: LimitRows?
        var emergencySince: Date?
    }

    public init(engine: RiskEngine = RiskEngine(), logger: Logger = Logger(label: "tm.orders.risk")) {
        self.engine = engine
        self.logger = logger
    }

    // MARK: Loading

    /// (Re)builds `accounts` from their rows, and reloads the instrument master and every loaded
    /// account's limits (so all of them are of one version). An account with no row is dropped.
    /// A reload keeps each account's recent submissions and the reservations of orders checked in
    /// the last minute that the rows do not show yet (`AccountRisk.carryOver`).
    public func load(_ db: PostgresConnection, accounts: [UUID], now: Date) throws {
        reading.lock()
        defer { reading.unlock() }
        let users = state.withLock { Set($0.accounts.values.map(\.user)) }
        let rows = try RiskRows.read(db, accounts: accounts, limitUsers: users, now: now)
        state.withLock { s in
            s.instruments = rows.instruments
            for (key, price) in rows.prices where !s.fedPrices.contains(key) { s.lastPrices[key] = price.price }
            s.priceEpoch &+= 1
            for id in accounts {
                let previous = s.accounts[id]
                s.accounts[id] = rows.accounts[id].map { AccountBook($0, instruments: s.instruments, prices: s.lastPrices, now: now) }
                // A reload (not a first load): orders checked in the last minute may not have been
                // committed when the rows were read; the throttle's memory is not in any row.
                if let previous, let book = s.accounts[id] { book.risk.carryOver(from: previous.risk, since: now.addingTimeInterval(-60)) }
            }
            take(rows.limits, into: &s, now: now)
        }
    }

    /// Installs accounts as `load` would have read them, without a database, for the risk bench:
    /// each account's positions, one funds line, working orders and recent trades, the instrument
    /// master with last prices, and `limits` as the platform's row (version 0). Not for the order path.
    package func install(accounts: [BenchAccount], instruments: [InstrumentKey: (rules: InstrumentRules, currency: String, lastPrice: FixedDecimal?)],
                         limits: RiskLimits, now: Date) {
        var rows = RiskRows()
        for (key, listing) in instruments {
            rows.instruments[key] = InstrumentListing(rules: listing.rules, currency: listing.currency)
            if let price = listing.lastPrice { rows.prices[key] = (price, now) }
        }
        for account in accounts {
            rows.accounts[account.id] = AccountRows(
                id: account.id, user: account.user, positionsAsOf: account.positionsAsOf, positions: account.positions,
                funds: [account.currency: FundsLine(available: account.available, total: account.total)], fundsAsOf: account.fundsAsOf,
                working: account.working.map { WorkingRow(id: $0.id, instrument: $0.instrument, side: $0.side, remaining: $0.remaining,
                                                          limitPrice: $0.limitPrice, reservePrice: $0.limitPrice, submittedAt: $0.submittedAt) },
                tradeCount: account.tradeCount, tradeValue: account.tradeValue)
        }
        rows.limits = .success(LimitRows(version: 0, platform: limits))
        state.withLock { s in
            s.instruments = rows.instruments
            for (key, price) in rows.prices { s.lastPrices[key] = price.price }
            s.priceEpoch &+= 1
            for (id, account) in rows.accounts { s.accounts[id] = AccountBook(account, instruments: s.instruments, prices: s.lastPrices, now: now) }
            take(rows.limits, into: &s, now: now)
        }
    }

    /// One account for `install`.
    package struct BenchAccount {
        package var id: UUID, user: UUID
        package var positions: [InstrumentKey: FixedDecimal]
        package var positionsAsOf: Date
        package var currency: String, available: FixedDecimal, total: FixedDecimal?
        package var fundsAsOf: Date
        package var working: [(id: UUID, instrument: InstrumentKey, side: OrderSide, remaining: FixedDecimal, limitPrice: FixedDecimal, submittedAt: Date)]
        package var tradeCount: Int, tradeValue: FixedDecimal

        package init(id: UUID, user: UUID, positions: [InstrumentKey: FixedDecimal], positionsAsOf: Date, currency: String,
                     available: FixedDecimal, total: FixedDecimal?, fundsAsOf: Date,
                     working: [(id: UUID, instrument: InstrumentKey, side: OrderSide, remaining: FixedDecimal, limitPrice: FixedDecimal, submittedAt: Date)],
                     tradeCount: Int, tradeValue: FixedDecimal) {
            self.id = id
            self.user = user
            self.positions = positions
            self.positionsAsOf = positionsAsOf
            self.currency = currency
            self.available = available
            self.total = total
            self.fundsAsOf = fundsAsOf
            self.working = working
            self.tradeCount = tradeCount
            self.tradeValue = tradeValue
        }
    }

    /// Forgets accounts (their shard moved to another worker).
    public func unload(accounts: [UUID]) {
        state.withLock { s in for id in accounts { s.accounts[id] = nil } }
    }

    /// Reads the limits again when their version moved (or while none could be read), and applies
    /// them. Returns true when the limits in force changed (a new version, the emergency limits
    /// entered or left). A read that fails is not thrown: it is the emergency (logged).
    @discardableResult
    public func refreshLimits(_ db: PostgresConnection, now: Date) throws -> Bool {
        reading.lock()
        defer { reading.unlock() }
        let (users, known, emergency) = state.withLock { s in (Set(s.accounts.values.map(\.user)), s.rows?.version, s.emergencySince != nil) }
        let read = Result<LimitRows?, any Error> {
            if !emergency, let known, try LimitRows.version(db) == known { return nil }
            return try LimitRows.read(db, users: users)
        }
        switch read {
        case .success(nil): return false
        case .success(let rows?): return state.withLock { take(.success(rows), into: &$0, now: now) }
        case .failure(let error): return state.withLock { take(.failure(error), into: &$0, now: now) }
        }
    }

    /// Applies a trading state already written (by `TradingControls.set` in this process, or one
    /// learnt from a message) without waiting for the next poll. The database stays the truth: the
    /// next change of version reloads it.
    public func apply(_ tradingState: TradingState, to scope: TradingScope, now: Date) {
        state.withLock { s in
            var rows = s.rows ?? LimitRows(version: -1, platform: RiskLimits())
            switch scope {
            case .global: rows.platform.tradingState = tradingState
            case .account(let id): rows.accounts[id, default: RiskLimits()].tradingState = tradingState
            }
            s.rows = rows
            recomputeLimits(&s, now: now)
        }
    }

    public func observe(lastPrice: FixedDecimal, symbol: String, exchange: String) {
        setLastPrice(lastPrice, symbol: symbol, exchange: exchange)
    }

    /// A last price from market data; kept over what a later `load` reads.
    public func setLastPrice(_ price: FixedDecimal, symbol: String, exchange: String) {
        state.withLock { s in
            let key = InstrumentKey(symbol: symbol, exchange: exchange)
            s.lastPrices[key] = price
            s.fedPrices.insert(key)
            s.priceEpoch &+= 1
        }
    }

    /// The limits an order of `account` is checked against now.
    public func limits(account: UUID) -> RiskLimits? {
        state.withLock { $0.accounts[account]?.limits }
    }

    /// The account's state as the engine sees it (tests, `tm` views).
    public func accountRisk(_ account: UUID) -> AccountRisk? {
        state.withLock { $0.accounts[account]?.risk }
    }

    /// Today's use of the account's daily loss and turnover limits, exactly as `check` counts it
    /// (limit alerts read it here, so alerts and refusals never disagree); nil when not loaded.
    public func dailyUsage(account: UUID, now: Date) -> DailyLimitUsage? {
        state.withLock { s in
            guard let book = s.accounts[account] else { return nil }
            book.valueDay(prices: s.lastPrices, epoch: s.priceEpoch)
            return DailyLimitUsage(account: account, user: book.user, day: RiskSnapshot.startOfUTCDay(now), loss: book.risk.dailyLoss,
                                   turnover: book.risk.turnoverUsed, limits: book.limits)
        }
    }

    /// Whether the emergency limits are in force (limits could not be read).
    public var underEmergencyLimits: Bool { state.withLock { $0.emergencySince != nil } }

    // MARK: RiskGate

    public func check(_ order: PlaceOrder, orderID: UUID, now: Date) -> RiskCheck {
        assess(order, orderID: orderID, now: now, replacing: false)
    }

    public func recheck(_ order: PlaceOrder, orderID: UUID, now: Date) -> RiskCheck {
        assess(order, orderID: orderID, now: now, replacing: true)
    }

    /// The engine on the account's state; on a pass the order's value is reserved under `orderID`.
    /// `replacing`: the reservation already under `orderID` is set aside for the check (the order
    /// is checked as it will be), and put back when the check fails.
    private func assess(_ order: PlaceOrder, orderID: UUID, now: Date, replacing: Bool) -> RiskCheck {
        let key = InstrumentKey(symbol: order.symbol, exchange: order.exchange)
        return state.withLock { s in
            let listing = s.instruments[key]
            let last = s.lastPrices[key]
            let book = s.accounts[order.accountID]
            func answer(_ outcome: RiskCheck.Outcome) -> RiskCheck {
                RiskCheck(outcome: outcome, lastPrice: last, lotSize: listing?.rules.lotSize ?? 1, averageTradeValue: book?.averageTradeValue,
                          underEmergencyLimits: s.emergencySince != nil)
            }
            guard let intent = Self.intent(order) else {
                return answer(.denied(RiskDenial(.precisionExceeded, "the order has a quantity or price with more than \(FixedDecimal.scale) decimal places")))
            }
            guard let book else {
                // Not loaded here: the engine's own refusal for an account whose positions are not
                // known (POSITIONS_STALE, with a retry time), after the trading state and instrument.
                let limits = limits(s, account: order.accountID, user: nil)
                return answer(Self.outcome(engine.evaluate(intent, account: AccountRisk(), instrument: listing?.rules, lastPrice: last, limits: limits, now: now)))
            }
            book.prepare(currency: listing?.currency, prices: s.lastPrices, epoch: s.priceEpoch)
            let id = UUIDText.upper(orderID)
            let previous = replacing ? book.risk.workingOrders[id] : nil
            if previous != nil { book.risk.release(id: id) }
            var result = engine.evaluate(intent, account: book.risk, instrument: listing?.rules, lastPrice: last, limits: book.limits, now: now)
            switch result {
            case .success(let assessment): book.risk.reserve(id: id, intent, assessment, at: now)
            case .failure(let denial):
                if let previous { book.risk.restore(previous) }
                if denial.reason == .fundsUnknown, let why = book.missingFunds(currency: listing?.currency) {
                    result = .failure(RiskDenial(.fundsUnknown, why + denial.message.dropFirst(RiskEngine.fundsNotLoaded.count)))
                }
            }
            return answer(Self.outcome(result))
        }
    }

    public func release(orderID: UUID, account: UUID) {
        state.withLock { s in s.accounts[account]?.risk.release(id: UUIDText.upper(orderID)) }
    }

    public func fill(orderID: UUID, account: UUID, symbol: String, exchange: String, side: OrderSide, quantity: FixedDecimal, price: FixedDecimal) {
        let key = InstrumentKey(symbol: symbol, exchange: exchange)
        state.withLock { s in
            guard let book = s.accounts[account] else { return }
            book.fill(id: UUIDText.upper(orderID), instrument: key, side: side, quantity: quantity, price: price,
                      multiplier: s.instruments[key]?.rules.multiplier ?? 1)
            // A fill is a trade price; market data, when it feeds this instrument, knows better.
            if !s.fedPrices.contains(key) {
                s.lastPrices[key] = price
                s.priceEpoch &+= 1
            }
        }
    }

    // MARK: Limits

    /// Takes a limits read (or its failure) into the book. Returns whether the limits in force changed.
    @discardableResult
    private func take(_ read: Result<LimitRows, any Error>, into s: inout State, now: Date) -> Bool {
        switch read {
        case .success(let rows):
            let changed = s.emergencySince != nil || s.rows?.version != rows.version
            if s.emergencySince != nil { logger.notice("trading limits readable again: the emergency limits no longer apply") }
            s.rows = rows
            s.emergencySince = nil
            recomputeLimits(&s, now: now)
            return changed
        case .failure(let error):
            guard s.emergencySince == nil else {
                recomputeLimits(&s, now: now)  // accounts loaded since still get them
                return false
            }
            s.emergencySince = now
            let limits = RiskLimits.emergency(now: now)
            logger.warning("trading limits could not be loaded; applying the emergency limits", metadata: [
                "error": "\(error)", "max_order_notional": "\(limits.maxOrderNotional ?? 0)",
                "daily_turnover_limit": "\(limits.dailyTurnoverLimit ?? 0)", "until": "\(limits.emergencyUntil.map(OrderViews.time) ?? "-")",
            ])
            recomputeLimits(&s, now: now)
            return true
        }
    }

    private func recomputeLimits(_ s: inout State, now: Date) {
        for book in s.accounts.values { book.limits = limits(s, account: book.id, user: book.user) }
    }

    /// The account's limits from the rows, or the emergency ones (with the severest state known).
    private func limits(_ s: State, account: UUID, user: UUID?) -> RiskLimits {
        let stored = s.rows?.limits(account: account, user: user)
        guard let since = s.emergencySince else { return stored ?? RiskLimits() }
        var emergency = RiskLimits.emergency(now: since)
        emergency.tradingState = stored?.tradingState ?? .active
        return emergency
    }

    // MARK: Conversions

    /// The order in fixed point, from the values converted once when the order was made.
    static func intent(_ order: PlaceOrder) -> OrderIntent? {
        guard let exact = order.exact else { return nil }
        return OrderIntent(symbol: order.symbol, exchange: order.exchange, side: order.side, quantity: exact.quantity, type: order.type,
                           limitPrice: exact.limitPrice, triggerPrice: exact.triggerPrice)
    }

    private static func outcome(_ result: Result<RiskAssessment, RiskDenial>) -> RiskCheck.Outcome {
        switch result {
        case .success(let assessment): return .passed(assessment)
        case .failure(let denial): return .denied(denial)
        }
    }
}

/// One account's use of its daily limits on `day` (the UTC day the risk engine counts fills in).
public struct DailyLimitUsage: Sendable {
    public let account: UUID
    public let user: UUID
    /// Midnight UTC starting the day counted.
    public let day: Date
    /// Today's loss (negative: a gain): realized and unrealized P&L of today's fills at the last prices.
    public let loss: FixedDecimal
    /// Today's turnover: filled value plus what working orders hold.
    public let turnover: FixedDecimal
    /// The limits in force for the account (its row and its user's, the platform's defaults).
    public let limits: RiskLimits
}
