import Foundation
import Testing
import TestSupport
import TMCore
import TMPortfolio
import TMPostgres

/// `portfolio_snapshots`: one row per account (and currency) per day, however often the day is run.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SnapshotTests {
    struct Row: Equatable {
        var currency: String, cash: Decimal, positions: Decimal, realized: Decimal, unrealized: Decimal, daily: Decimal, complete: Bool, fallback: Int
    }

    static func rows(_ f: PortfolioFixture, _ account: UUID) throws -> [Row] {
        let conn = try f.connect()
        defer { conn.close() }
        return try conn.query("""
            SELECT currency, cash, positions_value, realized_pnl, unrealized_pnl, daily_pnl, daily_pnl_complete, fallback_priced
            FROM portfolio_snapshots WHERE account_id = \(account) AND snapshot_date = '2026-12-05' ORDER BY id
            """).rows.map {
            Row(currency: try $0.decode("currency"), cash: try $0.decode("cash"), positions: try $0.decode("positions_value"),
                realized: try $0.decode("realized_pnl"), unrealized: try $0.decode("unrealized_pnl"), daily: try $0.decode("daily_pnl"),
                complete: try $0.decode("daily_pnl_complete"), fallback: try $0.decode("fallback_priced"))
        }
    }

    @Test func aDayIsWrittenOncePerAccountAndARerunUpdatesIt() async throws {
        let f = try await PortfolioFixture()
        let infy = f.symbol("INFY")
        let spy = f.symbol("SPY")
        let user = try f.user("snap")
        let other = try f.user("other")
        let kite = try f.account(user, broker: "kite", label: "main")
        let alpaca = try f.account(user, broker: "alpaca", label: "us")
        let second = try f.account(other, broker: "upstox", label: "main")
        try f.instrument(infy, "NSE", currency: "INR")
        try f.instrument(spy, "NYSE", currency: "USD")
        try f.position(kite, infy, "NSE", quantity: 10, average: 100, realized: 3)
        try f.position(alpaca, spy, "NYSE", quantity: -2, average: 500)
        try f.funds(kite, segment: "equity", currency: "INR", available: 0, cash: 1000)
        try f.funds(alpaca, currency: "USD", available: 0, cash: 2000)
        try f.funds(second, segment: "equity", currency: "INR", available: 300)
        try await f.price(infy, "NSE", 110, previousClose: 105)
        let valuer = f.valuer()

        let first = try await valuer.snapshot()
        #expect(first.rows == 3 && first.report.failed.isEmpty && Set(first.report.revalued) == [user, other])
        #expect(try Self.rows(f, kite) == [Row(currency: "INR", cash: 1000, positions: 1100, realized: 3, unrealized: 100, daily: 50, complete: true, fallback: 0)])
        #expect(try Self.rows(f, alpaca) == [Row(currency: "USD", cash: 2000, positions: -1000, realized: 0, unrealized: 0, daily: 0, complete: false, fallback: 1)])
        #expect(try await f.cached(user) != nil, "today's snapshot refreshes the live value too")

        // Later that day: the cash moved and SPY got a price. The rerun updates the rows in place.
        try f.funds(kite, segment: "equity", currency: "INR", available: 0, cash: 1200)
        try await f.price(spy, "NYSE", 490, previousClose: 495)
        f.clock.withLock { $0 = PortfolioFixture.noon.addingTimeInterval(3600) }
        _ = try await valuer.snapshot(day: "2026-12-05")
        #expect(try Self.rows(f, kite).map(\.cash) == [1200])
        #expect(try Self.rows(f, alpaca) == [Row(currency: "USD", cash: 2000, positions: -980, realized: 0, unrealized: 20, daily: 10, complete: true, fallback: 0)])
        // Counted, not trusted to the key: one row per account for the day, three in all.
        let perAccount = try f.count("""
            SELECT count(*)::int FROM (SELECT account_id FROM portfolio_snapshots WHERE snapshot_date = '2026-12-05'
                                       GROUP BY account_id HAVING count(*) > 1) duplicated
            """)
        #expect(perAccount == 0)
        #expect(try f.count("SELECT count(*)::int FROM portfolio_snapshots") == 3)

        // A run computed before the rows it would replace (a slow, older run) changes nothing.
        try f.funds(kite, segment: "equity", currency: "INR", available: 0, cash: 1)
        f.clock.withLock { $0 = PortfolioFixture.noon.addingTimeInterval(1800) }
        _ = try await valuer.snapshot(day: "2026-12-05")
        #expect(try Self.rows(f, kite).map(\.cash) == [1200])
        await f.cleanUp()
    }

    @Test func aDayNotBegunOrNotADayIsRefused() async throws {
        let f = try await PortfolioFixture()
        await #expect(throws: PortfolioError.futureDate("2026-12-06")) { try await f.valuer().snapshot(day: "2026-12-06") }
        await #expect(throws: PortfolioError.badDate("2026-13-01")) { try await f.valuer().snapshot(day: "2026-13-01") }
        #expect(try f.count("SELECT count(*)::int FROM portfolio_snapshots") == 0)
        await f.cleanUp()
    }
}
