import Foundation
import Testing
import TestSupport
import TMCore
import TMOrders
import TMQueue
import TMRedis

/// `tm orders halt|reduce|resume` as an operator runs it: platform-wide and per account, recorded
/// with who, when and why; bad input refused naming the field, changing nothing.
@Suite(.serialized) struct TradingStateCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func run(_ h: RiskHarness, _ arguments: [String], queuesDirectory: String? = nil) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        if let queuesDirectory { environment["TM_QUEUES_DIR"] = queuesDirectory }
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = h.database.url
        environment["USER"] = "alice"
        return try await runProcess(tm, ["orders"] + arguments, environment: environment)
    }

    @Test func haltReduceAndResumeSetTheStateWithWhoWhenAndWhy() async throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        let halted = try await run(h, ["halt", "--reason", "exchange outage", "--json"])
        #expect(halted.status == 0, "\(halted.output)")
        let change = try JSONValue.parse(halted.output)
        #expect(change["scope"] == "global" && change["trading_state"] == "halted" && change["previous_state"] == "active")
        #expect(change["by"] == "operator:alice" && change["reason"] == "exchange outage" && change["at"]?.stringValue != nil)
        let platform = try h.db.query("SELECT trading_state, state_by FROM platform_trading_controls").rows[0]
        #expect(try platform.decode("trading_state", as: String.self) == "halted" && platform.decode("state_by", as: String.self) == "operator:alice")

        let reduced = try await run(h, ["reduce", "--account", "main"])
        #expect(reduced.status == 0 && reduced.output.contains("trading REDUCING for account \(h.main.uuidString.lowercased()) (was ACTIVE)"),
                "\(reduced.output)")
        #expect(reduced.output.contains("no reason given"))
        let account = try h.db.query("SELECT trading_state, kill_switch, state_by FROM trading_limits WHERE account_id = \(h.main)").rows[0]
        #expect(try account.decode("trading_state", as: String.self) == "reduce_only" && !account.decode("kill_switch", as: Bool.self))

        let resumed = try await run(h, ["resume", "--reason", "all clear"])
        #expect(resumed.status == 0 && resumed.output.contains("trading ACTIVE platform-wide (was HALTED)"), "\(resumed.output)")
        let actions = try h.db.query("SELECT action FROM audit_log ORDER BY id").rows.map { try $0.decode("action", as: String.self) }
        #expect(actions == ["trading.halt", "trading.reduce", "trading.resume"])
    }

    @Test func badInputIsRefusedNamingTheFieldAndChangesNothing() async throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        let unknown = try await run(h, ["halt", "--account", "nosuch"])
        #expect(unknown.status == 1 && unknown.output.contains("account_id: no account with id or label 'nosuch'"), "\(unknown.output)")
        let missing = try await run(h, ["halt", "--account", UUID().uuidString])
        #expect(missing.status == 1 && missing.output.contains("account_id: no account"), "\(missing.output)")
        let empty = try await run(h, ["reduce", "--reason", "  "])
        #expect(empty.status == 1 && empty.output.contains("reason: must not be empty"), "\(empty.output)")
        let long = try await run(h, ["halt", "--reason", String(repeating: "x", count: 501)])
        #expect(long.status == 1 && long.output.contains("reason: is 501 characters; at most 500"), "\(long.output)")
        #expect(try h.db.query("SELECT trading_state FROM platform_trading_controls").rows[0].decode("trading_state", as: String.self) == "active")
        #expect(try h.db.query("SELECT count(*) AS n FROM trading_limits").rows[0].decode("n", as: Int.self) == 0)
        #expect(try h.db.query("SELECT count(*) AS n FROM audit_log").rows[0].decode("n", as: Int.self) == 0)
    }

    /// Without a `Queues` folder (an operator's laptop) the command raises the shards the workers
    /// recorded; with no record either it says what is missing, after what it committed.
    @Test func withoutAQueuesFolderTheRecordedShardCountIsUsed() async throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        let redis = try await RedisClient(configuration: try RedisConfiguration(url: try TestServers.redisURL))
        let record = TradingControls.shardsKey(TradingControls.ordersQueue)
        let saved = try await redis.send("GET", record).string
        defer {
            // The recorded count is global: put back as it was.
            Task {
                if let saved { _ = try? await redis.send("SET", record, saved) } else { _ = try? await redis.send("DEL", record) }
                redis.close()
            }
        }
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("no-queues")).path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }

        try await redis.send("SET", record, 3)
        let halted = try await run(h, ["halt", "--reason", "laptop"], queuesDirectory: empty)
        #expect(halted.status == 0, "\(halted.output)")
        let announced = try #require(try await TradingControls.announcedVersion(redis))
        for shard in 0..<3 {
            #expect(try await redis.send("GET", QueueKeys(queue: TradingControls.ordersQueue, shard: shard).watched).string == announced)
        }

        try await redis.send("DEL", record)
        let resumed = try await run(h, ["resume"], queuesDirectory: empty)
        #expect(resumed.status == 3 && resumed.output.contains("shard count is unknown") && resumed.output.contains("committed"), "\(resumed.output)")
        #expect(try h.db.query("SELECT trading_state FROM platform_trading_controls").rows[0].decode("trading_state", as: String.self) == "active")
    }
}
