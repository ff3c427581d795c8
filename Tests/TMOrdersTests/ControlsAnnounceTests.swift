import Foundation
import Testing
import TestSupport
import TMCore
import TMOrders
import TMQueue
import TMRedis

/// `TradingControls.announce` and the CLI's use of it: every shard's watched key holds the new
/// version when the call returns, a key is only ever raised, and a command that could not announce
/// says the change is committed and exits non-zero.
@Suite(.serialized) struct ControlsAnnounceTests {
    @Test func everyShardsWatchedKeyIsRaisedBeforeTheAnnouncementReturns() async throws {
        let redis = try await RedisClient(configuration: try RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let queue = "orders-" + TestServers.uniqueName("ca").lowercased().replacingOccurrences(of: "_", with: "-")
        let watched = (0..<4).map { QueueKeys(queue: queue, shard: $0).watched }
        defer { Task { _ = try? await redis.send(RedisCommand("DEL", arguments: watched)) } }
        func values() async throws -> [Int64?] {
            var out: [Int64?] = []
            for key in watched { out.append(try await redis.send("GET", key).string.flatMap { Int64($0) }) }
            return out
        }
        try await TradingControls.announce(redis, shards: 4, queue: queue)
        let first = try #require(Int64(try await TradingControls.announcedVersion(redis) ?? ""))
        #expect(try await values() == [first, first, first, first])

        // A later announcement already wrote shard 2 (it overtook this one there): not lowered.
        try await redis.send("SET", watched[2], first + 1000)
        try await TradingControls.announce(redis, shards: 4, queue: queue)
        let second = try #require(Int64(try await TradingControls.announcedVersion(redis) ?? ""))
        #expect(second > first)
        #expect(try await values() == [second, second, first + 1000, second])
    }

    /// Redis unreachable: the halt is committed, the command says so (and that running it again is
    /// safe) and exits 1.
    @Test func aCommandThatCouldNotAnnounceSaysTheChangeIsCommitted() async throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = "redis://127.0.0.1:1"
        environment["TM_DATABASE_URL"] = h.database.url
        environment["USER"] = "alice"
        let tm = TestServers.productsDirectory.appendingPathComponent("tm").path
        let halted = try await runProcess(tm, ["orders", "halt", "--reason", "redis down"], environment: environment)
        #expect(halted.status == 1, "\(halted.output)")
        #expect(halted.output.contains("the change is committed") && halted.output.contains("running the command again is safe"), "\(halted.output)")
        #expect(try h.db.query("SELECT trading_state FROM platform_trading_controls").rows[0].decode("trading_state", as: String.self) == "halted")
    }
}
