import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMOrders
import TMQueue
import TMRedis

/// `TradingControls.announce` and the CLI's use of it: every shard's watched key holds the new
/// version when the call returns, a key is only ever raised, and a command that could not announce
/// says the change is committed and exits non-zero.
@Suite(.serialized) struct ControlsAnnounceTests {
    @Test func everyShardsWatchedKeyIsRaisedBeforeTheAnnouncementReturns() async throws {
        try await Self.withScratchQueue(shards: 4) { redis, queue, watched in
            try await TradingControls.announce(redis, shards: 4, queue: queue)
            let first = try #require(try await TradingControls.announcedVersion(redis))
            #expect(try await Self.values(redis, watched) == [first, first, first, first])

            // Shard 2 holds an n above the counter's (the counter was lost alone): the counter is raised
            // past it and every key ends on the new value, never one a worker could have seen.
            let ahead = Self.number(first) + 1000
            try await redis.send("SET", watched[2], "\(ahead):left-over")
            try await TradingControls.announce(redis, shards: 4, queue: queue)
            let second = try #require(try await TradingControls.announcedVersion(redis))
            #expect(Self.number(second) > ahead)
            #expect(try await Self.values(redis, watched) == [second, second, second, second])

            // The counter and the announcement lost (the shards' keys survive), the counter back just
            // below the keys' n: the INCR lands on their n, with another value, and is raised past it
            // too. (With the announcement kept, the script itself would take n above it.)
            try await redis.send("DEL", TradingControls.announcementKey)
            try await redis.send("SET", TradingControls.counterKey, Self.number(second) - 1)
            try await TradingControls.announce(redis, shards: 4, queue: queue)
            let third = try #require(try await TradingControls.announcedVersion(redis))
            #expect(Self.number(third) > Self.number(second))
            #expect(try await Self.values(redis, watched) == [third, third, third, third])
        }
    }

    /// A worker seeding a missing watched key never overwrites a value an announcer wrote
    /// meanwhile, even one of a lower n (announced after the counter was lost).
    @Test func aSeedNeverOverwritesAnAnnouncedValue() async throws {
        try await Self.withScratchQueue(shards: 1) { redis, queue, watched in
            let key = watched[0]
            try await redis.send("SET", key, "1:announced-meanwhile")
            try await TradingControls.seedWatched(redis, version: "5:read-before", shard: 0, queue: queue)
            #expect(try await redis.send("GET", key).string == "1:announced-meanwhile")
            try await redis.send("DEL", key)
            try await TradingControls.seedWatched(redis, version: "5:read-before", shard: 0, queue: queue)
            #expect(try await redis.send("GET", key).string == "5:read-before")
        }
    }

    /// Every announcement's value is new, even when the counter restarts at an n already used.
    @Test func aValueIsNeverAnnouncedTwice() async throws {
        try await Self.withScratchQueue(shards: 2) { redis, queue, watched in
            try await TradingControls.announce(redis, shards: 2, queue: queue)
            let old = try #require(try await TradingControls.announcedVersion(redis))
            // Everything lost; the counter restarts just below the old n.
            try await redis.send(RedisCommand("DEL", arguments: watched + [TradingControls.announcementKey]))
            try await redis.send("SET", TradingControls.counterKey, Self.number(old) - 1)
            try await TradingControls.announce(redis, shards: 2, queue: queue)
            let new = try #require(try await TradingControls.announcedVersion(redis))
            #expect(Self.number(new) == Self.number(old) && new != old)
            #expect(try await Self.values(redis, watched) == [new, new])
        }
    }

    /// The counter lost alone while the announcement survived (no shard recorded, none raised): the
    /// next value's n is still above the surviving one's, so the announcement only ever moves up.
    @Test func theCounterLostAloneStillAnnouncesAboveTheSurvivingValue() async throws {
        try await Self.withScratchQueue(shards: 0) { redis, queue, _ in
            try await TradingControls.announce(redis, shards: 0, queue: queue)
            let old = try #require(try await TradingControls.announcedVersion(redis))
            try await redis.send("DEL", TradingControls.counterKey)
            try await TradingControls.announce(redis, shards: 0, queue: queue)
            let new = try #require(try await TradingControls.announcedVersion(redis))
            #expect(Self.number(new) > Self.number(old), "\(old) then \(new)")
        }
    }

    /// Announcements racing each other leave every key at the last one's value.
    @Test func racingAnnouncementsLeaveTheLater() async throws {
        try await Self.withScratchQueue(shards: 4) { redis, queue, watched in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { try await TradingControls.announce(redis, shards: 4, queue: queue) } }
                try await group.waitForAll()
            }
            let last = try #require(try await TradingControls.announcedVersion(redis))
            #expect(try await Self.values(redis, watched) == [last, last, last, last])
        }
    }

    /// Runs `body` with a Redis client, a scratch queue and its first `shards` watched keys; then
    /// deletes those keys and puts the global announcement keys back (`restoringGlobalKeys`), before
    /// the client closes.
    static func withScratchQueue(shards: Int, _ body: (RedisClient, String, [String]) async throws -> Void) async throws {
        let redis = try await RedisClient(configuration: try RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let queue = scratchQueue()
        let watched = (0..<shards).map { QueueKeys(queue: queue, shard: $0).watched }
        func deleteWatched() async { if !watched.isEmpty { _ = try? await redis.send(RedisCommand("DEL", arguments: watched)) } }
        do {
            try await restoringGlobalKeys(redis) { try await body(redis, queue, watched) }
        } catch {
            await deleteWatched()
            throw error
        }
        await deleteWatched()
    }

    /// Runs `body`, then puts the global announcement keys (`tm:{trading-controls}:*`) back as
    /// they were, so tests that delete or lower them pass in any order.
    static func restoringGlobalKeys(_ redis: RedisClient, _ body: () async throws -> Void) async throws {
        let global = [TradingControls.announcementKey, TradingControls.counterKey]
        var saved: [String?] = []
        for key in global { saved.append(try await redis.send("GET", key).string) }
        func restore() async {
            for (key, value) in zip(global, saved) {
                if let value { _ = try? await redis.send("SET", key, value) } else { _ = try? await redis.send("DEL", key) }
            }
        }
        do { try await body() } catch {
            await restore()
            throw error
        }
        await restore()
    }

    static func scratchQueue() -> String {
        "orders-" + TestServers.uniqueName("ca").lowercased().replacingOccurrences(of: "_", with: "-")
    }

    static func values(_ redis: RedisClient, _ keys: [String]) async throws -> [String?] {
        var out: [String?] = []
        for key in keys { out.append(try await redis.send("GET", key).string) }
        return out
    }

    /// An announced value's n ("<n>:<nonce>").
    static func number(_ value: String) -> Int64 { TradingControls.number(value) }

    /// Redis unreachable: the halt is committed, the command says so (and that running it again is
    /// safe) and exits 3 (committed, not announced), not 1 (refused).
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
        #expect(halted.status == 3, "committed, not announced: \(halted.output)")
        #expect(halted.output.contains("the change is committed") && halted.output.contains("running the command again is safe"), "\(halted.output)")
        #expect(try h.db.query("SELECT trading_state FROM platform_trading_controls").rows[0].decode("trading_state", as: String.self) == "halted")
    }
}
