import Foundation

/// The in-memory exchange behind all four front ends: accounts, prices, orders, matching, fills.
///
/// Guarantees: every operation runs under one lock, so an order placement, its dedup check and its
/// immediate fill are atomic (two concurrent requests with the same Binance client id cannot both
/// pass); market orders fill completely at once; a resting limit order fills when the price crosses,
/// at most `liquidity` per matching tick; every fill is a trade with an id unique per account;
/// nothing here sleeps or does I/O.
public final class Exchange: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Seed of the price process.
        public var seed: UInt64
        /// Length of a matching tick: a resting order fills at most once per tick.
        public var tickMilliseconds: Int64
        /// The simulator's time; tests inject a fixed clock to replay Binance's test vector.
        public var clock: @Sendable () -> Date

        public init(seed: UInt64 = 42, tickMilliseconds: Int64 = 250, clock: @escaping @Sendable () -> Date = { Date() }) {
            self.seed = seed
            self.tickMilliseconds = max(1, tickMilliseconds)
            self.clock = clock
        }
    }

    struct AccountKey: Hashable {
        let broker: Broker
        let apiKey: String
    }

    public let catalog: InstrumentCatalog
    let configuration: Configuration
    let lock = NSLock()
    var accounts = AccountBook()
    var prices: PriceProcess
    /// Most a resting order fills per tick, per "broker:symbol"; absent = all of it.
    var liquidity: [String: Decimal] = [:]
    var nextOrderNumber = 1

    public init(configuration: Configuration = Configuration(), catalog: InstrumentCatalog = .standard) {
        self.configuration = configuration
        self.catalog = catalog
        self.prices = PriceProcess(seed: configuration.seed)
    }

    public func now() -> Date { configuration.clock() }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: Accounts

    /// Creates or replaces an account (its book is kept when it already existed).
    public func upsertAccount(_ broker: Broker, _ credentials: SimCredentials) {
        locked {
            let key = AccountKey(broker: broker, apiKey: credentials.apiKey)
            if accounts[key] != nil { accounts[key]!.credentials = credentials } else { accounts[key] = SimAccount(credentials: credentials) }
        }
    }

    public func credentials(_ broker: Broker, apiKey: String) -> SimCredentials? {
        locked { accounts[AccountKey(broker: broker, apiKey: apiKey)]?.credentials }
    }

    /// The account whose access token this is (Upstox authenticates by token alone).
    public func credentials(_ broker: Broker, accessToken: String) -> SimCredentials? {
        locked { accounts.all.first { $0.key.broker == broker && $0.value.credentials.accessToken == accessToken }?.value.credentials }
    }

    /// Marks the token valid or expired; false when there is no such account.
    public func setTokenValid(_ broker: Broker, apiKey: String, _ valid: Bool) -> Bool {
        locked {
            let key = AccountKey(broker: broker, apiKey: apiKey)
            guard accounts[key] != nil else { return false }
            accounts[key]!.credentials.tokenValid = valid
            return true
        }
    }

    public var accountCount: Int { locked { accounts.count } }

    // MARK: Prices

    /// The instrument's price now, or nil when the broker does not list it.
    public func price(_ broker: Broker, _ symbol: String) -> Decimal? {
        guard let instrument = catalog.instrument(broker, symbol) else { return nil }
        return locked { prices.price(of: instrument, at: now()) }
    }

    /// The previous session's close: the instrument's base price (the simulator's price process
    /// moves around it, so every session closes there), or nil when the broker does not list it.
    public func previousClose(_ broker: Broker, _ symbol: String) -> Decimal? {
        catalog.instrument(broker, symbol)?.basePrice
    }

    /// Today's open, high, low and close so far as the quote endpoints report them: the session
    /// opened at the previous close; high and low span it and the price now.
    public func sessionBar(_ broker: Broker, _ symbol: String) -> (open: Decimal, high: Decimal, low: Decimal, close: Decimal)? {
        guard let price = price(broker, symbol), let open = previousClose(broker, symbol) else { return nil }
        return (open, max(open, price), min(open, price), price)
    }

    // MARK: Reading books

    public func orders(_ broker: Broker, apiKey: String) -> [SimOrder] {
        locked { accounts[AccountKey(broker: broker, apiKey: apiKey)]?.orders ?? [] }
    }

    public func order(_ broker: Broker, apiKey: String, id: String) -> SimOrder? {
        locked {
            guard let account = accounts[AccountKey(broker: broker, apiKey: apiKey)], let index = account.orderIndex[id] else { return nil }
            return account.orders[index]
        }
    }

    public func trades(_ broker: Broker, apiKey: String) -> [SimTrade] {
        locked { accounts[AccountKey(broker: broker, apiKey: apiKey)]?.trades ?? [] }
    }

    // MARK: Placing and cancelling

    /// Validates and places an order; market orders fill at once, crossing limit orders fill what
    /// the tick's liquidity allows.
    public func place(_ broker: Broker, apiKey: String, _ ticket: OrderTicket, clientIDRule: ClientIDRule) throws(PlacementRejection) -> SimOrder {
        guard let instrument = catalog.instrument(broker, ticket.symbol) else { throw .unknownInstrument(ticket.symbol) }
        guard ticket.quantity > 0 else { throw .nonPositiveQuantity }
        guard ticket.quantity.isMultiple(of: instrument.lotSize) else { throw .notLotMultiple(lotSize: instrument.lotSize) }
        if ticket.type == .limit {
            guard let limit = ticket.limitPrice else { throw .missingLimitPrice }
            guard limit > 0 else { throw .nonPositivePrice }
            guard limit.isMultiple(of: instrument.tickSize) else { throw .notTickMultiple(tickSize: instrument.tickSize) }
        }
        var normalized = ticket
        normalized.symbol = instrument.symbol  // Upstox may name it by instrument key
        lock.lock()
        defer { lock.unlock() }
        let key = AccountKey(broker: broker, apiKey: apiKey)
        guard accounts[key] != nil else { throw .unknownInstrument(ticket.symbol) }
        if let clientID = ticket.clientOrderID, clientIDRule != .none, Self.clientIDTaken(clientID, in: accounts[key]!, rule: clientIDRule) {
            throw .duplicateClientOrderID(clientID)
        }
        let time = now()
        let number = nextOrderNumber
        nextOrderNumber += 1
        let order = SimOrder(id: Identifiers.orderID(broker, number: number, apiKey: apiKey), number: number, ticket: normalized,
                             instrument: instrument, createdAt: time, updatedAt: time)
        let market = prices.price(of: instrument, at: time)
        // The account is changed in place, in one access (`accounts[key]!`): a copy would copy its
        // whole book, and every access hashes the key again.
        return book(order, market: market, at: time, in: &accounts[key]!)
    }

    /// Adds a new order to the account's book; a market order fills at once, a crossing limit order
    /// fills what the tick's liquidity allows. Call with the lock held.
    private func book(_ order: SimOrder, market: Decimal, at time: Date, in account: inout SimAccount) -> SimOrder {
        let index = account.append(order)
        switch order.ticket.type {
        case .market:
            fill(&account, index: index, quantity: order.quantity, price: market, at: time, isMaker: false)
        case .limit:
            if crosses(order, market) {
                let quantity = min(order.quantity, liquidity[liquidityKey(order.instrument)] ?? order.quantity)
                fill(&account, index: index, quantity: quantity, price: market, at: time, isMaker: false)
                account.updateOrder(index) { $0.lastFillTick = tick(time) }
            }
        }
        return account.orders[index]
    }

    public func cancel(_ broker: Broker, apiKey: String, orderID: String) throws(CancelRejection) -> SimOrder {
        lock.lock()
        defer { lock.unlock() }
        let key = AccountKey(broker: broker, apiKey: apiKey)
        guard let index = accounts[key]?.orderIndex[orderID] else { throw .notFound }
        let order = accounts[key]!.orders[index]
        guard order.status.isWorking else { throw .notWorking(order.status) }
        let time = now()
        return accounts[key]!.updateOrder(index) { order in
            order.status = .cancelled
            order.updatedAt = time
            order.cancelledAt = time
            return order
        }
    }

    // MARK: Matching

    /// Fills resting limit orders whose price crossed, at most once per tick each (`force` ignores
    /// the tick, for tests that drive matching by hand).
    public func matchResting(force: Bool = false) {
        locked {
            // Nothing rests (the usual case between market orders): no clock read, no scan.
            if accounts.withResting.isEmpty { return }
            let time = now()
            let currentTick = tick(time)
            // Only accounts with working limit orders, and only those orders (in book order).
            for key in accounts.withResting {
                for index in accounts[key]!.resting.sorted() {
                    let order = accounts[key]!.orders[index]
                    guard order.status.isWorking, order.ticket.type == .limit, force || order.lastFillTick < currentTick else { continue }
                    let market = prices.price(of: order.instrument, at: time)
                    guard crosses(order, market) else { continue }
                    let quantity = min(order.remainingQuantity, liquidity[liquidityKey(order.instrument)] ?? order.remainingQuantity)
                    fill(&accounts[key]!, index: index, quantity: quantity, price: market, at: time, isMaker: true)
                    accounts[key]!.updateOrder(index) { $0.lastFillTick = currentTick }
                }
            }
        }
    }

    // MARK: Internals (call with the lock held)

    /// True when the rule refuses another order with this client id in the account.
    private static func clientIDTaken(_ clientID: String, in account: SimAccount, rule: ClientIDRule) -> Bool {
        switch rule {
        case .none: return false
        case .uniqueForever: return account.clientOrderIndex[clientID] != nil
        case .uniqueWhileWorking: return account.orders(clientOrderID: clientID).contains { $0.status.isWorking }
        }
    }

    func tick(_ time: Date) -> Int64 {
        Int64((time.timeIntervalSince1970 * 1000).rounded(.down)) / configuration.tickMilliseconds
    }

    func liquidityKey(_ instrument: Instrument) -> String { "\(instrument.broker.rawValue):\(instrument.symbol)" }

    private func crosses(_ order: SimOrder, _ market: Decimal) -> Bool {
        guard let limit = order.ticket.limitPrice else { return true }
        return order.side == .buy ? market <= limit : market >= limit
    }

    /// Records one fill: a trade, the order's filled quantity and value, its status.
    func fill(_ account: inout SimAccount, index: Int, quantity: Decimal, price: Decimal, at time: Date, isMaker: Bool) {
        let order = account.updateOrder(index) { order in
            order.filledQuantity += quantity
            order.filledValue += quantity * price
            order.status = order.filledQuantity >= order.quantity ? .filled : .partiallyFilled
            order.updatedAt = time
            if order.status == .filled { order.filledAt = time }
            return order
        }
        let number = account.nextTradeNumber
        account.nextTradeNumber += 1
        let broker = order.instrument.broker
        let (fee, feeAsset) = Fees.fee(for: broker, instrument: order.instrument, side: order.side, quantity: quantity, price: price)
        account.trades.append(SimTrade(
            number: number, id: Identifiers.tradeID(broker, number: number, apiKey: account.credentials.apiKey, time: time),
            orderID: order.id, orderNumber: order.number, instrument: order.instrument, side: order.side, quantity: quantity, price: price,
            fee: fee, feeAsset: feeAsset, time: time, isMaker: isMaker, cumulativeQuantity: order.filledQuantity,
            leavesQuantity: order.quantity - order.filledQuantity))
    }
}
