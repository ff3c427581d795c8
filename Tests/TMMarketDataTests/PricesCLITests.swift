import Foundation
import Testing
import TestSupport
import TMCore
import TMMarketData

/// `tm prices` and `tm ticks publish` as an operator runs them.
@Suite(.serialized) struct PricesCLITests {
    func d(_ text: String) -> Decimal { DecimalText.parse(text)! }

    @Test func pricesShowsFreshStaleAndMissing() async throws {
        let h = try await MarketDataHarness(brokers: [])
        defer { Task { await h.cleanUp() } }
        for (symbol, exchange) in [("INFY", "NSE"), ("TCS", "NSE"), ("AAPL", "NASDAQ")] { try h.watch(symbol, exchange) }
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let cache = PriceCache(redis: h.redis)
        try await cache.store(PriceTick(symbol: "INFY", exchange: "NSE", price: d("1402.5"), previousClose: d("1390"), source: "kite", atMs: now), ttl: .seconds(60))
        try await cache.store(PriceTick(symbol: "AAPL", exchange: "NASDAQ", price: d("187.1"), source: "alpaca", atMs: now - 45_000), ttl: .seconds(60))
        let table = try await h.tm(["prices"])
        #expect(table.status == 0, "\(table.output)")
        let lines = table.output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(lines.first { $0.first == "INFY" }.map { [$0[2], $0[3], $0[4], $0.last!] } == ["1402.5", "1390", "kite", "fresh"], "\(table.output)")
        #expect(lines.first { $0.first == "AAPL" }.map { [$0[2], $0[4], $0[5], $0.last!] } == ["187.1", "alpaca", "45s", "stale"], "\(table.output)")
        #expect(lines.first { $0.first == "TCS" }.map { [$0[2], $0.last!] } == ["-", "missing"], "\(table.output)")

        let one = try await h.tm(["prices", "TCS", "--json"])
        #expect(try JSONValue.parse(one.output.trimmingCharacters(in: .whitespacesAndNewlines)) == .object([
            ("symbol", .string("TCS")), ("exchange", .string("NSE")), ("status", .string("missing")),
        ]), "\(one.output)")
    }

    @Test func ticksPublishWritesTheCacheAndEnqueuesAValidTick() async throws {
        let h = try await MarketDataHarness(brokers: [])
        defer { Task { await h.cleanUp() } }
        let published = try await h.tm(["ticks", "publish", "INFY", "1402.55", "--exchange", "nse", "--previous-close", "1390", "--queue", h.queue])
        #expect(published.status == 0 && published.output.contains("published INFY:NSE 1402.55"), "\(published.output)")
        let ticks = try await h.ticks()
        #expect(ticks.map { [$0.symbol, $0.exchange, DecimalText.plain($0.price), $0.previousClose.map(DecimalText.plain) ?? "", $0.source] }
                == [["INFY", "NSE", "1402.55", "1390", "manual"]])
        let cached = try await PriceCache(redis: h.redis).read(symbol: "INFY", exchange: "NSE", nowMs: ticks[0].atMs)
        #expect(cached?.tick == ticks.first)
    }

    @Test func ticksPublishRefusesBadInputNamingTheField() async throws {
        let h = try await MarketDataHarness(brokers: [])
        defer { Task { await h.cleanUp() } }
        let refusals: [([String], String)] = [
            (["INFY", "abc"], "price: not a decimal"),
            (["INFY", "0"], "price: must be greater than zero"),
            (["INFY", "1.5e400x"], "price: not a decimal"),
            (["INFY", "1400", "--previous-close=-3"], "previous_close: must be greater than zero"),
            (["IN:FY", "1400"], "symbol: must not contain ':' or spaces"),
            (["INFY", "1400", "--exchange", "N SE"], "exchange: must not contain ':' or spaces"),
        ]
        for (arguments, message) in refusals {
            let refused = try await h.tm(["ticks", "publish"] + arguments + ["--queue", h.queue])
            #expect(refused.status == 1 && refused.output.contains(message) && refused.output.contains("nothing was written or enqueued"),
                    "\(arguments): \(refused.output)")
        }
        #expect(try await h.ticks().isEmpty)
        #expect(try await PriceCache(redis: h.redis).read(symbol: "INFY", exchange: "NSE", nowMs: 0) == nil)
    }
}
