import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMAnalytics

/// `tm analytics show`: the figures per currency (win rate a percent, undefined "—", money exact),
/// `--json` the engine's report JSON, an empty period as zeros, bad input naming the field.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ShowTests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func environment(_ f: RefreshFixture) throws -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["TM_ENV_FILE"] = "/nonexistent"
        env["TM_REDIS_URL"] = try TestServers.redisURL
        env["TM_DATABASE_URL"] = f.db.url
        return env
    }

    /// A win (+99 after fees) and a loss (−50) in INR at Kite; one open buy in USD at Alpaca.
    func trader(_ f: RefreshFixture) async throws -> (user: UUID, email: String) {
        let user = try await f.user("shown", capital: "100000", currency: "INR")
        let kite = try await f.account(user)
        let alpaca = try await f.account(user, broker: "alpaca", label: "us")
        try await f.fill(kite, id: "B1", side: "buy", quantity: "10", price: "100", at: 0)
        try await f.fill(kite, id: "S1", side: "sell", quantity: "10", price: "110", fee: "1", at: 600)
        try await f.fill(kite, id: "B2", side: "buy", quantity: "5", price: "50", symbol: "TCS", at: 1200)
        try await f.fill(kite, id: "S2", side: "sell", quantity: "5", price: "40", symbol: "TCS", at: 1800)
        try await f.fill(alpaca, id: "U1", side: "buy", quantity: "2", price: "187.125", symbol: "AAPL", exchange: "NASDAQ", at: 7200)
        try await f.recompute([user])
        return (user, "shown-\(f.suffix)@test.local")
    }

    @Test func showPrintsTheFiguresPerCurrencyAndTheReportJSON() async throws {
        let f = try await RefreshFixture()
        let (user, email) = try await trader(f)
        let env = try environment(f)

        let human = try await runProcess(tm, ["analytics", "show", "--user", email], environment: env)
        #expect(human.status == 0, "\(human.output)")
        #expect(human.output.contains("== INR") && human.output.contains("== USD"), "\(human.output)")
        let inr = human.output.components(separatedBy: "== USD")[0]
        #expect(inr.range(of: #"realized pnl\s+49(\s|$)"#, options: .regularExpression) != nil, "99 − 50, exact: \(inr)")
        #expect(inr.range(of: #"win rate\s+50\.00%"#, options: .regularExpression) != nil, "\(inr)")
        let usd = human.output.components(separatedBy: "== USD")[1]
        #expect(usd.range(of: #"win rate\s+—"#, options: .regularExpression) != nil, "no closes: undefined: \(usd)")
        #expect(usd.range(of: #"profit factor\s+—"#, options: .regularExpression) != nil, "\(usd)")

        let json = try await runProcess(tm, ["analytics", "show", "--user", user.uuidString, "--period", "all", "--json"], environment: env)
        #expect(json.status == 0, "\(json.output)")
        let reports = try #require(try JSONValue.parse(String(json.output.drop { $0 != "[" })).arrayValue)
        #expect(reports.map { $0["currency"]?.stringValue } == ["INR", "USD"])
        #expect(reports[0]["realized_pnl"]?.stringValue.flatMap(DecimalText.parse) == 49)
        #expect(reports[0]["win_rate"]?.text == "0.5")
        #expect(reports[0]["wins"]?.text == "1" && reports[0]["losses"]?.text == "1")
        #expect(reports[1]["win_rate"] == .null && reports[1]["profit_factor"] == .null)
        await f.cleanUp()
    }

    @Test func aPeriodWithoutARowShowsZerosAndUndefined() async throws {
        let f = try await RefreshFixture()
        let (_, email) = try await trader(f)
        let env = try environment(f)
        let json = try await runProcess(tm, ["analytics", "show", "--user", email, "--period", "week", "--at", "2020-01-08", "--json"], environment: env)
        #expect(json.status == 0, "\(json.output)")
        let reports = try #require(try JSONValue.parse(String(json.output.drop { $0 != "[" })).arrayValue)
        #expect(reports.map { $0["currency"]?.stringValue } == ["INR", "USD"])
        for report in reports {
            #expect(report["period_start"]?.stringValue == "2020-01-06", "the ISO week's Monday")
            #expect(report["realized_pnl"]?.stringValue.flatMap(DecimalText.parse) == 0 && report["closing_fills"]?.text == "0")
            #expect(report["win_rate"] == .null && report["sharpe"] == .null)
        }
        let human = try await runProcess(tm, ["analytics", "show", "--user", email, "--period", "day", "--at", "2020-01-08"], environment: env)
        #expect(human.status == 0 && human.output.contains("day from 2020-01-08"), "\(human.output)")
        #expect(human.output.range(of: #"win rate\s+—"#, options: .regularExpression) != nil, "\(human.output)")
        await f.cleanUp()
    }

    @Test func badInputNamesTheFieldAndTheReason() async throws {
        let f = try await RefreshFixture()
        let (_, email) = try await trader(f)
        let env = try environment(f)
        for (arguments, field) in [(["--period", "fortnight"], "period"), (["--at", "2026-02-30"], "--at"), (["--at", "yesterday"], "--at")] {
            let run = try await runProcess(tm, ["analytics", "show", "--user", email] + arguments, environment: env)
            #expect(run.status != 0 && run.output.contains(field), "\(arguments): \(run.output)")
        }
        let nobody = try await runProcess(tm, ["analytics", "show", "--user", "nobody-\(f.suffix)@test.local"], environment: env)
        #expect(nobody.status != 0 && nobody.output.contains("--user") && nobody.output.contains("nobody-"), "\(nobody.output)")
        await f.cleanUp()
    }
}
