import Foundation
import TestSupport
import Testing
import TMBrokers
import TMCore
import TMOrders
import TMPostgres
import TMRedis
import TMRouting

/// A migrated database with two users' broker accounts, for the live route source.
final class RouteHarness: @unchecked Sendable {
    let database: TestDatabase
    let db: PostgresConnection
    let user = UUID(), stranger = UUID()
    /// The user's: Kite (the order's own), Upstox, Alpaca and Binance active; a paused Upstox; a disabled Kite.
    let kite = UUID(), upstox = UUID(), alpaca = UUID(), binance = UUID(), pausedUpstox = UUID(), disabledKite = UUID()
    /// Another user's active Upstox account: never a candidate for the user's orders.
    let strangersUpstox = UUID()

    init() throws {
        database = try TestDatabase(migrated: true, prefix: "tm_route")
        db = try database.connect()
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'router@example.com'), (\(stranger), 'stranger@example.com')")
        // Created oldest first in this order, so the expected order of candidates is known.
        let accounts: [(UUID, UUID, String, String, String)] = [
            (strangersUpstox, stranger, "upstox", "theirs", "active"),
            (disabledKite, user, "kite", "old", "disabled"),
            (alpaca, user, "alpaca", "us", "active"),
            (pausedUpstox, user, "upstox", "resting", "paused"),
            (upstox, user, "upstox", "second", "active"),
            (binance, user, "binance", "crypto", "active"),
            (kite, user, "kite", "main", "active"),
        ]
        for (index, (id, owner, broker, label, status)) in accounts.enumerated() {
            try db.execute("""
                INSERT INTO broker_accounts (id, user_id, broker, label, status, created_at)
                VALUES (\(id), \(owner), \(broker), \(label), \(status), now() - make_interval(mins => \(100 - index)::int))
                """)
        }
    }

    func order(_ account: UUID? = nil, exchange: String = "NSE", symbol: String = "INFY", quantity: Decimal = 10,
               price: Decimal? = 1500, product: ProductType = .intraday) -> PlaceOrder {
        PlaceOrder(idempotencyKey: "route-\(UUID().uuidString)", accountID: account ?? kite, symbol: symbol, exchange: exchange, side: .buy,
                   quantity: quantity, type: price == nil ? .market : .limit, limitPrice: price, product: product)
    }

    static func text(_ id: UUID) -> String { id.uuidString.lowercased() }

    func cleanUp() {
        db.close()
        database.drop()
    }
}

@Suite(.serialized) struct LiveRouteSourceTests {
    @Test func candidatesAreTheSameUsersActiveAccountsAtBrokersListingTheExchange() throws {
        let harness = try RouteHarness()
        defer { harness.cleanUp() }
        let source = LiveRouteSource()
        try source.load(harness.db, accounts: [harness.kite, harness.strangersUpstox])
        let t = RouteHarness.text

        // NSE: the user's own Kite first, then their active Upstox; not the paused or disabled ones,
        // not Alpaca or Binance (they do not list NSE), never the stranger's Upstox.
        #expect(source.candidates(for: harness.order()).map(\.accountID) == [t(harness.kite), t(harness.upstox)])
        #expect(source.candidates(for: harness.order(exchange: "NASDAQ", symbol: "AAPL")).map(\.accountID) == [t(harness.alpaca)])
        #expect(source.candidates(for: harness.order(exchange: "BINANCE", symbol: "BTCUSDT")).map(\.accountID) == [t(harness.binance)])
        #expect(source.candidates(for: harness.order(exchange: "LSE", symbol: "VOD")).isEmpty, "no broker lists it")
        // The stranger's orders reach only the stranger's accounts.
        #expect(source.candidates(for: harness.order(harness.strangersUpstox)).map(\.accountID) == [t(harness.strangersUpstox)])
        #expect(source.candidates(for: harness.order(harness.upstox)).isEmpty, "an account not loaded has no candidates")
        #expect(source.accounts == [harness.kite, harness.strangersUpstox].sorted { $0.uuidString < $1.uuidString })

        // Fees are the order's at each broker; liquidity from the configuration.
        let candidates = source.candidates(for: harness.order(quantity: 10, price: 1500))
        #expect(candidates.map(\.fee) == [FixedDecimal("4.5")!, FixedDecimal("7.5")!], "10 × 1,500 intraday: Kite 0.03%, Upstox 0.05%")
        #expect(candidates.map(\.broker) == [.kite, .upstox])
        #expect(source.candidates(for: harness.order(quantity: 10, price: 1500, product: .delivery)).map(\.fee) == [0, 20])
        // A market order: valued by the caller (the risk check's notional), else compared on rates alone.
        let market = harness.order(quantity: 100, price: nil)
        #expect(source.candidates(for: market, value: 150_000).map(\.fee) == [20, 20])
        #expect(source.candidates(for: market).map(\.fee) == [FixedDecimal("0.0003")!, FixedDecimal("0.0005")!])

        // A reload sees accounts paused and connected since.
        try harness.db.execute("UPDATE broker_accounts SET status = 'paused' WHERE id = \(harness.upstox)")
        try harness.db.execute("UPDATE broker_accounts SET status = 'active' WHERE id = \(harness.pausedUpstox)")
        try source.reload(harness.db)
        #expect(source.candidates(for: harness.order()).map(\.accountID) == [t(harness.kite), t(harness.pausedUpstox)])
    }

    @Test func recordedCallsChangeTheRoute() throws {
        let harness = try RouteHarness()
        defer { harness.cleanUp() }
        let source = LiveRouteSource(inputs: RouteInputs(config: try RoutingConfig.parse("""
            brokers:
              upstox: {fees: {default: {percent: "0.03", cap: "20"}}}
            """)))
        try source.load(harness.db, accounts: [harness.kite])
        func best() throws -> BrokerKind {
            try OrderRouter().route(quantity: 10, lotSize: 1, value: 15_000, idempotencyKey: "k", averageTradeValue: nil,
                                    candidates: source.candidates(for: harness.order())).get().orders[0].broker
        }
        #expect(try best() == .kite, "all equal: the order's own account")
        // Upstox measured faster: it wins on speed; a broker not yet measured is taken as average, not as instant.
        source.record(broker: .upstox, latency: .milliseconds(10), failed: false)
        #expect(source.candidates(for: harness.order()).map(\.latency) == [.milliseconds(10), .milliseconds(10)])
        source.record(broker: .kite, latency: .milliseconds(40), failed: false)
        #expect(try best() == .upstox)
        // Kite as fast again; Upstox now failing: reliability decides.
        for _ in 0..<3 { source.record(broker: .kite, latency: .milliseconds(10), failed: false) }
        for _ in 0..<4 { source.record(broker: .upstox, latency: .milliseconds(5), failed: true) }
        source.record(broker: .kite, latency: .milliseconds(10), failed: false)
        let candidates = source.candidates(for: harness.order())
        #expect(candidates.map(\.errorRate) == [0, 0.8])
        #expect(candidates[0].latency > candidates[1].latency, "Kite's mean still includes its slow call")
    }

    /// Only the error rate differs: it alone must move the order off the failing broker.
    @Test func theErrorRateFeedsReliability() throws {
        let harness = try RouteHarness()
        defer { harness.cleanUp() }
        let source = LiveRouteSource(inputs: RouteInputs(config: try RoutingConfig.parse("brokers: {upstox: {fees: {default: {percent: \"0.03\", cap: \"20\"}}}}")))
        try source.load(harness.db, accounts: [harness.kite])
        for _ in 0..<4 {
            source.record(broker: .kite, latency: .milliseconds(10), failed: false)
            source.record(broker: .upstox, latency: .milliseconds(10), failed: false)
        }
        source.record(broker: .kite, latency: .milliseconds(10), failed: true)
        let decision = try OrderRouter().route(quantity: 10, lotSize: 1, value: 15_000, idempotencyKey: "k", averageTradeValue: nil,
                                               candidates: source.candidates(for: harness.order())).get()
        #expect(decision.scores.map(\.broker) == [.upstox, .kite])
        #expect(decision.scores.first?.reliability == 1 && decision.scores.last?.reliability == 0)
    }

    /// The real breaker driven open (failures recorded in Redis), read by the watch: the broker is
    /// excluded from the route though it scores best on everything else.
    @Test func aBrokerWhoseCircuitIsOpenIsExcluded() async throws {
        let harness = try RouteHarness()
        defer { harness.cleanUp() }
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        var settings = CircuitBreaker.Settings()
        settings.threshold = 3
        settings.cooldown = .seconds(120)
        let kiteBreaker = CircuitBreaker(name: TestServers.uniqueName("route-kite"), settings: settings, redis: redis)
        let upstoxBreaker = CircuitBreaker(name: TestServers.uniqueName("route-upstox"), settings: settings, redis: redis)
        defer { Task { _ = try? await redis.send("DEL", kiteBreaker.key, upstoxBreaker.key) } }
        let watch = CircuitWatch(breakers: [.kite: kiteBreaker, .upstox: upstoxBreaker])
        let source = LiveRouteSource(inputs: RouteInputs(circuits: watch))
        try source.load(harness.db, accounts: [harness.kite])
        // Kite is faster and cheaper for this order: it wins while its circuit is closed.
        source.record(broker: .kite, latency: .milliseconds(5), failed: false)
        source.record(broker: .upstox, latency: .milliseconds(50), failed: false)
        let order = harness.order()
        func route() throws -> RouteDecision {
            try OrderRouter().route(quantity: 10, lotSize: 1, value: 15_000, idempotencyKey: order.idempotencyKey, averageTradeValue: nil,
                                    candidates: source.candidates(for: order)).get()
        }
        try await watch.refresh()
        #expect(try route().orders.map(\.broker) == [.kite])

        for _ in 0..<settings.threshold { try await kiteBreaker.record(success: false) }
        #expect(try await kiteBreaker.state() == .open)
        try await watch.refresh()
        #expect(source.candidates(for: order).map(\.circuitOpen) == [true, false])
        let decision = try route()
        #expect(decision.orders.map(\.broker) == [.upstox])
        #expect(decision.scores.map(\.broker) == [.upstox], "an open circuit is not even scored")

        // Every circuit open: no route at all.
        for _ in 0..<settings.threshold { try await upstoxBreaker.record(success: false) }
        try await watch.refresh()
        #expect(OrderRouter().route(quantity: 10, lotSize: 1, value: 15_000, idempotencyKey: "k", averageTradeValue: nil,
                                    candidates: source.candidates(for: order)) == .failure(.noEligibleBroker("every broker's circuit is open")))
    }

    /// `candidates` runs per order: memory only. A loose ceiling that only a round trip per call
    /// (or a scan of every account) could break; measured figures are printed, not asserted.
    @Test func candidatesCostMicroseconds() throws {
        let harness = try RouteHarness()
        defer { harness.cleanUp() }
        let source = LiveRouteSource()
        try source.load(harness.db, accounts: [harness.kite])
        let order = harness.order()
        let calls = 20_000
        let clock = ContinuousClock()
        var count = 0
        let elapsed = clock.measure {
            for _ in 0..<calls { count += source.candidates(for: order).count }
        }
        #expect(count == 2 * calls)
        let valued = clock.measure {
            for _ in 0..<calls { count += source.candidates(for: order, value: 15_000).count }
        }
        print("LiveRouteSource.candidates (debug build): \(elapsed / calls) per call from the order, \(valued / calls) given the value")
    }
}
