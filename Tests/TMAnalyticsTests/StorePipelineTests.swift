import Foundation
import Testing
import TestSupport
import TMAnalytics
import TMCore
import TMMarketData
import TMPostgres
import TMQueue
import TMRedis

@Suite struct StorePipelineTests {
    /// Friday 8 March 2024, noon UTC: the evaluation instant.
    static let now = StoreFixture.micros("2024-03-08T12:00:00Z")

    func pipeline(_ f: StoreFixture) -> AnalyticsPipeline {
        AnalyticsPipeline(pool: f.pool, redis: f.redis, nowMicros: { Self.now })
    }

    func allRow(_ f: StoreFixture, _ user: UUID, _ currency: String = "INR") throws -> PostgresRow? {
        let conn = try f.connect()
        defer { conn.close() }
        return try conn.query("""
            SELECT realized_pnl::text AS realized, unrealized_pnl::text AS unrealized, fees::text AS fees, run_id, closing_fills, report
            FROM analytics WHERE user_id = \(user) AND currency = \(currency) AND period = 'all'
            """).rows.first
    }

    func periods(_ f: StoreFixture, _ user: UUID) throws -> [String] {
        let conn = try f.connect()
        defer { conn.close() }
        return try conn.query("SELECT currency || ' ' || period || ' ' || period_start AS p FROM analytics WHERE user_id = \(user) ORDER BY 1")
            .rows.map { try $0.decode("p") }
    }

    @Test func aRecomputeWritesTheEnginesRowsAndReplacesThemNextTime() async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana", capital: "100000", currency: "INR")
        let kite = try f.account(ana, broker: "kite")
        let upstox = try f.account(ana, broker: "upstox")
        try f.fill(kite, "K1", "INFY", "NSE", "buy", qty: "10", price: "100", fee: "1", time: "2024-03-04T04:00:00Z")
        try f.fill(upstox, "U1", "INFY", "NSE", "sell", qty: "10", price: "110", fee: "1", time: "2024-03-04T06:00:00Z")
        let run = UUID()
        let first = try await pipeline(f).recompute(users: [ana], runID: run)
        #expect(first.users == 1 && first.groups == 1 && first.fills == 2)
        let row = try #require(try allRow(f, ana))
        // (110 − 100) × 10 − 1 − 1, across two accounts.
        #expect(try row.decode("realized", as: String.self) == "98")
        #expect(try row.decode("fees", as: String.self) == "2")
        #expect(try row.decode("run_id", as: UUID?.self) == run)
        #expect(try row.decode("closing_fills", as: Int.self) == 1)
        let rowsBefore = try periods(f, ana)
        #expect(first.rowsWritten == rowsBefore.count)
        #expect(rowsBefore.contains("INR day 2024-03-04"))

        // The first day's fills are corrected away and a later round trip arrives: the day's row goes.
        let conn = try f.connect()
        try conn.execute("DELETE FROM trades WHERE account_id = ANY(ARRAY[\(kite), \(upstox)]::uuid[])")
        conn.close()
        try f.fill(kite, "K2", "INFY", "NSE", "buy", qty: "5", price: "100", time: "2024-03-06T04:00:00Z")
        try f.fill(kite, "K3", "INFY", "NSE", "sell", qty: "5", price: "90", time: "2024-03-06T05:00:00Z")
        let second = try await pipeline(f).recompute(users: [ana], runID: nil)
        let after = try periods(f, ana)
        #expect(!after.contains("INR day 2024-03-04"))
        #expect(after.contains("INR day 2024-03-06"))
        #expect(second.rowsWritten == after.count)
        let replaced = try #require(try allRow(f, ana))
        #expect(try replaced.decode("realized", as: String.self) == "-50")
        #expect(try replaced.decode("run_id", as: UUID?.self) == nil)
        await f.close()
    }

    @Test func currenciesGetRowsOfTheirOwnAndAUserWithNoFillsLosesTheirs() async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana", capital: "100000", currency: "INR")
        let idle = try f.user("idle")
        try f.instrument("AAPL", "NASDAQ", currency: "USD")
        let kite = try f.account(ana, broker: "kite")
        let alpaca = try f.account(ana, broker: "alpaca")
        try f.fill(kite, "K1", "INFY", "NSE", "buy", qty: "1", price: "100", time: "2024-03-04T04:00:00Z")
        try f.fill(kite, "K2", "INFY", "NSE", "sell", qty: "1", price: "101", time: "2024-03-04T05:00:00Z")
        try f.fill(alpaca, "A1", "AAPL", "NASDAQ", "buy", qty: "1", price: "180", time: "2024-03-04T15:00:00Z")
        try f.fill(alpaca, "A2", "AAPL", "NASDAQ", "sell", qty: "1", price: "175", time: "2024-03-05T15:00:00Z")
        // The idle user has rows from before (all his fills were since removed).
        try await f.pool.withConnection {
            try ReportWriter(json: { _ in .object([]) }).replace(users: [idle], reports: [AnalyticsReport(userID: idle, currency: "INR", period: .all, periodStart: "1970-01-01")], runID: nil, on: $0)
        }
        let summary = try await pipeline(f).recompute(users: [ana, idle, ana], runID: nil)
        #expect(summary.users == 2 && summary.groups == 2 && summary.fills == 4)
        #expect(try allRow(f, ana, "INR")?.decode("realized", as: String.self) == "1")
        #expect(try allRow(f, ana, "USD")?.decode("realized", as: String.self) == "-5")
        #expect(try periods(f, idle).isEmpty)
        await f.close()
    }

    @Test func openLotsAreMarkedAtTheCachedPriceAndTheCacheIsDropped() async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana")
        let kite = try f.account(ana, broker: "kite")
        let symbol = "INFY" + f.suffix.uppercased()
        try f.fill(kite, "K1", symbol, "NSE", "buy", qty: "10", price: "100", time: "2024-03-04T04:00:00Z")
        let id = ana.uuidString.lowercased()
        for period in AnalyticsPeriod.allCases {
            _ = try await f.redis.send("SET", CacheKeys.analytics(user: id, period: period.rawValue), "{\"stale\": true}")
        }
        // No cached price: the open lot is marked at its own fill price.
        _ = try await pipeline(f).recompute(users: [ana], runID: nil)
        #expect(try allRow(f, ana)?.decode("unrealized", as: String?.self) == "0")
        for period in AnalyticsPeriod.allCases {
            #expect(try await f.redis.send("EXISTS", CacheKeys.analytics(user: id, period: period.rawValue)).int == 0)
        }
        let tick = PriceTick(symbol: symbol, exchange: "NSE", price: Decimal(string: "112.5")!, previousClose: nil, source: "kite", atMs: Self.now / 1000)
        try await PriceCache(redis: f.redis).store(tick, ttl: .seconds(60))
        _ = try await pipeline(f).recompute(users: [ana], runID: nil)
        #expect(try allRow(f, ana)?.decode("unrealized", as: String?.self) == "125")
        _ = try await f.redis.send("DEL", CacheKeys.price(symbol: symbol, exchange: "NSE"))
        await f.close()
    }
}
