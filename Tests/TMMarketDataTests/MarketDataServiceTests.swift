import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMMarketData
import TMRedis
import TMRisk

/// The market-data service against broker-sim, Postgres and Redis, cycles driven by hand with an
/// injected clock.
@Suite(.serialized) struct MarketDataServiceTests {
    func d(_ text: String) -> Decimal { DecimalText.parse(text)! }

    @Test func tracksWhatIsHeldOrderedOrWatchedAndNotAClosedPosition() async throws {
        let h = try await MarketDataHarness(brokers: [.kite])
        defer { Task { await h.cleanUp() } }
        let account = h.accounts[.kite]!
        try h.db.execute("""
            INSERT INTO positions (account_id, symbol, exchange, quantity, average_price, as_of) VALUES
              (\(account), 'INFY', 'NSE', 10, 1400, now()), (\(account), 'TCS', 'NSE', 0, 0, now()), (\(account), 'SBIN', 'NSE', -5, 780, now())
            """)
        for (symbol, state, filled) in [("RELIANCE", "ACCEPTED", 0), ("HDFCBANK", "FILLED", 1), ("WIPRO", "CANCELLED", 0)] {
            try h.db.execute("""
                INSERT INTO orders (user_id, account_id, symbol, exchange, side, order_type, quantity, price, state, origin, broker_order_id,
                                    filled_quantity, average_price)
                VALUES (\(h.user), \(account), \(symbol), 'NSE', 'buy', 'limit', 1, 100, \(state), 'broker', \("b-" + symbol),
                        \(filled), \(filled == 1 ? Decimal(100) : nil))
                """)
        }
        try h.watch("AAPL", "NASDAQ")
        try h.watch("MSFT", "NASDAQ", state: "cancelled")
        try h.watch("TSLA", "NASDAQ", expiresInSeconds: -60)
        let tracked = try TrackedInstruments.load(h.db, limit: 100).map(\.key.description)
        #expect(tracked == ["AAPL:NASDAQ", "INFY:NSE", "RELIANCE:NSE", "SBIN:NSE"])
        #expect(try TrackedInstruments.load(h.db, limit: 2).count == 2 && TrackedInstruments.count(h.db) == 4)
        let infy = try TrackedInstruments.load(h.db, limit: 100).first { $0.symbol == "INFY" }
        #expect(infy?.brokerTokens == ["upstox": "NSE_EQ|INE009A01021"])
    }

    @Test func aCyclePricesEachExchangeFromItsProviderWithThePreviousCloseAndTheTTL() async throws {
        let h = try await MarketDataHarness()
        defer { Task { await h.cleanUp() } }
        try h.pin(.kite, "INFY", "1402.55")
        try h.pin(.alpaca, "AAPL", "187.12")
        try h.pin(.binance, "BTCUSDT", "64001.5")
        for (symbol, exchange) in [("INFY", "NSE"), ("AAPL", "NASDAQ"), ("BTCUSDT", "BINANCE"), ("NOPE", "NSE"), ("ZZZ", "LSE")] {
            try h.watch(symbol, exchange)
        }
        var config = MarketDataConfig.defaults
        config.priceTTL = .seconds(7)
        let report = try await h.service(config: config).runCycle()
        #expect(report.sources[InstrumentKey(symbol: "INFY", exchange: "NSE")] == .kite)
        #expect(report.sources[InstrumentKey(symbol: "AAPL", exchange: "NASDAQ")] == .alpaca)
        #expect(report.sources[InstrumentKey(symbol: "BTCUSDT", exchange: "BINANCE")] == .binance)
        // Unknown at both Indian brokers, and an exchange with no providers: unpriced, the others priced.
        #expect(Set(report.unpriced) == [InstrumentKey(symbol: "NOPE", exchange: "NSE"), InstrumentKey(symbol: "ZZZ", exchange: "LSE")])
        #expect(report.failures.isEmpty, "\(report.failures)")

        let cache = PriceCache(redis: h.redis)
        let expected: [(String, String, String, String, String)] = [
            ("INFY", "NSE", "1402.55", "1500", "kite"), ("AAPL", "NASDAQ", "187.12", "190", "alpaca"), ("BTCUSDT", "BINANCE", "64001.5", "65000", "binance"),
        ]
        for (symbol, exchange, price, close, source) in expected {
            let cached = try #require(try await cache.read(symbol: symbol, exchange: exchange, nowMs: h.clock.now))
            #expect(cached.tick == PriceTick(symbol: symbol, exchange: exchange, price: d(price), previousClose: d(close), source: source, atMs: h.clock.now))
            let ttl = try await h.redis.send("PTTL", "price:\(symbol):\(exchange)").int ?? -1
            #expect(ttl > 0 && ttl <= 7000, "PTTL \(ttl)")
        }
    }

    @Test func whenKitesPriceEndpointFailsUpstoxPricesTheIndianInstruments() async throws {
        let h = try await MarketDataHarness()
        defer { Task { await h.cleanUp() } }
        try h.pin(.kite, "INFY", "1402.55")
        try h.pin(.upstox, "INFY", "1402.6")
        try h.pin(.alpaca, "AAPL", "187.12")
        try h.watch("INFY", "NSE")
        try h.watch("AAPL", "NASDAQ")
        try h.admin(.post, "/faults", #"{"broker":"kite","endpoint":"GET /quote","status":503,"error_rate":1}"#)
        let service = h.service()
        let report = try await service.runCycle()
        #expect(report.failures[.kite] != nil)
        #expect(report.sources[InstrumentKey(symbol: "INFY", exchange: "NSE")] == .upstox)
        #expect(report.sources[InstrumentKey(symbol: "AAPL", exchange: "NASDAQ")] == .alpaca)
        let ticks = try await h.ticks()
        #expect(ticks.first { $0.symbol == "INFY" }.map { ($0.source, $0.price, $0.previousClose) } ?? ("", 0, nil) == ("upstox", d("1402.6"), d("1500")))

        // Kite back: it answers again (after the breaker's cool-down if it opened; here it did not).
        try h.admin(.delete, "/faults")
        h.clock.advance(1000)
        let next = try await service.runCycle()
        #expect(next.sources[InstrumentKey(symbol: "INFY", exchange: "NSE")] == .kite && next.failures.isEmpty, "\(next.failures)")
    }

    @Test func aPriceIsPublishedOnlyWhenItMoved() async throws {
        let h = try await MarketDataHarness(brokers: [.kite])
        defer { Task { await h.cleanUp() } }
        try h.pin(.kite, "INFY", "1400")
        try h.watch("INFY", "NSE")
        let moved = Locked<[[PriceTick]]>([])
        let service = h.service { ticks in moved.withLock { $0.append(ticks) } }
        let first = try await service.runCycle()
        h.clock.advance(1000)
        let second = try await service.runCycle()
        #expect(first.published.count == 1 && second.published.isEmpty && second.stored == 1)
        #expect(try await h.ticks().map(\.price) == [d("1400")])
        #expect(moved.withLock { $0 }.map { $0.map(\.price) } == [[d("1400")]])

        try h.pin(.kite, "INFY", "1400.05")
        h.clock.advance(1000)
        let third = try await service.runCycle()
        #expect(third.published.map(\.price) == [d("1400.05")])
        #expect(try await h.ticks().map(\.price) == [d("1400"), d("1400.05")])
        #expect(moved.withLock { $0 }.count == 2)
    }

    @Test func anOlderObservationNeverReplacesANewerOneAndPricesExpire() async throws {
        let h = try await MarketDataHarness(brokers: [])
        defer { Task { await h.cleanUp() } }
        let cache = PriceCache(redis: h.redis)
        let newer = PriceTick(symbol: "INFY", exchange: "NSE", price: d("1402"), previousClose: d("1390"), source: "kite", atMs: 2000)
        let older = PriceTick(symbol: "INFY", exchange: "NSE", price: d("1399"), source: "upstox", atMs: 1000)
        #expect(try await cache.store(newer, ttl: .seconds(30)))
        #expect(try await cache.store(older, ttl: .seconds(30)) == false)
        #expect(try await cache.store([older, newer], ttl: .seconds(30)) == [false, true])
        #expect(try await cache.read(symbol: "INFY", exchange: "NSE", nowMs: 2500)?.tick == newer)
        let ttl = try await h.redis.send("PTTL", "price:INFY:NSE").int ?? -1
        #expect(ttl > 0 && ttl <= 30_000, "PTTL \(ttl)")
        // A newer tick without a close keeps the known close.
        let later = PriceTick(symbol: "INFY", exchange: "NSE", price: d("1403"), source: "manual", atMs: 3000)
        #expect(try await cache.store(later, ttl: .milliseconds(200)))
        #expect(try await cache.read(symbol: "INFY", exchange: "NSE", nowMs: 3000)?.tick.previousClose == d("1390"))
        try await eventually("the price to expire") { try await cache.read(symbol: "INFY", exchange: "NSE", nowMs: 3000) == nil }
    }

    @Test func theServiceLoopKeepsRunningThroughAFailingProvider() async throws {
        let h = try await MarketDataHarness(brokers: [.alpaca, .binance])
        defer { Task { await h.cleanUp() } }
        try h.watch("AAPL", "NASDAQ")
        try h.watch("BTCUSDT", "BINANCE")
        try h.admin(.post, "/faults", #"{"broker":"alpaca","status":500,"error_rate":1}"#)
        var config = MarketDataConfig.defaults
        config.pollInterval = .milliseconds(100)
        let clock = h.clock
        let service = h.service(config: config)
        let task = Task { await service.run() }
        defer { task.cancel() }
        let cache = PriceCache(redis: h.redis)
        // The loop keeps pricing Binance while Alpaca fails, and prices Alpaca once it is back.
        try await eventually("BTCUSDT priced") { clock.advance(100); return try await cache.read(symbol: "BTCUSDT", exchange: "BINANCE", nowMs: 0) != nil }
        try h.admin(.delete, "/faults")
        try await h.redis.send("DEL", "tm:{cb:alpaca}")
        try await eventually("AAPL priced once Alpaca is back") {
            clock.advance(100)
            return try await cache.read(symbol: "AAPL", exchange: "NASDAQ", nowMs: 0)?.tick.source == "alpaca"
        }
    }
}
