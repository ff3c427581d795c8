import Foundation
import Testing
import TestSupport
import TMBrokers
import TMRedis

/// The shared rate limiter and circuit breaker against real Redis, from several processes at once.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RateLimiterTests {
    /// The most grants inside any half-open window [t, t + window).
    static func busiestWindow(_ grants: [Int64], window: Int64) -> Int {
        let sorted = grants.sorted()
        var best = 0, start = 0
        for end in sorted.indices {
            while sorted[end] - sorted[start] >= window { start += 1 }
            best = max(best, end - start + 1)
        }
        return best
    }

    @Test func twoProcessesAtOnceNeverExceedTheLimitInAnyWindow() async throws {
        let probe = TestServers.productsDirectory.appendingPathComponent("rate-limit-probe").path
        let name = TestServers.uniqueName("budget")
        let arguments = ["--redis", try TestServers.redisURL, "--name", name, "--limit", "10", "--window-ms", "1000", "--duration-ms", "3500"]
        // Two processes, as two function executables calling one broker with one key would be.
        async let first = runProcess(probe, arguments)
        async let second = runProcess(probe, arguments)
        let outputs = try await [first, second]
        #expect(outputs.allSatisfy { $0.status == 0 }, "\(outputs.map(\.output))")
        let perProcess = outputs.map { $0.output.split(separator: "\n").compactMap { Int64($0) } }
        let grants = perProcess.flatMap { $0 }
        let busiest = Self.busiestWindow(grants, window: 1000)
        print("rate limit 10/s shared by 2 processes for 3.5 s: \(grants.count) grants (\(perProcess.map(\.count)) per process), busiest 1 s window \(busiest)")
        #expect(busiest <= 10, "never more than the limit in any window")
        #expect(busiest == 10, "and the budget was used")
        #expect(perProcess.allSatisfy { $0.count > 0 }, "both processes were served")
        // Liveness only: a loaded machine may start one probe late (more grants) or slow both (fewer).
        #expect(grants.count >= 15)
    }

    @Test func severalLimitsAreTakenTogetherOrNotAtAll() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let limiter = RateLimiter(redis: redis)
        let name = TestServers.uniqueName("kite")
        let limits = [RateLimit(3, per: .seconds(1)), RateLimit(4, per: .seconds(60))]
        var granted = 0
        for _ in 0..<3 { if case .granted = try await limiter.tryAcquire(name, limits: limits) { granted += 1 } }
        #expect(granted == 3)
        guard case .wait(let wait) = try await limiter.tryAcquire(name, limits: limits) else {
            Issue.record("a fourth call within the second was granted")
            return
        }
        #expect(wait > .zero && wait <= .milliseconds(1001), "until the oldest grant leaves the window: \(wait)")
        try await Task.sleep(for: wait + .milliseconds(20))
        guard case .granted = try await limiter.tryAcquire(name, limits: limits) else {
            Issue.record("the per-second budget came back but the call was refused")
            return
        }
        // Now the per-minute limit (4) is spent: the per-second one must not have been taken alone.
        try await Task.sleep(for: .milliseconds(1050))
        guard case .wait(let longWait) = try await limiter.tryAcquire(name, limits: limits) else {
            Issue.record("the per-minute limit was exceeded")
            return
        }
        #expect(longWait > .seconds(50))
        #expect(try await redis.send("ZCARD", RateLimiter.key(name)).int == 4, "the refused calls took nothing")
        do {
            try await limiter.acquire(name, limits: limits, maxWait: .milliseconds(100))
            Issue.record("acquired past the per-minute limit")
        } catch let error as BrokerError {
            guard case .rateLimited(let after) = error else { Issue.record("\(error)"); return }
            #expect((after ?? .zero) > .seconds(50), "the caller is told how long to wait")
        }
    }
}

@Suite(.serialized) struct CircuitBreakerTests {
    @Test func opensAfterFailuresFailsFastThenLetsOneProbeThrough() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        var settings = CircuitBreaker.Settings()
        settings.threshold = 3
        // Long enough that a stall of the test between two calls never lets the cooldown pass
        // unseen (the sleeps below outlast it; the breaker reads the Redis clock, not ours).
        settings.cooldown = .seconds(3)
        let name = TestServers.uniqueName("cb")
        // Two handles on one breaker: two processes see one state.
        let a = CircuitBreaker(name: name, settings: settings, redis: redis)
        let b = CircuitBreaker(name: name, settings: settings, redis: redis)
        try await a.allow()
        try await a.record(success: false)
        try await b.record(success: false)
        #expect(try await a.state() == .closed)
        #expect(try await b.record(success: false) == .open)
        await #expect(throws: CircuitBreaker.Open.self) { try await a.allow() }
        await #expect(throws: CircuitBreaker.Open.self) { try await b.allow() }
        #expect(try await b.record(success: true) == .open, "a call that started before it opened and succeeds late does not close it")
        try await Task.sleep(for: settings.cooldown + .milliseconds(50))
        try await a.allow()  // the probe
        #expect(try await b.state() == .halfOpen)
        await #expect(throws: CircuitBreaker.Open.self, "one probe at a time") { try await b.allow() }
        #expect(try await a.record(success: false) == .open, "a failed probe opens it again")
        try await Task.sleep(for: settings.cooldown + .milliseconds(50))
        try await b.allow()
        #expect(try await b.record(success: true) == .closed, "a successful probe closes it")
        try await a.allow()
        try await b.allow()
    }

    @Test func refusalsAndRateLimitsDoNotOpenTheCircuit() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let broker = ScriptedBroker()
        var settings = CircuitBreaker.Settings()
        settings.threshold = 2
        let guarded = ResilientBrokerAdapter(broker, budgetKey: TestServers.uniqueName("acct"), redis: redis, breaker: settings)
        _ = try? await redis.send("DEL", guarded.breaker.key)
        defer { Task { _ = try? await redis.send("DEL", guarded.breaker.key) } }
        broker.next(.rejected(reason: "insufficient funds", code: "MarginException"))
        await #expect(throws: BrokerError.self) { try await guarded.positions(credentials: .plain(apiKey: "k")) }
        broker.next(.rejected(reason: "bad symbol", code: nil))
        await #expect(throws: BrokerError.self) { try await guarded.positions(credentials: .plain(apiKey: "k")) }
        #expect(try await guarded.breaker.state() == .closed)
        broker.next(.unavailable(reason: "503"))
        _ = try? await guarded.positions(credentials: .plain(apiKey: "k"))
        broker.next(.unknownOutcome(reason: "timeout after sending"))
        _ = try? await guarded.positions(credentials: .plain(apiKey: "k"))
        #expect(try await guarded.breaker.state() == .open)
        let callsBefore = broker.calls
        do {
            _ = try await guarded.positions(credentials: .plain(apiKey: "k"))
            Issue.record("an open circuit let a call through")
        } catch let error as BrokerError {
            guard case .unavailable(let reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains("circuit open"))
        }
        #expect(broker.calls == callsBefore, "the broker was not called while the circuit was open")
    }
}

extension RateLimiterTests {
    /// A success clears the failures on record (the circuit opens on failures in a row, not on any
    /// `threshold` within the window), though a success with none on record writes nothing.
    @Test func aSuccessBetweenFailuresKeepsTheCircuitClosed() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let broker = ScriptedBroker()
        var settings = CircuitBreaker.Settings()
        settings.threshold = 2
        let guarded = ResilientBrokerAdapter(broker, budgetKey: TestServers.uniqueName("acct"), redis: redis, breaker: settings)
        _ = try? await redis.send("DEL", guarded.breaker.key)
        defer { Task { _ = try? await redis.send("DEL", guarded.breaker.key) } }
        let credentials = BrokerCredentials.plain(apiKey: "k")
        broker.next(nil)
        _ = try await guarded.positions(credentials: credentials)
        #expect(try await redis.send("EXISTS", guarded.breaker.key).int == 0, "a success with no failures on record writes nothing")
        broker.next(.unavailable(reason: "503"))
        _ = try? await guarded.positions(credentials: credentials)
        broker.next(nil)
        _ = try await guarded.positions(credentials: credentials)
        broker.next(.unavailable(reason: "503"))
        _ = try? await guarded.positions(credentials: credentials)
        #expect(try await guarded.breaker.state() == .closed, "the success in between cleared the first failure")
        broker.next(.unavailable(reason: "503"))
        _ = try? await guarded.positions(credentials: credentials)
        #expect(try await guarded.breaker.state() == .open)
    }

    /// Binance reads each symbol's recent orders with a request of its own, so each spends a unit of
    /// the account's shared budget (the open-orders request spends one more).
    @Test func binanceRecentOrdersSpendABudgetUnitPerSymbol() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let guarded = ResilientBrokerAdapter(ScriptedBroker(.binance), budgetKey: TestServers.uniqueName("acct"), redis: redis)
        let budget = BrokerRateLimits.budget(.binance, key: guarded.budgetKey, .read)
        let key = guarded.limiter.key(budget)
        _ = try await guarded.orders(symbols: ["BTCUSDT", "ETHUSDT", "BTCUSDT"], credentials: .plain(apiKey: "k"))
        #expect(try await redis.send("ZCARD", key).int == 3, "open orders + two symbols")
        _ = try await guarded.orders(credentials: .plain(apiKey: "k"))
        #expect(try await redis.send("ZCARD", key).int == 4)
    }
}

/// A broker whose next answer the test sets (the resilience layer is what is under test here).
final class ScriptedBroker: BrokerAdapter, @unchecked Sendable {
    let broker: BrokerKind
    init(_ broker: BrokerKind = .kite) { self.broker = broker }
    private let lock = NSLock()
    private var answer: BrokerError?
    private(set) var calls = 0

    func next(_ error: BrokerError?) { lock.withLock { answer = error } }

    private func respond() throws {
        let error = lock.withLock { () -> BrokerError? in calls += 1; return answer }
        if let error { throw error }
    }

    func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder { try respond(); fatalError("not scripted") }
    func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? { try respond(); return nil }
    func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws { try respond() }
    func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder { try respond(); fatalError("not scripted") }
    func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] { try respond(); return [] }
    func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] { try respond(); return [] }
    func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] { try respond(); return [] }
    func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch { try respond(); return TradeBatch(trades: [], next: cursor) }
    func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] { try respond(); return [] }
}
