import Foundation
import Testing
import TestSupport
import TMCore
import TMPostgres
@testable import TMAnalytics

/// `show` for a day: a past day's report is computed from the fills up to that day only, yet equals
/// the report computed from every fill; "today" is dated in the zone of the user's main exchange,
/// as the engine dates its days.
@Suite struct ShowDayTests {
    /// Tuesday 30 April 2024, noon UTC: long after the days shown.
    static let now = StoreFixture.micros("2024-04-30T12:00:00Z")
    static let nowDate = Date(timeIntervalSince1970: Double(now) / 1e6)

    /// INFY bought on 4 March and sold over the 5th and 7th (a position carried across days), TCS
    /// round trips every weekday of March and April, and in USD an AAPL buy on 5 March sold that
    /// evening in New York (02:30 UTC on the 6th).
    func trader(_ f: StoreFixture) throws -> UUID {
        let bo = try f.user("bo", capital: "100000", currency: "INR")
        let kite = try f.account(bo, broker: "kite")
        let alpaca = try f.account(bo, broker: "alpaca")
        try f.fill(kite, "I1", "INFY", "NSE", "buy", qty: "10", price: "100", fee: "1", time: "2024-03-04T04:00:00Z")
        try f.fill(kite, "I2", "INFY", "NSE", "sell", qty: "4", price: "110", fee: "0.4", time: "2024-03-05T05:00:00Z")
        try f.fill(kite, "I3", "INFY", "NSE", "sell", qty: "6", price: "95", fee: "0.6", time: "2024-03-07T06:00:00Z")
        for day in 4...60 {
            let date = AnalyticsDay(daysSinceEpoch: AnalyticsDay("2024-02-29")!.daysSinceEpoch + day)
            guard date.weekday < 5 else { continue }
            let price = 200 + (day % 7) * 3
            try f.fill(kite, "T\(day)b", "TCS", "NSE", "buy", qty: "5", price: "\(price)", fee: "0.5", time: "\(date)T04:30:00Z")
            try f.fill(kite, "T\(day)s", "TCS", "NSE", "sell", qty: "5", price: "\(price + (day % 3) - 1)", fee: "0.5", time: "\(date)T08:30:00Z")
        }
        try f.fill(alpaca, "A1", "AAPL", "NASDAQ", "buy", qty: "2", price: "170.5", fee: "0.01", time: "2024-03-05T15:00:00Z")
        try f.fill(alpaca, "A2", "AAPL", "NASDAQ", "sell", qty: "2", price: "172.25", fee: "0.01", time: "2024-03-06T02:30:00Z")
        return bo
    }

    @Test func aPastDaysReportFromItsFillsEqualsTheReportFromEveryFill() async throws {
        let f = try await StoreFixture()
        let bo = try trader(f)
        _ = try await AnalyticsPipeline(pool: f.pool, redis: f.redis, nowMicros: { Self.now }).recompute(users: [bo], runID: UUID())
        let every = try await f.pool.withConnection { try FillReader().read(users: [bo], on: $0) }
        let context = AnalyticsContext(asOfMicros: Self.now, riskFreeAnnual: 0.05)
        for day in ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-04-10"] {
            let shown = try await AnalyticsCache.rows(f.pool, user: bo, period: .day, start: day, now: Self.nowDate)
            let expected = every.users
                .map { AnalyticsEngine().report(for: $0, period: .day, containing: AnalyticsDay(day)!, context: context) }
                .filter { $0.fillsCount > 0 }.map(AnalyticsEngine.json).sorted { ($0["currency"]?.stringValue ?? "") < ($1["currency"]?.stringValue ?? "") }
            #expect(!shown.isEmpty && shown == expected, "\(day): \(JSONValue.array(shown).text) vs \(JSONValue.array(expected).text)")
        }
        // The carried INFY position is closed on the 5th and 7th; the US sale counts on the 5th, New York's day.
        let fifth = try await AnalyticsCache.rows(f.pool, user: bo, period: .day, start: "2024-03-05", now: Self.nowDate)
        #expect(fifth.map { $0["currency"]?.stringValue } == ["INR", "USD"])
        #expect(fifth.last?["realized_pnl"]?.stringValue == "3.48", "(172.25 − 170.5) × 2 − 0.02")
        await f.close()
    }

    /// The day's read stops at the first UTC midnight after the day has ended everywhere: the
    /// fills after it are not read at all (a week's, at its last day's).
    @Test func aDaysReadTakesOnlyTheFillsUpToThatDay() async throws {
        let f = try await StoreFixture()
        let bo = try trader(f)
        let conn = try f.connect()
        defer { conn.close() }
        let total = try conn.query("SELECT count(*)::int AS n FROM trades").rows[0].decode("n", as: Int.self)
        let bound = ExchangeZones.firstUTCDayAfterEveryZone(AnalyticsDay("2024-03-05")!)
        #expect(bound.description == "2024-03-07")
        let before = try conn.query("SELECT count(*)::int AS n FROM trades WHERE traded_at < '2024-03-07T00:00:00Z'").rows[0].decode("n", as: Int.self)
        let read = try await AnalyticsCache.fills(f.pool, user: bo, period: .day, containing: AnalyticsDay("2024-03-05")!)
        // INFY on the 4th and 5th, TCS on the 4th to 6th, AAPL bought and sold (02:30 UTC on the 6th).
        #expect(read.fillCount == before && before == 10 && total > 80, "\(read.fillCount) of \(total)")
        let week = try await AnalyticsCache.fills(f.pool, user: bo, period: .week, containing: AnalyticsDay("2024-03-05")!)
        let weekBefore = try conn.query("SELECT count(*)::int AS n FROM trades WHERE traded_at < '2024-03-12T00:00:00Z'").rows[0].decode("n", as: Int.self)
        #expect(week.fillCount == weekBefore && weekBefore < total, "\(week.fillCount) of \(total)")
        await f.close()
    }

    /// 20:00 UTC on 10 March is already the 11th in India: an NSE trader's today; a US trader's
    /// today at 02:00 UTC on the 11th is still the 10th in New York; without fills, the UTC date.
    @Test func todayIsTheDateInTheZoneOfTheUsersMainExchange() async throws {
        let f = try await StoreFixture()
        let india = try f.user("in", capital: "100000", currency: "INR")
        let kite = try f.account(india, broker: "kite")
        try f.fill(kite, "K1", "INFY", "NSE", "buy", qty: "1", price: "100", time: "2026-03-10T04:00:00Z")
        try f.fill(kite, "K2", "INFY", "NSE", "sell", qty: "1", price: "101", time: "2026-03-10T05:00:00Z")
        try f.fill(kite, "K3", "AAPL", "NASDAQ", "buy", qty: "1", price: "100", time: "2026-03-10T15:00:00Z")
        let us = try f.user("us")
        let alpaca = try f.account(us, broker: "alpaca")
        try f.fill(alpaca, "A1", "AAPL", "NASDAQ", "buy", qty: "1", price: "100", time: "2026-03-09T15:00:00Z")
        let idle = try f.user("idle")
        let cache = AnalyticsCache(pool: f.pool, redis: f.redis)
        func at(_ iso: String) -> Date { Date(timeIntervalSince1970: Double(StoreFixture.micros(iso)) / 1e6) }

        #expect(try await cache.today(user: india, now: at("2026-03-10T20:00:00Z")).description == "2026-03-11")
        #expect(try await cache.today(user: us, now: at("2026-03-11T02:00:00Z")).description == "2026-03-10")
        #expect(try await cache.today(user: idle, now: at("2026-03-10T20:00:00Z")).description == "2026-03-10")
        let shown = try await cache.show(user: india, period: .day, now: at("2026-03-10T20:00:00Z"))
        #expect(shown.periodStart == "2026-03-11")
        for user in [india, us, idle] { _ = try? await f.redis.send("DEL", AnalyticsCache.key(user, .day)) }
        await f.close()
    }
}
