import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMMarketData
import TMPortfolio
import TMRisk

/// A coin a Binance account holds (`BTC`, stored by sync as a position with average price 0) has
/// no ticker of its own: market-data prices it through its USDT pair, and `tm prices`, the live
/// portfolio and `tm accounts` exposure value it at that price, exactly.
@Suite(.serialized) struct CoinBalancePricingTests {
    func d(_ text: String) -> Decimal { DecimalText.parse(text)! }

    @Test func aBinanceCoinBalanceIsPricedThroughItsUSDTPairEverywhere() async throws {
        let h = try await MarketDataHarness(brokers: [.binance])
        defer { Task { await h.cleanUp() } }
        for key in ["BTC:BINANCE", "ETH:BINANCE", "DOGE:BINANCE"] { _ = try await h.redis.send("DEL", "price:\(key)") }
        let account = h.accounts[.binance]!
        // As sync stores Binance balances: the coin, exchange BINANCE, average price 0, no last price.
        try h.db.execute("""
            INSERT INTO positions (account_id, symbol, exchange, quantity, average_price, as_of) VALUES
              (\(account), 'BTC', 'BINANCE', 0.5, 0, now()), (\(account), 'ETH', 'BINANCE', 2.25, 0, now()),
              (\(account), 'DOGE', 'BINANCE', 100, 0, now())
            """)
        // The pair itself watched too: one ticker answers both.
        try h.watch("BTCUSDT", "BINANCE")
        try h.pin(.binance, "BTCUSDT", "64001.5")
        try h.pin(.binance, "ETHUSDT", "3201.25")

        let tracked = try TrackedInstruments.load(h.db, limit: 100)
        #expect(tracked.filter(\.coinBalance).map(\.symbol) == ["BTC", "DOGE", "ETH"])
        #expect(tracked.first { $0.symbol == "BTCUSDT" }?.coinBalance == false)

        let valuer = PortfolioValuer(pool: h.pool, redis: h.redis)
        let service = h.service { ticks in _ = try? await valuer.revalue(holdersOf: ticks) }
        let report = try await service.runCycle()
        #expect(report.sources[InstrumentKey(symbol: "BTC", exchange: "BINANCE")] == .binance)
        #expect(report.sources[InstrumentKey(symbol: "ETH", exchange: "BINANCE")] == .binance)
        #expect(report.sources[InstrumentKey(symbol: "BTCUSDT", exchange: "BINANCE")] == .binance)
        // The simulator lists no DOGEUSDT: the coin stays unpriced, the others are not held up.
        #expect(report.unpriced == [InstrumentKey(symbol: "DOGE", exchange: "BINANCE")], "\(report.unpriced)")
        #expect(report.failures.isEmpty, "\(report.failures)")

        // Cached and published under the coin's own name, at the pair's price, exact.
        let cache = PriceCache(redis: h.redis)
        let btc = try #require(try await cache.read(symbol: "BTC", exchange: "BINANCE", nowMs: h.clock.now))
        #expect(btc.tick.price == d("64001.5") && btc.tick.source == "binance")
        #expect(try await cache.read(symbol: "ETH", exchange: "BINANCE", nowMs: h.clock.now)?.tick.price == d("3201.25"))
        #expect(try await cache.read(symbol: "BTCUSDT", exchange: "BINANCE", nowMs: h.clock.now)?.tick.price == d("64001.5"))
        #expect(Set(try await h.ticks().map { "\($0.symbol)=\(DecimalText.plain($0.price))" }) == ["BTC=64001.5", "ETH=3201.25", "BTCUSDT=64001.5"])

        // tm prices: priced, not missing (stale only by the test's clock, which is days behind the real one).
        let shown = try await h.tm(["prices", "BTC", "--exchange", "BINANCE", "--json"])
        let row = try JSONValue.parse(shown.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(row["status"]?.stringValue != "missing" && row["price"]?.stringValue == "64001.5" && row["source"]?.stringValue == "binance",
                "\(shown.output)")

        // The live portfolio (portfolio:<user>, revalued on the move): the coins at the cached price.
        let portfolio = try #require(try await PortfolioCache(redis: h.redis).read(user: h.user))
        let held = Dictionary(uniqueKeysWithValues: portfolio.positions.map { ($0.symbol, $0) })
        #expect(held["BTC"].map { [$0.currentPrice, $0.marketValue] } == [d("64001.5"), d("32000.75")])
        #expect(held["BTC"]?.priceSource == .cache && held["BTC"]?.currency == "USDT")
        #expect(held["ETH"].map { [$0.currentPrice, $0.marketValue] } == [d("3201.25"), d("7202.8125")])
        #expect(held["DOGE"]?.priceSource == .averagePrice)

        // tm accounts: exposure in USDT, 0.5 × 64001.5 + 2.25 × 3201.25, DOGE still counted unpriced.
        let details = try await h.tm(["accounts", "show", account.uuidString, "--json"])
        #expect(details.status == 0, "\(details.output)")
        let json = try JSONValue.parse(details.output)
        let exposure = json["account"]?["exposure"]?.arrayValue?.first
        #expect(exposure?["currency"]?.stringValue == "USDT" && exposure?["amount"]?.stringValue == "39203.5625", "\(details.output)")
        #expect(exposure?["unpriced"] == .number("1"), "\(details.output)")
        let btcRow = json["positions"]?.arrayValue?.first { $0["symbol"]?.stringValue == "BTC" }
        #expect(btcRow?["cachedPrice"]?.stringValue == "64001.5" && btcRow?["exposure"]?.stringValue == "32000.75", "\(details.output)")
        let list = try await h.tm(["accounts"])
        #expect(list.output.contains("39203.5625 USDT (+1 unpriced)"), "\(list.output)")
    }
}
