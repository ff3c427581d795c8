import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// What a queue leaves behind and what it refuses: no fencing epoch outlives its message, a live
/// message id cannot be enqueued twice, payloads are strict JSON, and the DLQ is read in pages.
@Suite(.timeLimit(.minutes(2))) struct QueueHygieneTests {
    func epochCount(_ queue: TestQueue) async throws -> Int {
        var total = 0
        for shard in 0..<queue.manifest.shards { total += Int(try await queue.redis.send("HLEN", queue.keys(shard).epochs).int ?? -1) }
        return total
    }

    @Test func buriedAndFinishedMessagesLeaveNoEpochBehind() async throws {
        let queue = try await TestQueue { $0.maxDeliveries = 1 }
        defer { Task { await queue.cleanUp() } }
        let (consumer, task) = queue.consume { delivery in
            if String(decoding: delivery.payload, as: UTF8.self).contains("fail") { throw MessageRejected("no") }
            return nil
        }
        try await queue.enqueue(#"{"do":"fail"}"#, key: "buried")
        try await queue.enqueue(#"{"do":"fail"}"#)
        try await queue.enqueue(#"{"do":"ok"}"#)
        try await eventually("settled") { consumer.counters.deadLettered == 2 && consumer.counters.handled == 1 }
        #expect(try await epochCount(queue) == 0, "the epochs hash keeps live messages only")
        // The epoch travels with the dead letter; a replay brings it back and it goes again when done.
        let dlq = DeadLetterQueue(redis: queue.redis, manifest: queue.manifest)
        let letters = try await dlq.list()
        #expect(try await dlq.replay(ids: letters.map(\.id), patch: #"{"do":"ok"}"#).replayed == 2)
        try await eventually("replays handled") { consumer.counters.handled == 3 }
        #expect(try await epochCount(queue) == 0)
        consumer.stop()
        try await task.value
    }

    @Test func aMessageIDStillLiveIsRefusedAndFreeAgainOnceSettled() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        func send(_ id: String, delay: Duration? = nil) async throws -> EnqueueResult {
            try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), delay: delay, id: id))
        }
        let first = try await send("order-42")
        #expect(first.id == "order-42")
        await #expect(throws: QueueError.messageIDInUse(queue: queue.name, id: "order-42")) { try await send("order-42") }
        _ = try await send("later", delay: .seconds(60))
        await #expect(throws: QueueError.messageIDInUse(queue: queue.name, id: "later")) { try await send("later") }
        #expect(try await queue.streamLength() == 1, "the refused enqueue wrote nothing")

        let (consumer, task) = queue.consume { _ in nil }
        try await eventually("handled") { consumer.counters.handled == 1 }
        consumer.stop()
        try await task.value
        // Settled: the id names no live message any more.
        #expect(try await send("order-42").id == "order-42")
    }

    @Test func payloadsMustBeStrictJSONAndTheErrorSaysWhere() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let cases = [
            (#"{"a":[1,2,]}"#, "unexpected character at byte 10"),
            (#"{"a":1,}"#, "expected a member name in quotes at byte 7"),
            ("[1] // note", "unexpected text after the document at byte 4"),
            ("{'a':1}", "expected a member name in quotes at byte 1"),
            ("NaN", "unexpected character at byte 0"),
        ]
        for (payload, reason) in cases {
            await #expect(throws: QueueError.payloadNotJSON(queue: queue.name, reason: reason), "\(payload)") {
                try await queue.enqueue(payload)
            }
        }
        #expect(try await queue.streamLength() == 0)
        // Valid JSON of every kind still goes through, numbers as written.
        for payload in [#"{"a":[1,2]}"#, "1e400", #""text""#, "null", "[]"] { try await queue.enqueue(payload) }
        #expect(try await queue.streamLength() == 5)
    }

    /// Oldest first means in the order the dead letters were written (their entry ids), also when the
    /// consumers' clocks (`dead_at`) say otherwise: two settles of one shard in flight at once can be
    /// written in the other order, and a shard's stream is read in entry order.
    @Test func deadLettersAreListedInTheOrderTheyWereWritten() async throws {
        let queue = try await TestQueue { $0.shards = 2 }
        defer { Task { await queue.cleanUp() } }
        // (shard, entry id, dead_at ms): shard 0's second entry was decided before its first.
        for (shard, id, deadAt) in [(0, "1000-0", 5_000), (0, "2000-0", 3_000), (1, "1500-0", 4_000)] {
            _ = try await queue.redis.send("XADD", queue.keys(shard).deadLetters, id, "id", "m\(id)", "payload", "{}",
                                           "reason", "invalid", "error", "x", "dead_at", "\(deadAt)")
        }
        let dlq = DeadLetterQueue(redis: queue.redis, manifest: queue.manifest)
        let all = try await dlq.list()
        #expect(all.map { "\($0.shard)/\($0.streamID)" } == ["0/1000-0", "1/1500-0", "0/2000-0"])
        #expect(all == all.sorted(by: DeadLetterQueue.precedes))
        #expect(try await dlq.list(limit: 1).map(\.streamID) == ["2000-0"])
    }

    @Test func theDeadLetterQueueIsReadInPagesWithTheSameResults() async throws {
        let queue = try await TestQueue { $0.shards = 2 }
        defer { Task { await queue.cleanUp() } }
        var options = QueueConsumer.Options()
        options.concurrency = 1
        let (consumer, task) = queue.consume(options: options) { delivery in
            throw MessageRejected(String(decoding: delivery.payload, as: UTF8.self).contains("odd") ? "odd one" : "even one")
        }
        let sent = 13
        for n in 0..<sent { try await queue.enqueue(#"{"n":\#(n),"kind":"\#(n % 2 == 1 ? "odd" : "even")"}"#, key: "k\(n)") }
        try await eventually("all dead") { consumer.counters.deadLettered == sent }
        consumer.stop()
        try await task.value

        let reads = Locked<[Int]>([])
        var observed = queue.redisConfiguration
        observed.roundTripObserver = { commands in
            for command in commands where command.description == "XRANGE" {
                reads.withLock { $0.append(Int(String(decoding: command.arguments.last!.bytes, as: UTF8.self)) ?? -1) }
            }
        }
        let redis = try await RedisClient(configuration: observed)
        defer { redis.close() }
        var dlq = DeadLetterQueue(redis: redis, manifest: queue.manifest)
        dlq.pageSize = 3

        let all = try await dlq.list()
        #expect(all.count == sent)
        #expect(all == all.sorted(by: DeadLetterQueue.precedes), "oldest first across shards")
        #expect(Set(all.map(\.messageID)).count == sent)
        #expect(reads.current.count >= sent / 3 && reads.current.allSatisfy { $0 <= 3 }, "read in pages of 3: \(reads.current)")
        #expect(try await dlq.list(limit: 4).map(\.id) == all.suffix(4).map(\.id))
        #expect(try await dlq.list(errorContains: "ODD").map(\.id) == all.filter { $0.error == "odd one" }.map(\.id))
        #expect(try await dlq.list(since: Date().addingTimeInterval(60)).isEmpty)
        #expect(try await dlq.export() == all.map(\.jsonLine))
        // A message id is found wherever its page is.
        let last = try #require(all.last)
        #expect(try await dlq.find(last.messageID)?.id == last.id)
        #expect(try await dlq.purge(olderThan: .zero, dryRun: true).purged.map(\.id) == all.map(\.id))
        #expect(reads.current.allSatisfy { $0 <= 3 })
    }
}
