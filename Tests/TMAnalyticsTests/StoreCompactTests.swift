import Foundation
import Testing
import TestSupport
import TMCore
import TMPostgres
@testable import TMAnalytics

/// The nightly write's economies (migration 0025) change nothing a reader sees: only rows whose
/// content changed are rewritten; a day row stores no report JSON, yet `show` answers every field
/// of it; the periods that keep their report keep it whole.
@Suite struct StoreCompactTests {
    /// Friday 15 March 2024, noon UTC: the evaluation instant.
    static let now = StoreFixture.micros("2024-03-15T12:00:00Z")
    static let nowDate = Date(timeIntervalSince1970: Double(now) / 1e6)

    func pipeline(_ f: StoreFixture) -> AnalyticsPipeline {
        AnalyticsPipeline(pool: f.pool, redis: f.redis, nowMicros: { Self.now })
    }

    /// Every row of the user: "period start" → (run id, realized P&L, whether `report` is NULL).
    func rows(_ f: StoreFixture, _ user: UUID) throws -> [String: (run: UUID?, realized: String, bare: Bool)] {
        let conn = try f.connect()
        defer { conn.close() }
        var result: [String: (run: UUID?, realized: String, bare: Bool)] = [:]
        for row in try conn.query("""
            SELECT period || ' ' || period_start AS p, run_id, realized_pnl::text AS realized, report IS NULL AS bare
            FROM analytics WHERE user_id = \(user)
            """).rows {
            result[try row.decode("p")] = (try row.decode("run_id"), try row.decode("realized"), try row.decode("bare"))
        }
        return result
    }

    /// A win on Monday 4 March (INFY, +98 after fees) and one on Wednesday 13 March (TCS, +49).
    func trader(_ f: StoreFixture) throws -> (user: UUID, kite: UUID) {
        let ana = try f.user("ana", capital: "100000", currency: "INR")
        let kite = try f.account(ana, broker: "kite")
        try f.fill(kite, "K1", "INFY", "NSE", "buy", qty: "10", price: "100", fee: "1", time: "2024-03-04T04:00:00Z")
        try f.fill(kite, "K2", "INFY", "NSE", "sell", qty: "10", price: "110", fee: "1", time: "2024-03-04T06:00:00Z")
        try f.fill(kite, "K3", "TCS", "NSE", "buy", qty: "5", price: "200", fee: "0.5", time: "2024-03-13T04:00:00Z")
        try f.fill(kite, "K4", "TCS", "NSE", "sell", qty: "5", price: "210", fee: "0.5", time: "2024-03-13T05:00:00Z")
        return (ana, kite)
    }

    @Test func aRecomputeRewritesOnlyTheRowsThatChanged() async throws {
        let f = try await StoreFixture()
        let (ana, kite) = try trader(f)
        let run1 = UUID(), run2 = UUID(), run3 = UUID()
        let first = try await pipeline(f).recompute(users: [ana], runID: run1)
        let stored = try rows(f, ana)
        #expect(first.rowsWritten == stored.count && first.rowsUnchanged == 0)
        #expect(stored.values.allSatisfy { $0.run == run1 })

        // The same fills again (a normal night for this user): nothing is rewritten.
        let second = try await pipeline(f).recompute(users: [ana], runID: run2)
        #expect(second.rowsWritten == 0 && second.rowsUnchanged == stored.count)
        #expect(try rows(f, ana).values.allSatisfy { $0.run == run1 }, "unchanged rows keep the run that wrote them")

        // A new losing round trip on 13 March: that day, its week, month, year and all time change;
        // 4 March and its week do not.
        try f.fill(kite, "K5", "TCS", "NSE", "buy", qty: "1", price: "200", time: "2024-03-13T06:00:00Z")
        try f.fill(kite, "K6", "TCS", "NSE", "sell", qty: "1", price: "190", time: "2024-03-13T07:00:00Z")
        let third = try await pipeline(f).recompute(users: [ana], runID: run3)
        let after = try rows(f, ana)
        #expect(Set(after.keys) == Set(stored.keys))
        #expect(after["day 2024-03-04"]?.run == run1 && after["week 2024-03-04"]?.run == run1)
        #expect(after["day 2024-03-13"]?.run == run3 && after["day 2024-03-13"]?.realized == "39")
        #expect(after["week 2024-03-11"]?.run == run3 && after["month 2024-03-01"]?.run == run3)
        #expect(after["year 2024-01-01"]?.run == run3 && after["all 1970-01-01"]?.realized == "137")
        #expect(third.rowsWritten == 5 && third.rowsUnchanged == 2)
        await f.close()
    }

    /// Rows written before migration 0025 have no digest: the first recompute replaces them all
    /// (none is taken as unchanged, none left beside its new version).
    @Test func rowsStoredWithoutADigestAreReplaced() async throws {
        let f = try await StoreFixture()
        let (ana, _) = try trader(f)
        let run1 = UUID(), run2 = UUID()
        _ = try await pipeline(f).recompute(users: [ana], runID: run1)
        let count = try rows(f, ana).count
        let conn = try f.connect()
        try conn.execute("UPDATE analytics SET digest = NULL WHERE user_id = \(ana)")
        conn.close()
        let second = try await pipeline(f).recompute(users: [ana], runID: run2)
        #expect(second.rowsWritten == count && second.rowsUnchanged == 0)
        let after = try rows(f, ana)
        #expect(after.count == count && after.values.allSatisfy { $0.run == run2 })
        await f.close()
    }

    @Test func aDayRowStoresNoReportYetShowsEveryField() async throws {
        let f = try await StoreFixture()
        let (ana, _) = try trader(f)
        _ = try await pipeline(f).recompute(users: [ana], runID: UUID())
        let stored = try rows(f, ana)
        #expect(stored.filter { $0.key.hasPrefix("day ") }.count == 2)
        #expect(stored.allSatisfy { $0.value.bare == $0.key.hasPrefix("day ") }, "only day rows go without their report")

        // What the report of each period is, computed whole from the fills.
        let fills = try await f.pool.withConnection { try FillReader().read(users: [ana], on: $0) }
        let group = try #require(fills.users.first)
        let context = AnalyticsContext(asOfMicros: Self.now, riskFreeAnnual: 0.05)
        func expected(_ period: AnalyticsPeriod, _ day: String) -> JSONValue {
            AnalyticsEngine.json(AnalyticsEngine().report(for: group, period: period, containing: AnalyticsDay(day)!, context: context))
        }
        let cache = AnalyticsCache(pool: f.pool, redis: f.redis)
        let day = try await cache.show(user: ana, period: .day, day: AnalyticsDay("2024-03-04"), now: Self.nowDate)
        #expect(day.reports == [expected(.day, "2024-03-04")])
        // Every field of a day, breakdowns included, as a stored report had them.
        let shown = try #require(day.reports.first)
        #expect(shown["realized_pnl"]?.stringValue == "98" && shown["closing_fills"]?.text == "1")
        #expect(shown["average_win"]?.stringValue == "98" && shown["most_traded_symbol"]?.stringValue == "INFY")
        #expect(shown["categories"]?["intraday"]?["closing_fills"]?.text == "1")
        #expect(shown["top_symbols"]?.arrayValue?.first?["symbol"]?.stringValue == "INFY")
        #expect(shown["pnl_by_weekday"]?["mon"]?.stringValue == "98")
        #expect(shown["returns"]?["days"]?.text == "1")

        // The periods that keep their report keep all of it (the engine skips only days' breakdowns).
        let week = try await cache.show(user: ana, period: .week, day: AnalyticsDay("2024-03-13"), now: Self.nowDate)
        #expect(week.reports == [expected(.week, "2024-03-13")])
        #expect(week.reports.first?["top_symbols"]?.arrayValue?.first?["symbol"]?.stringValue == "TCS")
        await f.close()
    }
}
