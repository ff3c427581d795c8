import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// `ScriptBatcher` on a shared control connection, at its edges (the session-32 review of the shared
/// settler): a server that will not say whether it is a cluster node is treated as one (one pipeline
/// per hash slot), and a pipeline mixing slots on a lone server still gives every call its own reply
/// when one call errors and the server's scripts were flushed meanwhile.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SettlerEdgeTests {
    static func made(_ queue: TestQueue, _ shard: Int, _ n: Int) -> ScriptBatcher.Completion {
        ScriptBatcher.Completion(keys: queue.keys(shard), group: QueueConsumer.group, streamID: "1-\(n)", id: "edge-\(n)",
                                 epoch: 1, key: nil, result: "", ttlMillis: 60_000, now: nowMillis())
    }

    /// Completions of 4 shards that meet behind a held lone call; returns the batcher's round trips.
    static func meet(_ queue: TestQueue, _ redis: RedisClient, _ batcher: ScriptBatcher) async throws -> (all: Int, mixingSlots: Int) {
        let before = batcher.roundTrips
        let held = try await HeldRedisThread(redis)
        defer { held.open() }
        let lone = Task { try await batcher.complete(made(queue, 0, 0)) }
        try await eventually("lone in flight") { batcher.isSending }
        var met: [Task<RedisValue, Error>] = []
        for n in 1...8 {
            let c = made(queue, n % 4, n)
            met.append(Task { try await batcher.complete(c) })
            try await eventually("waiting \(n)") { batcher.waiting == n }
        }
        try await held.release()
        #expect(try await lone.value.string == "stale")
        for task in met { #expect(try await task.value.string == "stale", "its own reply") }
        try await eventually("flush ended") { !batcher.isSending }
        let after = batcher.roundTrips
        return (after.all - before.all, after.mixingSlots - before.mixingSlots)
    }

    /// A server that refuses `INFO` (ACL): taken for a cluster node — one pipeline per slot.
    @Test func aServerThatRefusesInfoIsTakenForAClusterNode() async throws {
        let queue = try await TestQueue { $0.shards = 4 }
        defer { Task { await queue.cleanUp() } }
        let user = "settle-noinfo-\(UUID().uuidString.prefix(6))"
        try await queue.redis.send(RedisCommand("ACL", arguments: ["SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-info"]))
        defer { Task { _ = try? await queue.redis.send("ACL", "DELUSER", user) } }
        var configuration = queue.redisConfiguration
        configuration.username = user
        configuration.password = "pw"
        let redis = try await RedisClient(configuration: configuration, name: "settle-noinfo")
        defer { redis.close() }
        // (The user really cannot ask.)
        await #expect(throws: RedisError.self) { try await redis.send("INFO", "cluster") }
        let batcher = ScriptBatcher(redis: redis)
        #expect(try await batcher.complete(Self.made(queue, 0, 100)).string == "stale")
        let trips = try await Self.meet(queue, redis, batcher)
        #expect(trips == (all: 5, mixingSlots: 0), "one lone + one per slot when INFO is refused: \(trips)")
    }

    static let echo = RedisScript("if ARGV[1] == 'fail' then return redis.error_reply('EDGEERR boom ' .. KEYS[1]) end return ARGV[1] .. '@' .. KEYS[1]")

    /// A lone server's mixed-slot pipeline where one call errors (a Lua error) and the server's
    /// scripts were flushed meanwhile (NOSCRIPT for all on the first pass): each call its own reply.
    @Test func aMixedPipelineWithALuaErrorAndAFlushGivesEachCallItsOwnReply() async throws {
        let queue = try await TestQueue { $0.shards = 4 }
        defer { Task { await queue.cleanUp() } }
        let redis = try await RedisClient(configuration: queue.redisConfiguration, name: "settle-mixed")
        defer { redis.close() }
        let batcher = ScriptBatcher(redis: redis)
        #expect(try await batcher.run(Self.echo, keys: [queue.keys(0).stream], arguments: ["warm"]).string == "warm@\(queue.keys(0).stream)")
        let held = try await HeldRedisThread(redis)
        defer { held.open() }
        let lone = Task { try await batcher.complete(Self.made(queue, 0, 300)) }
        try await eventually("lone in flight") { batcher.isSending }
        _ = try await queue.redis.send("SCRIPT", "FLUSH")
        var calls: [(Int, Task<RedisValue, Error>)] = []
        for n in 1...12 {
            let key = queue.keys(n % 4).stream
            if n % 3 == 0 {
                let c = Self.made(queue, n % 4, 300 + n)
                calls.append((n, Task { try await batcher.complete(c) }))
            } else {
                let arg = n == 7 ? "fail" : "v\(n)"
                calls.append((n, Task { try await batcher.run(Self.echo, keys: [key], arguments: [arg]) }))
            }
            try await eventually("waiting \(n)") { batcher.waiting == n }
        }
        let before = batcher.roundTrips
        try await held.release()
        #expect(try await lone.value.string == "stale")
        for (n, task) in calls {
            let key = queue.keys(n % 4).stream
            if n % 3 == 0 {
                #expect(try await task.value.string == "stale")
            } else if n == 7 {
                do { _ = try await task.value; Issue.record("7 should fail") } catch let e as RedisError {
                    #expect(e.serverCode == "EDGEERR" && "\(e)".contains(key), "its own error: \(e)")
                }
            } else {
                #expect(try await task.value.string == "v\(n)@\(key)", "call \(n)'s own reply")
            }
        }
        try await eventually("flush ended") { !batcher.isSending }
        let after = batcher.roundTrips
        #expect(after.mixingSlots - before.mixingSlots == 1, "one mixed round trip: \(before) -> \(after)")
    }
}
