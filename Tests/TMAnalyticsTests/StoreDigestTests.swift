import Foundation
import Testing
import TestSupport
import TMCore
import TMPostgres
@testable import TMAnalytics

/// A row's digest never outlives its content (migration 0031): a writer that changes a row without
/// writing its digest (an upsert from a binary older than 0025) leaves no digest, so the next
/// recompute rewrites the row instead of keeping the other writer's content as unchanged.
@Suite struct StoreDigestTests {
    static let now = StoreFixture.micros("2024-03-15T12:00:00Z")

    func week(_ f: StoreFixture, _ user: UUID) throws -> (realized: String, digest: UUID?) {
        let conn = try f.connect()
        defer { conn.close() }
        let row = try conn.query("""
            SELECT realized_pnl::text AS realized, digest FROM analytics
            WHERE user_id = \(user) AND period = 'week' AND period_start = '2024-03-04'
            """).rows[0]
        return (try row.decode("realized"), try row.decode("digest"))
    }

    @Test func aRowChangedWithoutItsDigestIsRewrittenByTheNextRecompute() async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana", capital: "100000", currency: "INR")
        let kite = try f.account(ana, broker: "kite")
        try f.fill(kite, "K1", "INFY", "NSE", "buy", qty: "10", price: "100", fee: "1", time: "2024-03-04T04:00:00Z")
        try f.fill(kite, "K2", "INFY", "NSE", "sell", qty: "10", price: "110", fee: "1", time: "2024-03-04T06:00:00Z")
        let pipeline = AnalyticsPipeline(pool: f.pool, redis: f.redis, nowMicros: { Self.now })
        _ = try await pipeline.recompute(users: [ana], runID: UUID())
        let written = try week(f, ana)
        #expect(written.realized == "98" && written.digest != nil)

        // Touching only what the digest does not cover keeps it: nothing to rewrite.
        let conn = try f.connect()
        try conn.execute("UPDATE analytics SET computed_at = now(), run_id = \(UUID()) WHERE user_id = \(ana)")
        #expect(try week(f, ana).digest == written.digest)

        // An old binary's upsert: new figures, its column list without `digest`.
        try conn.execute("""
            UPDATE analytics SET realized_pnl = 5, report = '{"realized_pnl":"5"}', computed_at = now()
            WHERE user_id = \(ana) AND period = 'week'
            """)
        conn.close()
        #expect(try week(f, ana).digest == nil, "a changed row keeps no digest of what it held before")

        let again = try await pipeline.recompute(users: [ana], runID: UUID())
        #expect(again.rowsWritten == 1, "the week is rewritten; the rest are unchanged")
        let restored = try week(f, ana)
        #expect(restored.realized == "98" && restored.digest == written.digest)
        await f.close()
    }
}
