import Foundation
import Testing
import TestSupport
import TMCore
import TMOrders
import TMRisk

/// `tm orders halt|resume` against a running resident worker that reads nothing per message: the
/// command returns once the worker's watch confirmed it applied the change, so the next message
/// meets it; a live watch that does not confirm is waited for (bounded) and named.
@Suite(.serialized) struct WorkerControlsWatchTests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func run(_ h: PlacementHarness, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = h.database.url
        environment["USER"] = "alice"
        return try await runProcess(tm, ["orders"] + arguments, environment: environment)
    }

    /// The JSON the command printed (after any warning lines).
    func printed(_ output: String) throws -> JSONValue {
        try JSONValue.parse(String(output[try #require(output.firstIndex(of: "{"))...]))
    }

    @Test func aHaltFromTheCommandHoldsForTheNextMessageWithNoReadPerMessage() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        var settings = OrderWorker.Settings()
        settings.refreshInterval = .seconds(3600)  // the limits poll cannot apply it: only the watch can
        let worker = try await RunningWorker(h, settings: settings)
        defer { worker.stop() }
        try await worker.waitForEveryShard()
        let kite = try #require(h.accounts[.kite])
        try await worker.enqueue(h.place(.kite, key: "before-halt"), key: "before-halt")
        try await eventually("the first order to be accepted", within: .seconds(60)) { (try? h.state(key: "before-halt")) == "ACCEPTED" }
        #expect((worker.writesAtOnce ?? 0) >= 2, "a lone order's two writes run at once in the resident worker (its default)")

        let halted = try await run(h, ["halt", "--reason", "test", "--json", "--confirm-within", "60"])
        #expect(halted.status == 0, "\(halted.output)")
        let report = try printed(halted.output)
        #expect(report["workers_confirmed"]?.arrayValue?.contains(.string(worker.identity)) == true, "\(halted.output)")
        #expect(report["workers_unconfirmed"]?.arrayValue?.contains(.string(worker.identity)) == false, "\(halted.output)")
        // Applied in the worker's memory by the time the command returned.
        #expect(worker.state.risk.limits(account: kite)?.tradingState == .halted)
        try await worker.enqueue(h.place(.kite, key: "after-halt", price: "1398"), key: "after-halt")
        try await eventually("the order to be refused", within: .seconds(60)) { (try? h.state(key: "after-halt")) == "RISK_REJECTED" }
        #expect(try h.row(key: "after-halt").decode("reject_code", as: String?.self) == "TRADING_HALTED")

        let resumed = try await run(h, ["resume", "--confirm-within", "60"])
        #expect(resumed.status == 0 && resumed.output.contains("Every running order-worker applied it"), "\(resumed.output)")
        #expect(worker.state.risk.limits(account: kite)?.tradingState == .active)
        try await worker.enqueue(h.place(.kite, key: "after-resume", price: "1399"), key: "after-resume")
        try await eventually("the order after the resume to be accepted", within: .seconds(60)) {
            let state = try? h.state(key: "after-resume")
            return state != nil && state != "SUBMITTING"
        }
        #expect(try h.state(key: "after-resume") == "ACCEPTED")
    }

    @Test func theCommandWaitsForALiveWatchAndNamesTheOneThatDidNotConfirm() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let stuck = "stuck-worker-\(UUID().uuidString.prefix(8))"
        let gone = "gone-worker-\(UUID().uuidString.prefix(8))"
        // A live watch that applies nothing (a stuck worker), and one silent for long (a dead worker).
        try await TradingControlsWatch.confirm(h.redis, watcher: stuck, applied: 0)
        let redisNow = try #require(try await h.redis.send("TIME").array?.first?.int)
        try await h.redis.send("HSET", TradingControls.appliedKey, gone, "0 \((redisNow - 600) * 1000)")  // silent for 10 minutes

        let halted = try await run(h, ["halt", "--json", "--confirm-within", "0.2"])
        #expect(halted.status == 0, "\(halted.output)")
        #expect(halted.output.contains("did not confirm") && halted.output.contains(stuck), "\(halted.output)")
        let report = try printed(halted.output)
        #expect(report["trading_state"] == "halted")
        #expect(report["workers_unconfirmed"]?.arrayValue?.contains(.string(stuck)) == true, "\(halted.output)")
        #expect(report["workers_unconfirmed"]?.arrayValue?.contains(.string(gone)) == false, "a dead worker is not waited for: \(halted.output)")
        let state: String = try h.db.query("SELECT trading_state FROM platform_trading_controls").rows[0].decode("trading_state")
        #expect(state == "halted", "committed whatever the workers said")

        // The wait ends as soon as the watch confirms the version.
        let version = try await TradingControls.announce(h.redis)
        let waiting = Task { try await TradingControlsWatch.awaitApplied(h.redis, version: version, timeout: .seconds(60)) }
        try await TradingControlsWatch.confirm(h.redis, watcher: stuck, applied: version)
        let confirmations = try await waiting.value
        #expect(confirmations.confirmed.contains(stuck) && !confirmations.unconfirmed.contains(stuck), "\(confirmations)")
        try await h.redis.send("HDEL", TradingControls.appliedKey, stuck, gone)
    }
}
