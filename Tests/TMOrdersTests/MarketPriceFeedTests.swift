import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMMarketData
import TMOrders
import TMRisk

/// The risk side checks an order against the market's price (market data's cache), not only the
/// price of the account's last sync.
@Suite(.serialized) struct MarketPriceFeedTests {
    @Test func anOrderIsCheckedAgainstTheCachedMarketPrice() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        // An instrument only this test prices: the cache is shared by every test on the server.
        let symbol = "PXFEED" + String(UUID().uuidString.prefix(6))
        let cache = PriceCache(redis: h.redis)
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        try await cache.store(PriceTick(symbol: symbol, exchange: "NSE", price: Decimal(string: "1512.35")!, previousClose: nil,
                                        source: "test", atMs: nowMs), ttl: .seconds(60))
        h.risk.deny = RiskDenial(.priceOutsideBand, "recorded")
        let placer = h.placer(prices: CachedMarketPrices(cache: cache))
        _ = try await placer.handle(h.place(.kite, key: "px-\(symbol)", symbol: symbol), fences: PlacementHarness.delivery())
        #expect(h.risk.observedAtCheck == [FixedDecimal("1512.35")!])

        // No cached price (none, or expired): the check runs on what the risk side had.
        let unpriced = "PXNONE" + String(UUID().uuidString.prefix(6))
        _ = try await placer.handle(h.place(.kite, key: "px-\(unpriced)", symbol: unpriced), fences: PlacementHarness.delivery())
        #expect(h.risk.observedAtCheck.count == 2 && h.risk.observedAtCheck[1] == nil)
    }
}
