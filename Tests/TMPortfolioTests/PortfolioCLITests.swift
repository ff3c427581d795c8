import Foundation
import Testing
import TestSupport
import TMCore
import TMPortfolio

/// `tm portfolio` as an operator runs it: computed and stored the first time, from the cache the
/// next; the text table says where each price came from; `tm portfolio snapshot`.
@Suite(.serialized, .timeLimit(.minutes(2))) struct PortfolioCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func run(_ f: PortfolioFixture, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = f.db.url
        return try await runProcess(tm, ["portfolio"] + arguments, environment: environment)
    }

    @Test func portfolioShowsTotalsAndPositionsAndSnapshotWritesTheDay() async throws {
        let f = try await PortfolioFixture()
        f.clock.withLock { $0 = Date() }   // the CLI values at the real now
        let (infy, tcs) = (f.symbol("INFY"), f.symbol("TCS"))
        let user = try f.user("cli")
        let account = try f.account(user, broker: "kite", label: "main")
        try f.instrument(infy, "NSE", currency: "INR")
        try f.instrument(tcs, "NSE", currency: "INR")
        try f.position(account, infy, "NSE", quantity: 10, average: 100)
        try f.position(account, tcs, "NSE", quantity: -1, average: "3500.5".d)
        try f.funds(account, segment: "equity", currency: "INR", available: 0, cash: 1000)
        try await f.price(infy, "NSE", 110, previousClose: 105)

        let first = try await run(f, ["--user", f.email("cli"), "--json"])
        #expect(first.status == 0, "\(first.output)")
        let json = try JSONValue.parse(first.output)
        #expect(json["from_cache"] == .bool(false) && json["user_id"] == .string(user.uuidString.lowercased()))
        #expect(json["totals"]?.arrayValue?.first?["total_value"] == .string("-1400.5"), "1000 + 1100 - 3500.5")
        #expect(json["totals"]?.arrayValue?.first?["day_pnl"] == .string("50"))
        #expect(try await f.cached(user) != nil, "stored for the next reader")

        let text = try await run(f, ["--user", user.uuidString])
        #expect(text.status == 0, "\(text.output)")
        #expect(text.output.contains("from the cache") && text.output.contains("-1400.5"), "\(text.output)")
        let lines = text.output.split(separator: "\n")
        #expect(lines.contains { $0.contains(infy) && $0.contains("cache kite") && $0.contains("1100 INR") }, "\(text.output)")
        #expect(lines.contains { $0.contains(tcs) && $0.contains("average_price, stale") && $0.contains("-3500.5 INR") }, "\(text.output)")

        let nobody = try await run(f, ["--user", "nobody@test.local"])
        #expect(nobody.status != 0 && nobody.output.contains("no user 'nobody@test.local'"), "\(nobody.output)")

        let today = PortfolioRows.day(of: Date())
        let snapshot = try await run(f, ["snapshot", "--date", today])
        #expect(snapshot.status == 0 && snapshot.output.contains("snapshot \(today): 1 user(s), 1 row(s) written"), "\(snapshot.output)")
        #expect(try f.count("SELECT count(*)::int FROM portfolio_snapshots WHERE account_id = \(account) AND snapshot_date = \(today)::date") == 1)
        let future = try await run(f, ["snapshot", "--date", "2999-01-01"])
        #expect(future.status != 0 && future.output.contains("2999-01-01 has not begun yet"), "\(future.output)")
        await f.cleanUp()
    }
}
