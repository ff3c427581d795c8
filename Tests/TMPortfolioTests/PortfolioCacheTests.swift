import Foundation
import Testing
import TestSupport
import TMCore
import TMPortfolio
import TMRedis

/// `portfolio:<user>`: five minutes of life, and the newest valuation wins whatever order writes land in.
@Suite(.serialized, .timeLimit(.minutes(2))) struct PortfolioCacheTests {
    @Test func aValuationLivesFiveMinutes() async throws {
        let f = try await PortfolioFixture()
        let user = try f.user("ttl")
        try f.funds(try f.account(user, broker: "kite", label: "main"), segment: "equity", currency: "INR", available: 10, cash: 10)
        #expect(PortfolioCache.defaultTTL == .seconds(300))
        try await f.valuer().revalue(user: user)
        let ttl = try #require(try await f.redis.send("PTTL", "portfolio:\(user.uuidString.lowercased())").int)
        #expect(ttl > 240_000 && ttl <= 300_000, "PTTL \(ttl)")
        await f.cleanUp()
    }

    @Test func anOlderValuationNeverReplacesANewerOne() async throws {
        let f = try await PortfolioFixture()
        let user = try f.user("race")
        let account = try f.account(user, broker: "kite", label: "main")
        try f.funds(account, segment: "equity", currency: "INR", available: 1, cash: 200)
        let valuer = f.valuer()
        // The later valuation (cash 200) lands first; the earlier one (cash 100) lands after it.
        let newer = try await valuer.valuation(user: user)
        try f.funds(account, segment: "equity", currency: "INR", available: 1, cash: 100)
        f.clock.withLock { $0 = PortfolioFixture.noon.addingTimeInterval(-1) }
        let older = try await valuer.valuation(user: user)
        #expect(older.computedAtMs < newer.computedAtMs && older.totals[0].cash == 100)
        #expect(try await valuer.cache.store(newer))
        #expect(try await !valuer.cache.store(older))
        #expect(try await f.cached(user) == newer)
        // A later one replaces it.
        f.clock.withLock { $0 = PortfolioFixture.noon.addingTimeInterval(1) }
        let latest = try await valuer.revalue(user: user)
        #expect(try await f.cached(user) == latest && latest.totals[0].cash == 100)
        await f.cleanUp()
    }
}
