import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// `ScriptBatcher`'s lone path: a call that finds no round trip in flight is sent from its caller's
/// own task (no flush task), and calls that arrive while it is in flight wait and go out together
/// in the next round trip, each answered with its own reply or error.
@Suite(.timeLimit(.minutes(2))) struct HopScriptBatcherTests {
    static let increment = RedisScript("return redis.call('INCR', KEYS[1])")
    /// Fails inside Redis (a script error reply) for that one call only.
    static let failing = RedisScript("return redis.error_reply('refused ' .. ARGV[1])")

    @Test func aLoneCallIsSentFromItsOwnTaskAndSoIsTheNextOne() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let batcher = ScriptBatcher(redis: queue.redis)
        let counter = queue.keys().stream + ":hop-counter"
        for expected in 1...2 {
            let reply = try await batcher.run(Self.increment, keys: [counter], arguments: [])
            #expect(reply.int == Int64(expected), "a lone call gets its own reply")
            #expect(batcher.sentAtOnce == expected, "call \(expected) went out from its caller's task, not through a flush task")
        }
        await #expect(throws: RedisError.self, "a lone call's error reaches that caller") {
            try await batcher.run(Self.failing, keys: [counter], arguments: ["alone"])
        }
        #expect(batcher.sentAtOnce == 3)
        #expect(batcher.waiting == 0)
        _ = try await queue.redis.send("DEL", counter)
    }

    @Test func callsArrivingDuringALoneCallAreAnsweredByALaterRoundTripThatRunsTheirWork() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let redis = try await RedisClient(configuration: queue.redisConfiguration, name: "hop-batcher")
        defer { redis.close() }
        let batcher = ScriptBatcher(redis: redis)
        let counter = queue.keys().stream + ":hop-counter"

        // Hold the batcher's Redis thread, so that the lone call stays in flight behind it.
        let held = try await HeldRedisThread(redis)
        // Released on every way out (before `redis.close()`, which waits for the thread).
        defer { held.open() }
        let lone = Task { try await batcher.run(Self.increment, keys: [counter], arguments: []) }
        try await eventually("the lone call in flight") { batcher.sentAtOnce == 1 }
        // Arriving while it is in flight: they wait for the next round trip, in arrival order.
        let second = Task { try await batcher.run(Self.increment, keys: [counter], arguments: []) }
        try await eventually("the second caller waiting") { batcher.waiting == 1 }
        let refused = Task { try await batcher.run(Self.failing, keys: [counter], arguments: ["third"]) }
        try await eventually("the third caller waiting") { batcher.waiting == 2 }
        let fourth = Task { try await batcher.run(Self.increment, keys: [counter], arguments: []) }
        try await eventually("the fourth caller waiting") { batcher.waiting == 3 }
        try await held.release()

        #expect(try await lone.value.int == 1, "the lone call's own reply")
        #expect(try await second.value.int == 2, "the later round trip ran the second caller's work after the lone call's")
        #expect(try await fourth.value.int == 3, "and the fourth caller's, each its own reply")
        do {
            _ = try await refused.value
            Issue.record("the third caller's script failed in Redis: its caller must get the error")
        } catch {
            #expect("\(error)".contains("refused third"), "the third caller gets its own error: \(error)")
        }
        #expect(batcher.sentAtOnce == 1, "the callers that waited went out through the flush, not each alone")
        #expect(batcher.waiting == 0)

        // The flush ends once it finds no one waiting (after answering them): then the next caller is alone again.
        try await eventually("the flush ended") { !batcher.isSending }
        #expect(try await batcher.run(Self.increment, keys: [counter], arguments: []).int == 4)
        #expect(batcher.sentAtOnce == 2)
        _ = try await queue.redis.send("DEL", counter)
    }
}
