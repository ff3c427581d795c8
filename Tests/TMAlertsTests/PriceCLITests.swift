import Foundation
import Testing
import TestSupport
import TMAlerts
import TMCore

/// `tm alerts add|list|cancel` as an operator runs them, and a running evaluator following them.
@Suite(.serialized) struct PriceCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func run(_ h: PriceHarness, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = h.database.url
        return try await runProcess(tm, ["alerts"] + arguments, environment: environment)
    }

    func listed(_ h: PriceHarness, _ symbol: String) throws {
        try h.db.execute("INSERT INTO instruments (exchange, symbol, tick_size) VALUES (\(h.exchange), \(symbol), 0.05)")
    }

    @Test func addListAndCancelEndToEndWithRefusals() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let symbol = h.symbol("CLI")
        try listed(h, symbol)
        let added = try await run(h, ["add", "--user", h.email.uppercased(), "--symbol", symbol, "--above", "1500.5", "--repeat", "--cooldown", "10m",
                                      "--expires-in", "1d", "--note", "take profit", "--json"])
        #expect(added.status == 0, "\(added.output)")
        let alert = try JSONValue.parse(added.output)
        #expect(alert["condition"] == "above" && alert["threshold"] == "1500.5" && alert["exchange"] == .string(h.exchange) && alert["state"] == "active")
        #expect(alert["repeat"] == true && alert["cooldown"] == "10m" && alert["note"] == "take profit" && alert["expires_at"]?.stringValue != nil)
        let id = try #require(alert["id"]?.stringValue)

        for (flag, value, condition) in [("--below", "10", "below"), ("--change-percent", "2.5", "change_percent"), ("--cross-up", "20", "cross_up"),
                                         ("--cross-down", "5", "cross_down")] {
            let other = try await run(h, ["add", "--user", h.user.uuidString, "--symbol", symbol, "--exchange", h.exchange, flag, value,
                                          "--expires", "2099-12-31T00:00:00Z"])
            #expect(other.status == 0 && other.output.contains("\(symbol) (\(h.exchange)) \(condition) \(value)"), "\(other.output)")
        }
        let list = try await run(h, ["list", "--user", h.email, "--state", "active", "--json"])
        #expect(list.status == 0, "\(list.output)")
        let alerts = try JSONValue.parse(list.output).arrayValue ?? []
        #expect(Set(alerts.compactMap { $0["condition"]?.stringValue }) == ["above", "below", "change_percent", "cross_up", "cross_down"])
        let text = try await run(h, ["list"])
        #expect(text.status == 0 && text.output.contains(id) && text.output.contains("10m"), "\(text.output)")

        let cancelled = try await run(h, ["cancel", id])
        #expect(cancelled.status == 0 && cancelled.output.contains("cancelled alert \(id)"), "\(cancelled.output)")
        #expect(try h.state(UUID(uuidString: id)!) == "cancelled")
        let twice = try await run(h, ["cancel", id])
        #expect(twice.status == 1 && twice.output.contains("id: alert \(id) is cancelled: nothing to cancel"), "\(twice.output)")

        let before = try h.db.query("SELECT count(*)::int AS n FROM price_alerts").rows[0].decode("n", as: Int.self)
        let refusals: [([String], String)] = [
            (["--above=-5"], "threshold: must be a positive decimal"),
            (["--above", "0"], "threshold: must be a positive decimal"),
            (["--above", "abc"], "threshold: 'abc' is not a decimal"),
            (["--above", "1.0000000001"], "threshold: '1.0000000001' is not a decimal with at most nine places"),
            (["--above", "5", "--below", "4"], "condition: give exactly one of"),
            ([], "condition: give exactly one of"),
            (["--above", "5", "--repeat"], "cooldown: --repeat needs --cooldown"),
            (["--above", "5", "--cooldown", "5m"], "cooldown: only with --repeat"),
            (["--above", "5", "--expires", "2001-01-01T00:00:00Z"], "expires: 2001-01-01T00:00:00Z is not in the future"),
            (["--above", "5", "--expires", "tomorrow"], "expires: 'tomorrow' is not an ISO 8601 time"),
        ]
        for (extra, message) in refusals {
            let refused = try await run(h, ["add", "--user", h.email, "--symbol", symbol] + extra)
            #expect(refused.status == 1 && refused.output.contains(message) && refused.output.contains("nothing was changed"), "\(extra): \(refused.output)")
        }
        let unknownUser = try await run(h, ["add", "--user", "nobody@example.com", "--symbol", symbol, "--above", "5"])
        #expect(unknownUser.status == 1 && unknownUser.output.contains("user: no user with id or email 'nobody@example.com'"), "\(unknownUser.output)")
        let unknownSymbol = try await run(h, ["add", "--user", h.email, "--symbol", "NOSUCH", "--above", "5"])
        #expect(unknownSymbol.status == 1 && unknownSymbol.output.contains("symbol: unknown symbol 'NOSUCH'"), "\(unknownSymbol.output)")
        let wrongExchange = try await run(h, ["add", "--user", h.email, "--symbol", symbol, "--exchange", "BSE", "--above", "5"])
        #expect(wrongExchange.status == 1 && wrongExchange.output.contains("symbol: unknown instrument '\(symbol)' on BSE"), "\(wrongExchange.output)")
        let badID = try await run(h, ["cancel", "not-an-id"])
        #expect(badID.status == 1 && badID.output.contains("id: 'not-an-id' is not an alert id"), "\(badID.output)")
        let badState = try await run(h, ["list", "--state", "sleeping"])
        #expect(badState.status == 1 && badState.output.contains("state: 'sleeping' is not one of"), "\(badState.output)")
        #expect(try h.db.query("SELECT count(*)::int AS n FROM price_alerts").rows[0].decode("n", as: Int.self) == before)
    }

    /// A running evaluator sees an alert added or cancelled with `tm alerts` from its next batch:
    /// the command bumps the version, the evaluator reloads the changed rows.
    @Test func aRunningEvaluatorSeesAddAndCancelAfterTheVersionBump() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let symbol = h.symbol("VER")
        try listed(h, symbol)
        let evaluator = h.evaluator(sharedVersion: true)
        try await evaluator.loadAll()
        #expect(evaluator.alertCount == 0)
        let added = try await run(h, ["add", "--user", h.email, "--symbol", symbol, "--above", "100", "--json"])
        #expect(added.status == 0, "\(added.output)")
        let id = try #require(JSONValue.parse(added.output)["id"]?.stringValue.flatMap(UUID.init(uuidString:)))
        #expect(try await evaluator.evaluate([h.tick(symbol, "100")]).fired == 1)
        #expect(try h.fireCount(id) == 1)

        let second = try await run(h, ["add", "--user", h.email, "--symbol", symbol, "--below", "50", "--json"])
        let other = try #require(JSONValue.parse(second.output)["id"]?.stringValue.flatMap(UUID.init(uuidString:)))
        _ = try await evaluator.evaluate([h.tick(symbol, "60")])
        #expect(evaluator.alertCount == 1)
        let cancelled = try await run(h, ["cancel", other.uuidString])
        #expect(cancelled.status == 0, "\(cancelled.output)")
        #expect(try await evaluator.evaluate([h.tick(symbol, "40")]).hit == 0, "the cancelled alert left the index")
        #expect(evaluator.alertCount == 0)
        #expect(try h.fireCount(other) == 0)
    }
}
