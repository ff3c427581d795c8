import Foundation
import TMRedis

/// A broker adapter behind the shared rate limits and circuit breaker: every call is refused fast
/// while the broker's circuit is open, else takes its budget (waiting up to `maxRateWait`) — both
/// in one Redis script (`RateLimiter.admit`) — and reports its outcome to the breaker.
///
/// Guarantees: the wrapped adapter is never called while the circuit is open or the budget is
/// spent; an open circuit takes nothing from the budget, and a spent budget does not take the
/// half-open probe's turn; a refusal is a `BrokerError` (`.unavailable` for an open circuit,
/// `.rateLimited` with the wait for a spent budget), so callers handle one error model — or, for a
/// caller that asks (`BrokerCallRefused.distinguishing`), a `BrokerCallRefused` saying that nothing
/// was sent and when to try again.
public struct ResilientBrokerAdapter: BrokerAdapter {
    public let base: any BrokerAdapter
    /// Whose budget the calls spend (an account or API-key identity; never the key itself).
    public let budgetKey: String
    public let limiter: RateLimiter
    public let breaker: CircuitBreaker
    public var maxRateWait: Duration = .seconds(5)
    /// Where a one-request call's admission runs in the same job as its request (nil: the admission
    /// is a Redis round trip of its own before the call).
    public let lanes: BrokerLanes?
    private let redis: RedisClient

    public init(_ base: any BrokerAdapter, budgetKey: String, redis: RedisClient, breaker: CircuitBreaker.Settings = .init(), lanes: BrokerLanes? = nil) {
        self.base = base
        self.budgetKey = budgetKey
        self.redis = redis
        self.lanes = lanes
        let breaker = CircuitBreaker(name: base.broker.rawValue, settings: breaker, redis: redis)
        self.breaker = breaker
        limiter = RateLimiter(redis: redis, sharingSlotWith: breaker)
    }

    public var broker: BrokerKind { base.broker }

    /// `requests`: how many requests the call makes against the budget (one unit each).
    func guarded<T: Sendable>(_ kind: BrokerCallKind, requests: Int = 1, _ call: () async throws -> T) async throws -> T {
        let budget = BrokerRateLimits.budget(broker, key: budgetKey, kind), limits = BrokerRateLimits.limits(broker, kind)
        if requests == 1, !limits.isEmpty, let lanes {
            let ticket = AdmissionTicket(lanes: lanes, redis: redis, breaker: breaker, budget: (limiter.key(budget), limits))
            do {
                let value = try await AdmissionTicket.$current.withValue(ticket) { try await call() }
                if case .admitted(true, _) = ticket.state { _ = try? await breaker.record(success: true) }
                return value
            } catch {
                switch ticket.state {
                case .refused(.circuitOpen(let wait)):
                    throw refusedOpen(CircuitBreaker.Open(name: breaker.name, retryAfter: wait))
                case .refused:
                    break  // the budget is spent: wait for it below, as a call without lanes does
                case .failed(let reason):
                    throw BrokerError.unavailable(reason: "request not sent: the admission could not run: \(reason)")
                case .admitted(let recordSuccess, _):
                    throw await outcome(error, successCounts: recordSuccess)
                case .unclaimed, .claimed:
                    throw error  // no request went out under this admission
                }
            }
        }
        let successCounts: Bool
        do {
            // The circuit and the first request's budget in one round trip; the rest of the
            // requests' budget after it (as many units as requests, one at a time).
            successCounts = requests > 0 ? try await limiter.admit(budget, limits: limits, maxWait: maxRateWait) : try await breaker.allow()
            for _ in 1..<max(1, requests) {
                try await limiter.acquire(budget, limits: limits, maxWait: maxRateWait)
            }
        } catch let open as CircuitBreaker.Open {
            throw refusedOpen(open)
        } catch BrokerError.rateLimited(let wait) {
            // The budget's own refusal (nothing of the call was sent yet).
            throw BrokerCallRefused.thrown(broker: broker, .budgetSpent, retryAfter: wait ?? maxRateWait, brokerError: .rateLimited(retryAfter: wait))
        }
        do {
            let value = try await call()
            if successCounts { _ = try? await breaker.record(success: true) }
            return value
        } catch {
            throw await outcome(error, successCounts: successCounts)
        }
    }

    private func refusedOpen(_ open: CircuitBreaker.Open) -> any Error {
        BrokerCallRefused.thrown(broker: broker, .circuitOpen, retryAfter: open.retryAfter, brokerError: .unavailable(reason: open.description))
    }

    /// Reports a sent call's failure to the breaker (the broker down or unreachable counts; a
    /// refusal is a healthy broker); returns the error to throw.
    private func outcome(_ error: any Error, successCounts: Bool) async -> any Error {
        guard let error = error as? BrokerError else { return error }
        switch error {
        case .unavailable, .unknownOutcome, .invalidResponse: _ = try? await breaker.record(success: false)
        case .rejected, .unauthorized, .rateLimited, .notFound: if successCounts { _ = try? await breaker.record(success: true) }
        }
        return error
    }

    public func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try await guarded(.order) { try await base.placeOrder(order, credentials: credentials) }
    }

    public func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        try await guarded(.read) { try await base.order(clientOrderID: clientOrderID, symbol: symbol, credentials: credentials) }
    }

    public func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {
        try await guarded(.order) { try await base.cancelOrder(brokerOrderID: brokerOrderID, symbol: symbol, credentials: credentials) }
    }

    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try await guarded(.order) { try await base.modifyOrder(modification, credentials: credentials) }
    }

    public func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        // Binance reads each symbol's recent orders with a request of its own (`allOrders`), besides
        // the open-orders request: a unit of the shared budget each.
        let requests = broker == .binance ? 1 + Set(symbols).count : 1
        return try await guarded(.read, requests: requests) { try await base.orders(symbols: symbols, credentials: credentials) }
    }

    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        try await guarded(.read) { try await base.funds(credentials: credentials) }
    }

    /// One unit of the quote budget (`BrokerCallKind.quote`) per request the batches take (`QuoteBatches`).
    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await guarded(.quote, requests: QuoteBatches.requests(broker, count: instruments.count)) {
            try await base.lastPrices(instruments, credentials: credentials)
        }
    }

    public func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        guard broker == .binance else {
            return try await guarded(.read) { try await base.trades(since: cursor, symbols: symbols, credentials: credentials) }
        }
        // Binance lists trades per symbol (its cursor: symbol → last trade id): each symbol is a
        // request of its own against the shared budget, not one unit for the lot.
        var trades: [BrokerTrade] = []
        var next = cursor
        for symbol in Set(symbols).union(cursor.values.keys).sorted() {
            let own = TradeCursor(cursor.values.filter { $0.key == symbol })
            let batch = try await guarded(.read) { try await base.trades(since: own, symbols: [symbol], credentials: credentials) }
            trades += batch.trades
            next.values.merge(batch.next.values) { _, newer in newer }
        }
        return TradeBatch(trades: trades.sorted { ($0.executedAt, $0.brokerTradeID) < ($1.executedAt, $1.brokerTradeID) }, next: next)
    }

    public func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] {
        try await guarded(.read) { try await base.positions(credentials: credentials) }
    }
}

extension ResilientBrokerAdapter: LastPriceSource {
    /// The wrapped adapter's quotes behind the same budget and breaker; an adapter that is no
    /// `LastPriceSource` is refused before any budget is spent.
    public func quotes(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        let source = try LastPriceSources.required(base)
        return try await guarded(.quote, requests: QuoteBatches.requests(broker, count: instruments.count)) {
            try await source.quotes(instruments, credentials: credentials)
        }
    }
}
