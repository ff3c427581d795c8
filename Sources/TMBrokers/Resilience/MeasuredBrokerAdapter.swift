import Foundation

/// A broker adapter that reports every call it makes — how long it took and whether the broker
/// failed it — for the router's live speed and reliability (`RouteSource.record`).
///
/// Put it *inside* the resilience layer (`ResilientBrokerAdapter(MeasuredBrokerAdapter(base) {…})`)
/// so it measures the broker alone: the rate-limit wait and the breaker's Redis round trips are
/// ours, and a call refused by an open circuit never reached the broker.
///
/// What counts as a failure (`failed(_:)`): the broker could not serve the call — unavailable,
/// unknown outcome (timeout or 5xx after sending), an unreadable answer, and a broker's own 429
/// (it would not take the order now, which is what routing cares about; the circuit breaker, by
/// contrast, ignores rate limits because a throttled broker is not down). Not failures: a definite
/// refusal (`rejected`: bad input, no funds — the broker did its job) and `notFound` (an answer to
/// a look-up).
///
/// Not reported at all — neither as a latency nor for or against reliability — are the calls that
/// say nothing about the broker: a cancelled call; a call that failed before anything was sent
/// (its admission refused or could not run, or it failed before its first request claimed the
/// admission: credentials that cannot be opened, a request that cannot be built); and an
/// `unauthorized` call, which is the account's credentials, not the broker's health, and is most
/// often decided here before sending (credentials that cannot be opened, a missing token) in
/// near-zero time. Reported as a success, any of those would pass for the broker's fastest calls
/// and flatter its speed score; reported as a failure, the broker would pay for our Redis, our
/// keyring or a user's expired token. (A call the circuit refused fast is the breaker's verdict on
/// failures already reported, not a new one.)
///
/// Guarantees: every call that reaches the wrapped adapter is reported at most once, after it
/// ends, with its outcome; every call that may have been sent, with an outcome that speaks for
/// the broker, is reported (the admission's own time, when it runs with the request, is not
/// counted); the wrapped adapter's value or error passes through unchanged.
public struct MeasuredBrokerAdapter: BrokerAdapter {
    public typealias Report = @Sendable (_ broker: BrokerKind, _ latency: Duration, _ failed: Bool) -> Void

    public let base: any BrokerAdapter
    private let report: Report
    private let now: @Sendable () -> ContinuousClock.Instant

    /// `now` is the clock latencies are measured with (injectable for tests).
    public init(_ base: any BrokerAdapter, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }, report: @escaping Report) {
        self.base = base
        self.now = now
        self.report = report
    }

    public var broker: BrokerKind { base.broker }

    /// Whether an error of a call counts against the broker's reliability (nil: not reported).
    public static func failed(_ error: any Error) -> Bool? {
        guard let error = error as? BrokerError else { return error is CancellationError ? nil : true }
        switch error {
        case .unavailable, .unknownOutcome, .invalidResponse, .rateLimited: return true
        case .rejected, .notFound: return false
        case .unauthorized: return nil
        }
    }

    /// Whether the call's admission ticket says nothing was sent: refused, failed, or never claimed
    /// by a request (the call failed before its first request).
    static func notSent(_ ticket: AdmissionTicket?) -> Bool {
        guard let ticket else { return false }
        if case .unclaimed = ticket.state { return true }
        return ticket.stoppedBeforeSending
    }

    func measured<T: Sendable>(_ call: () async throws -> T) async throws -> T {
        let start = now()
        // A call whose admission runs with its request (`AdmissionTicket`): the admission's own
        // time is ours, not the broker's, and a call it stopped never reached the broker.
        let ticket = AdmissionTicket.current
        do {
            let value = try await call()
            report(broker, now() - start - (ticket?.admissionTime ?? .zero), false)
            return value
        } catch {
            if !Self.notSent(ticket), let failed = Self.failed(error) {
                report(broker, now() - start - (ticket?.admissionTime ?? .zero), failed)
            }
            throw error
        }
    }

    public func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try await measured { try await base.placeOrder(order, credentials: credentials) }
    }

    public func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        try await measured { try await base.order(clientOrderID: clientOrderID, symbol: symbol, credentials: credentials) }
    }

    public func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {
        try await measured { try await base.cancelOrder(brokerOrderID: brokerOrderID, symbol: symbol, credentials: credentials) }
    }

    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try await measured { try await base.modifyOrder(modification, credentials: credentials) }
    }

    public func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        try await measured { try await base.orders(symbols: symbols, credentials: credentials) }
    }

    public func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        try await measured { try await base.trades(since: cursor, symbols: symbols, credentials: credentials) }
    }

    public func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] {
        try await measured { try await base.positions(credentials: credentials) }
    }

    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        try await measured { try await base.funds(credentials: credentials) }
    }

    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await measured { try await base.lastPrices(instruments, credentials: credentials) }
    }
}

extension MeasuredBrokerAdapter: LastPriceSource {
    public func quotes(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        let source = try LastPriceSources.required(base)
        return try await measured { try await source.quotes(instruments, credentials: credentials) }
    }
}
