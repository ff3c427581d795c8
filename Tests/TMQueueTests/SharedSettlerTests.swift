import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// Consumers of different shards given one `QueueSettler` (as the order-worker's per-shard
/// consumers are): every message is handled and settled exactly once through the shared
/// connection, and a consumer that stops leaves it open for the others (its owner closes it).
@Suite(.timeLimit(.minutes(2))) struct SharedSettlerTests {
    @Test func consumersOfDifferentShardsSettleThroughOneSettlerAndAStoppedOneLeavesItOpen() async throws {
        let queue = try await TestQueue { $0.shards = 2 }
        defer { Task { await queue.cleanUp() } }
        let settler = try await QueueSettler(redis: queue.redisConfiguration, name: "shared-q-ctl")
        defer { settler.close() }
        let runs = Locked<[String: Int]>([:])
        let handler: QueueHandler = { delivery in
            runs.withLock { $0[delivery.id, default: 0] += 1 }
            return "done-\(delivery.id)"
        }
        func consumer(_ shard: Int) -> (QueueConsumer, Task<Void, Error>) {
            var options = QueueConsumer.Options()
            options.shards = [shard]
            options.settler = settler
            options.consumerName = "shared-\(shard)-\(UUID().uuidString.prefix(8))"
            return queue.consume(options: options, handler)
        }
        let (zero, zeroRun) = consumer(0)
        let (one, oneRun) = consumer(1)
        var sent: [(id: String, shard: Int, key: String)] = []
        for n in 0..<40 {
            let key = "k\(n)-\(UUID().uuidString)"
            let result = try await queue.enqueue(#"{"n":\#(n)}"#, key: key)
            sent.append((result.id, result.shard, key))
        }
        #expect(Set(sent.map(\.shard)) == [0, 1], "both shards used")
        try await eventually("all handled") { zero.counters.handled + one.counters.handled == sent.count }
        #expect(zero.counters.handled == sent.filter { $0.shard == 0 }.count)
        #expect(one.counters.handled == sent.filter { $0.shard == 1 }.count)
        #expect(zero.counters.stale + one.counters.stale == 0)

        // Shard 0's consumer stops: the shared connection stays open, shard 1's keeps settling.
        zero.stop()
        try await zeroRun.value
        let tripsBefore = settler.roundTrips.all
        var later: [(id: String, key: String)] = []
        while later.count < 5 {
            let key = "later\(later.count)-\(UUID().uuidString)"
            let result = try await queue.enqueue(#"{"later":true}"#, key: key)
            if result.shard == 1 {
                later.append((result.id, key))
            } else {
                // (Shard 0 has no consumer now: its message is left for the check below.)
                sent.append((result.id, 0, key))
            }
        }
        try await eventually("shard 1's later messages handled") { one.counters.handled == sent.filter { $0.shard == 1 }.count + later.count }
        #expect(settler.roundTrips.all > tripsBefore, "settled through the shared settler after the other consumer stopped")
        one.stop()
        try await oneRun.value

        // Exactly once each: one run and a done record per handled message, nothing left pending.
        let counts = runs.current
        for message in sent where counts[message.id] != nil || message.shard == 1 {
            #expect(counts[message.id] == 1, "message \(message.id) run once")
            let record = try await queue.redis.send("GET", queue.keys(message.shard).idempotency(message.key)).string ?? ""
            #expect(record.contains("\"done\""), "message \(message.id) recorded done: \(record)")
        }
        for message in later {
            #expect(counts[message.id] == 1)
        }
        #expect(counts.values.allSatisfy { $0 == 1 }, "no message run twice")
        #expect(counts.count == sent.filter { $0.shard == 1 }.count + later.count + zero.counters.handled)
        for shard in 0..<2 {
            let pending = Int(try await queue.redis.send("XPENDING", queue.keys(shard).stream, QueueConsumer.group).array?.first?.int ?? -1)
            #expect(pending == 0, "nothing pending on shard \(shard)")
        }
        // The settler is still usable by its owner after both consumers stopped.
        #expect(try await settler.control.send("PING").string == "PONG")
    }
}
