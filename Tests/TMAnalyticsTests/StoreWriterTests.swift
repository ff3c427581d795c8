import Foundation
import Testing
import TestSupport
import TMAnalytics
import TMCore
import TMPostgres
import TMQueue
import TMRedis

@Suite struct StoreWriterTests {
    static let json: @Sendable (AnalyticsReport) -> JSONValue = { r in
        JSONValue.object([("period", .string(r.period.rawValue)), ("realized", .string(r.realizedPnL.description)),
                          ("note", .string("tab\tnew\nline \\ \"quoted\" \u{1} é")), ("n", .number("-1.5e3")),
                          ("list", .array([.null, .bool(true), .bool(false), .object([])]))])
    }

    static func report(_ user: UUID, _ period: AnalyticsPeriod, _ start: String, realized: FixedDecimal = 10, currency: String = "INR") -> AnalyticsReport {
        var r = AnalyticsReport(userID: user, currency: currency, period: period, periodStart: start)
        r.realizedPnL = realized
        r.netPnL = realized
        r.fees = FixedDecimal("0.5")!
        r.grossProfit = realized > 0 ? realized : 0
        r.grossLoss = realized < 0 ? realized : 0
        r.closingFills = 2
        r.wins = 1
        r.losses = 1
        r.winRate = 0.5
        r.profitFactor = 1.25
        r.sharpe = .nan  // not finite: stored as NULL
        r.fillsCount = 4
        r.tradingDays = 1
        return r
    }

    struct Row: Equatable { var currency, period, start, realized: String; var run: UUID? }

    func rows(_ f: StoreFixture, _ user: UUID) throws -> [Row] {
        let conn = try f.connect()
        defer { conn.close() }
        return try conn.query("""
            SELECT currency, period, period_start::text AS start, realized_pnl::text AS realized, run_id FROM analytics
            WHERE user_id = \(user) ORDER BY currency, period, period_start
            """).rows.map {
            Row(currency: try $0.decode("currency"), period: try $0.decode("period"), start: try $0.decode("start"),
                realized: try $0.decode("realized"), run: try $0.decode("run_id"))
        }
    }

    @Test(arguments: ReportWriter.Strategy.allCases)
    func aUsersRowsAreReplacedNotDuplicatedAndStalePeriodsRemoved(strategy: ReportWriter.Strategy) async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana")
        let bob = try f.user("bob")
        let writer = ReportWriter(strategy: strategy, json: Self.json)
        let run1 = UUID(), run2 = UUID()
        let first = [Self.report(ana, .day, "2024-01-02"), Self.report(ana, .day, "2024-01-03"), Self.report(ana, .all, "1970-01-01"),
                     Self.report(ana, .all, "1970-01-01", currency: "USD"), Self.report(bob, .all, "1970-01-01", realized: 7)]
        let written = try await f.pool.withConnection { try writer.replace(users: [ana, bob], reports: first, runID: run1, on: $0) }
        #expect(written == 5)
        #expect(try rows(f, ana).count == 4)

        // Ana again: 2024-01-02 and her USD row are no longer reported, 2024-01-03 changed. Bob is not in this chunk.
        let second = [Self.report(ana, .day, "2024-01-03", realized: -3), Self.report(ana, .all, "1970-01-01", realized: -3)]
        try await f.pool.withConnection { try writer.replace(users: [ana], reports: second, runID: run2, on: $0) }
        #expect(try rows(f, ana) == [
            Row(currency: "INR", period: "all", start: "1970-01-01", realized: "-3", run: run2),
            Row(currency: "INR", period: "day", start: "2024-01-03", realized: "-3", run: run2),
        ])
        #expect(try rows(f, bob) == [Row(currency: "INR", period: "all", start: "1970-01-01", realized: "7", run: run1)])

        // A user with nothing to report (no fills any more) keeps no rows; a refresh has no run id.
        try await f.pool.withConnection { try writer.replace(users: [ana, bob], reports: [Self.report(bob, .all, "1970-01-01", realized: 8)], runID: nil, on: $0) }
        #expect(try rows(f, ana).isEmpty)
        #expect(try rows(f, bob) == [Row(currency: "INR", period: "all", start: "1970-01-01", realized: "8", run: nil)])
        await f.close()
    }

    @Test func figuresAndTheReportJSONArriveIntactAndUndefinedIsNull() async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana")
        var report = Self.report(ana, .all, "1970-01-01", realized: FixedDecimal("1234.567891234")!)
        report.unrealizedPnL = FixedDecimal("-0.000000001")!
        report.maxDrawdown = -0.125
        report.calmar = .infinity
        let written = report
        try await f.pool.withConnection { try ReportWriter(json: Self.json).replace(users: [ana], reports: [written], runID: nil, on: $0) }
        let conn = try f.connect()
        defer { conn.close() }
        let row = try conn.query("""
            SELECT realized_pnl::text AS realized, unrealized_pnl::text AS unrealized, total_pnl, win_rate::text AS win_rate,
                   profit_factor::text AS pf, sharpe, calmar, max_drawdown::text AS dd, report->>'note' AS note, report->>'realized' AS jr, report::jsonb = \(Self.json(report).text)::jsonb AS same
            FROM analytics WHERE user_id = \(ana)
            """).rows[0]
        #expect(try row.decode("realized", as: String.self) == "1234.567891234")
        #expect(try row.decode("unrealized", as: String.self) == "-0.000000001")
        #expect(try row.isNull("total_pnl"))
        #expect(try row.decode("win_rate", as: String.self) == "0.5")
        #expect(try row.decode("pf", as: String.self) == "1.25")
        #expect(try row.isNull("sharpe"))
        #expect(try row.isNull("calmar"))
        #expect(try row.decode("dd", as: String.self) == "-0.125")
        #expect(try row.decode("note", as: String.self) == "tab\tnew\nline \\ \"quoted\" \u{1} é")
        #expect(try row.decode("same", as: Bool.self))
        #expect(try row.decode("jr", as: String.self) == "1234.567891234")
        await f.close()
    }

    @Test(arguments: ReportWriter.Strategy.allCases)
    func aFailedReplaceLeavesThePreviousRows(strategy: ReportWriter.Strategy) async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana")
        let writer = ReportWriter(strategy: strategy, json: Self.json)
        try await f.pool.withConnection { try writer.replace(users: [ana], reports: [Self.report(ana, .all, "1970-01-01")], runID: nil, on: $0) }
        var bad = Self.report(ana, .day, "2024-01-05")
        bad.winRate = 2  // violates the CHECK: the whole replace fails
        let reports = [Self.report(ana, .day, "2024-01-04"), bad]
        await #expect(throws: PostgresError.self) {
            try await f.pool.withConnection { try writer.replace(users: [ana], reports: reports, runID: nil, on: $0) }
        }
        #expect(try rows(f, ana) == [Row(currency: "INR", period: "all", start: "1970-01-01", realized: "10", run: nil)])
        await f.close()
    }

    @Test func aReplaceWaitsForAnotherReplaceOfTheSameUser() async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana")
        let writer = ReportWriter(json: Self.json)
        // Hold ana's lock as a concurrent replace (the nightly chunk or a refresh) would.
        let holder = try f.connect()
        defer { holder.close() }
        try holder.simpleQuery("BEGIN")
        try holder.execute("SELECT 1 FROM users WHERE id = \(ana) FOR NO KEY UPDATE")
        let replace = Task {
            try await f.pool.withConnection { try writer.replace(users: [ana], reports: [Self.report(ana, .all, "1970-01-01")], runID: nil, on: $0) }
        }
        try await eventually("the replace waits for the user's lock") {
            let conn = try f.connect()
            defer { conn.close() }
            return try conn.query("""
                SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                """).rows[0].decode("n", as: Int.self) == 1
        }
        try holder.simpleQuery("COMMIT")
        #expect(try await replace.value == 1)
        #expect(try rows(f, ana).count == 1)
        await f.close()
    }

    @Test func theUsersCachedAnalyticsAreDroppedForEveryPeriodAndNoOneElses() async throws {
        let f = try await StoreFixture()
        let ana = UUID(), bob = UUID()
        for user in [ana, bob] {
            for period in AnalyticsPeriod.allCases {
                _ = try await f.redis.send("SET", CacheKeys.analytics(user: user.uuidString.lowercased(), period: period.rawValue), "{}")
            }
        }
        try await ReportWriter.invalidateCache(users: [ana], redis: f.redis)
        for period in AnalyticsPeriod.allCases {
            #expect(try await f.redis.send("EXISTS", CacheKeys.analytics(user: ana.uuidString.lowercased(), period: period.rawValue)).int == 0)
            #expect(try await f.redis.send("EXISTS", CacheKeys.analytics(user: bob.uuidString.lowercased(), period: period.rawValue)).int == 1)
        }
        for period in AnalyticsPeriod.allCases {
            _ = try await f.redis.send("DEL", CacheKeys.analytics(user: bob.uuidString.lowercased(), period: period.rawValue))
        }
        await f.close()
    }

    /// The production writer stores the engine's report JSON exactly as `AnalyticsEngine.jsonText`
    /// writes it (bytes straight into the COPY buffer), a backslash or quote in a name included.
    @Test func theEnginesReportJSONIsStoredAsWritten() async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana")
        var report = Self.report(ana, .all, "1970-01-01")
        report.sharpe = 1.5
        report.mostTradedSymbol = "A\\B\"C\tD"
        report.details.topSymbols = [.init(symbol: "X\\Y", realizedPnL: 12, trades: 1, fills: 2, winRate: 1)]
        let written = report
        try await f.pool.withConnection { try ReportWriter().replace(users: [ana], reports: [written], runID: nil, on: $0) }
        let conn = try f.connect()
        defer { conn.close() }
        let stored: String = try conn.query("SELECT report::text AS report FROM analytics WHERE user_id = \(ana)").rows[0].decode("report")
        #expect(stored == AnalyticsEngine.jsonText(report))
        #expect(try JSONValue.parse(stored) == AnalyticsEngine.json(report))
        await f.close()
    }

    /// `analytics` has no foreign key to `users` (migration 0022): the writer refuses a user who
    /// does not exist, and deleting a user deletes their rows.
    @Test(arguments: ReportWriter.Strategy.allCases)
    func rowsNeverOutliveTheirUser(strategy: ReportWriter.Strategy) async throws {
        let f = try await StoreFixture()
        let ana = try f.user("ana")
        let bob = try f.user("bob")
        let ghost = UUID()
        let writer = ReportWriter(strategy: strategy)
        await #expect(throws: PostgresError.self) {
            try await f.pool.withConnection {
                try writer.replace(users: [ana, ghost], reports: [Self.report(ana, .all, "1970-01-01"), Self.report(ghost, .all, "1970-01-01")], runID: nil, on: $0)
            }
        }
        #expect(try rows(f, ghost).isEmpty && rows(f, ana).isEmpty)

        _ = try await f.pool.withConnection {
            try writer.replace(users: [ana, bob], reports: [Self.report(ana, .day, "2024-01-02"), Self.report(ana, .all, "1970-01-01"),
                                                          Self.report(bob, .all, "1970-01-01")], runID: nil, on: $0)
        }
        let conn = try f.connect()
        defer { conn.close() }
        try conn.execute("DELETE FROM users WHERE id = \(ana)")
        #expect(try rows(f, ana).isEmpty)
        #expect(try rows(f, bob).count == 1)
        await f.close()
    }
}
