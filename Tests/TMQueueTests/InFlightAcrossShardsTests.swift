import Foundation
import Testing
import TestSupport
import TMCore
import TMQueue
import TMRedis

/// A consumer of several shards keeps every delivery it runs in flight — heartbeated (so it is not
/// reclaimed while its handler runs) and counted (the graceful stop waits for it) — even when two
/// shards hand out entries with the same stream id and epoch. They do: each shard's stream numbers
/// its own entries, so two messages enqueued in the same millisecond on two shards both get
/// `<ms>-0`, and both first deliveries have epoch 1.
@Suite(.serialized) struct InFlightAcrossShardsTests {
    @Test func twoShardsEntriesWithTheSameStreamIDAreBothInFlight() async throws {
        let queue = try await TestQueue { $0.shards = 2 }
        defer { Task { await queue.cleanUp() } }
        // What the enqueue script writes for a new message (`XADD *`, epoch 0), with the id both
        // streams would give two messages added in the same millisecond.
        let time = try await queue.redis.send("TIME").array ?? []
        let millis = Int64(time[0].string ?? "0")! * 1000
        let streamID = "\(millis)-0"
        for shard in 0..<2 {
            let keys = queue.keys(shard)
            try await queue.redis.send(RedisCommand("XADD", arguments: [keys.stream, streamID, "id", "same-ms-\(shard)", "key", "",
                                                                        "payload", #"{"shard":\#(shard)}"#, "attempt", "0",
                                                                        "enqueued_at", "\(millis)", "history", "[]"]))
            try await queue.redis.send("HSET", keys.epochs, "same-ms-\(shard)", "0")
        }
        let started = Locked<[String]>([])
        let released = Locked(false)
        let (consumer, task) = queue.consume { delivery in
            started.withLock { $0.append("\(delivery.shard):\(delivery.streamID):\(delivery.epoch)") }
            while !released.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            return nil
        }
        try await eventually("both handlers running") { started.withLock { $0.count } == 2 }
        #expect(Set(started.withLock { $0 }) == ["0:\(streamID):1", "1:\(streamID):1"], "the same stream id and epoch on both shards")
        #expect(consumer.inFlightCount == 2, "each running delivery is in flight (heartbeated, waited for at a stop)")
        released.withLock { $0 = true }
        try await eventually("both settled") {
            var left = 0
            for shard in 0..<2 { left += Int(try await queue.redis.send("XLEN", queue.keys(shard).stream).int ?? 1) }
            return left == 0
        }
        #expect(consumer.counters.handled == 2)
        consumer.stop()
        _ = try? await task.value
    }
}
