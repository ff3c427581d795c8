import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMAnalytics

/// The read-through copy of `analytics:<user>:<period>`: served from Redis once filled, dropped by
/// a recompute, never refilled with what a recompute replaced.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RefreshCacheTests {
    @Test func theCacheIsServedThenInvalidatedByARecompute() async throws {
        let f = try await RefreshFixture()
        let user = try await f.user("cached")
        let account = try await f.account(user)
        try await f.fill(account, id: "B1", side: "buy", quantity: "10", price: "100", at: 0)
        try await f.fill(account, id: "S1", side: "sell", quantity: "10", price: "110", at: 60)
        try await f.recompute([user])
        let cache = AnalyticsCache(pool: f.pool, redis: f.redis)

        let first = try await cache.current(user: user, period: .all)
        #expect(!first.cached && first.reports.count == 1)
        #expect(first.reports.first?["realized_pnl"]?.stringValue.flatMap(DecimalText.parse) == 100)
        // Behind the cache's back: the row changes, the cached copy is what is served.
        _ = try await f.pool.execute("UPDATE analytics SET report = jsonb_set(report::jsonb, '{realized_pnl}', '\"-1\"')::json WHERE user_id = \(user)")
        let second = try await cache.current(user: user, period: .all)
        #expect(second.cached)
        #expect(second.reports == first.reports, "served from Redis, not from the (changed) row")
        let ttl = try await f.redis.send("PTTL", AnalyticsCache.key(user, .all)).int ?? 0
        #expect(ttl > 14 * 60_000 && ttl <= 15 * 60_000, "fifteen minutes: \(ttl) ms")

        // A new trade and its recompute: the copy is gone, the next read has the new figures.
        try await f.fill(account, id: "B2", side: "buy", quantity: "1", price: "100", at: 120)
        try await f.fill(account, id: "S2", side: "sell", quantity: "1", price: "90", at: 180)
        try await f.recompute([user])
        let third = try await cache.current(user: user, period: .all)
        #expect(!third.cached, "the recompute invalidated the copy")
        #expect(third.reports.first?["realized_pnl"]?.stringValue.flatMap(DecimalText.parse) == 90)
        #expect(try await cache.current(user: user, period: .all).cached)
        await f.cleanUp()
    }

    /// A reader read the rows, then a recompute replaced them and deleted the key, then the reader
    /// stores what it read: refused (its fill token went with the delete), so the stale copy is
    /// not served for fifteen minutes.
    @Test func aReaderRacingARecomputeDoesNotStoreTheOldRows() async throws {
        let f = try await RefreshFixture()
        let user = try await f.user("racing")
        let cache = AnalyticsCache(pool: f.pool, redis: f.redis)
        let key = AnalyticsCache.key(user, .day)
        let start = AnalyticsPeriodStart.start(of: .day, on: try await cache.today(user: user))
        #expect(try await cache.begin(key: key, start: start, token: "reader-1") == .fill)
        #expect(try await cache.begin(key: key, start: start, token: "reader-2") == .bypass, "one filler at a time")
        _ = try await f.redis.send("DEL", key)  // the recompute's invalidation
        #expect(try await cache.store(key: key, start: start, token: "reader-1", reports: [.string("old")]) == false)
        #expect(try await f.redis.send("EXISTS", key).int == 0)

        // Undisturbed, the filler's copy is stored and served.
        #expect(try await cache.begin(key: key, start: start, token: "reader-3") == .fill)
        #expect(try await cache.store(key: key, start: start, token: "reader-3", reports: [.string("new")]))
        #expect(try await cache.begin(key: key, start: start, token: "reader-4") == .hit(#"["new"]"#))
        // A copy of an earlier period (the day turned) is not served as today's.
        #expect(try await cache.begin(key: key, start: "2999-01-01", token: "reader-5") == .fill)
        await f.cleanUp()
    }
}
