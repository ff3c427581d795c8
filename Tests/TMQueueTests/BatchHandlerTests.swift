import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// The batch handler (`QueueConsumer(…, batchSize:, batchHandler:)`): a read's messages reach the
/// handler together, yet each message keeps its own life — its own retry or dead letter, its own
/// epoch check, and left pending (for reclaim) when its batch never finished.
@Suite(.serialized, .timeLimit(.minutes(3))) struct BatchHandlerTests {
    /// Enqueued before the consumer starts: its first read takes them all at once.
    func enqueue(_ queue: TestQueue, _ count: Int) async throws -> [String] {
        let results = try await queue.producer.enqueueBatch(queue.name, (0..<count).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8)) })
        return try results.map { try $0.get().id }
    }

    func consume(_ queue: TestQueue, batchSize: Int, concurrency: Int, grace: Duration = .seconds(10),
                 _ handler: @escaping QueueBatchHandler) -> (QueueConsumer, Task<Void, Error>) {
        var options = QueueConsumer.Options()
        options.concurrency = concurrency
        options.batchSize = concurrency
        options.blockTimeout = .milliseconds(200)
        options.promoteInterval = .milliseconds(20)
        options.reclaimInterval = .milliseconds(200)
        options.shutdownGrace = grace
        let consumer = QueueConsumer(manifest: queue.manifest, redis: queue.redisConfiguration, options: options, batchSize: batchSize, batchHandler: handler)
        return (consumer, Task { try await consumer.run() })
    }

    static func number(_ delivery: Delivery) -> Int {
        (try? JSONValue.parse(delivery.payload))?["n"]?.intValue ?? -1
    }

    @Test func aReadsMessagesReachTheBatchHandlerTogether() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        _ = try await enqueue(queue, 30)
        let sizes = Locked<[Int]>([])
        let (consumer, task) = consume(queue, batchSize: 10, concurrency: 30) { batch in
            sizes.withLock { $0.append(batch.count) }
            return batch.map { .success("r\(Self.number($0))") }
        }
        try await eventually("all handled") { consumer.counters.handled == 30 }
        consumer.stop()
        try await task.value
        // One read of 30, handed over in pieces of the batch size: three calls, not thirty.
        #expect(sizes.current == [10, 10, 10])
        #expect(try await queue.streamLength() == 0)
        #expect(try await queue.redis.send("HLEN", queue.keys().epochs).int == 0)
    }

    @Test func aFailingMessageInABatchIsRetriedAloneAndTheRestAcked() async throws {
        let queue = try await TestQueue { $0.maxDeliveries = 3 }
        defer { Task { await queue.cleanUp() } }
        let ids = try await enqueue(queue, 10)
        struct Flaky: Error {}
        // (message number, attempt) of every success
        let succeeded = Locked<[(Int, Int)]>([])
        let (consumer, task) = consume(queue, batchSize: 10, concurrency: 10) { batch in
            batch.map { delivery -> Result<String?, any Error> in
                let n = Self.number(delivery)
                if n == 3 && delivery.attempt == 1 { return .failure(Flaky()) }
                if n == 5 { return .failure(MessageRejected("n 5 is refused")) }
                succeeded.withLock { $0.append((n, delivery.attempt)) }
                return .success(nil)
            }
        }
        try await eventually("settled") {
            consumer.counters.handled == 9 && consumer.counters.deadLettered == 1 && consumer.counters.retried == 1
        }
        consumer.stop()
        try await task.value
        // Each of the nine succeeded once; only the failed one ran a second time.
        let runs = succeeded.current
        #expect(runs.map(\.0).sorted() == [0, 1, 2, 3, 4, 6, 7, 8, 9])
        #expect(runs.filter { $0.1 != 1 }.map(\.0) == [3])
        #expect(runs.first { $0.0 == 3 }?.1 == 2)
        // The refused one alone is dead-lettered; nothing is left on the queue.
        let dead = try await queue.deadLetters()
        #expect(dead.map(\.fields["id"]) == [ids[5]])
        #expect(dead.first?.fields["reason"] == "invalid")
        #expect(try await queue.streamLength() == 0)
        #expect(try await queue.redis.send("ZCARD", queue.keys().delayed).int == 0)
    }

    /// A consumer stopped while its batch is still running (past its grace period) records no
    /// outcome: every message of the batch stays pending and another consumer takes it over.
    @Test func aBatchLeftUnfinishedIsReclaimedByAnotherConsumer() async throws {
        let queue = try await TestQueue { $0.visibilityTimeout = .seconds(1) }
        defer { Task { await queue.cleanUp() } }
        let ids = try await enqueue(queue, 5)
        let started = Locked(false)
        let (stuck, stuckTask) = consume(queue, batchSize: 5, concurrency: 5, grace: .milliseconds(100)) { batch in
            started.withLock { $0 = true }
            // Never finishes on its own (the grace period ends it by cancellation).
            try? await Task.sleep(for: .seconds(120))
            return batch.map { _ in .failure(CancellationError()) }
        }
        try await eventually("the batch is running") { started.current }
        stuck.stop()
        try await stuckTask.value
        #expect(stuck.counters.handled == 0 && stuck.counters.retried == 0 && stuck.counters.deadLettered == 0)

        let seen = Locked<[String]>([])
        let (successor, task) = consume(queue, batchSize: 5, concurrency: 5) { batch in
            seen.withLock { $0 += batch.map(\.id) }
            return batch.map { _ in .success(nil) }
        }
        try await eventually("taken over and handled") { successor.counters.handled == 5 }
        successor.stop()
        try await task.value
        #expect(Set(seen.current) == Set(ids))
        #expect(try await queue.streamLength() == 0)
    }

    /// One caller settling a whole batch in one `complete` (more than one merged call carries:
    /// 500 + 100) gets each message's own reply, in its order; only the current ones are settled.
    @Test func aBatchsCompletionsAreAnsweredOneByOneAcrossMergedCalls() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let count = ScriptBatcher.completionsPerCall + 100
        _ = try await enqueue(queue, count)
        let keys = queue.keys()
        _ = try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        let read = try await queue.redis.run(QueueScripts.fetch, keys: [keys.stream, keys.epochs], arguments: [QueueConsumer.group, "c1", count])
        let entries = try #require(read.array?.first?.array)
        #expect(entries.count == count)
        let now = nowMillis()
        // Every seventh one at a stale epoch.
        let completions = entries.enumerated().map { n, entry in
            let parts = entry.array ?? []
            let fields = parts[1].array ?? []
            let id = fields[(fields.firstIndex { $0.string == "id" } ?? 0) + 1].string ?? ""
            let epoch = parts[2].int ?? 0
            return ScriptBatcher.Completion(keys: keys, group: QueueConsumer.group, streamID: parts[0].string ?? "", id: id,
                                            epoch: n % 7 == 0 ? epoch - 1 : epoch, key: nil, result: "", ttlMillis: 60_000, now: now)
        }
        let replies = try await ScriptBatcher(redis: queue.redis).complete(completions)
        #expect(replies.map { $0.string ?? "?" } == (0..<count).map { $0 % 7 == 0 ? "stale" : "ok" })
        let stale = (0..<count).filter { $0 % 7 == 0 }.count
        #expect(try await queue.streamLength() == stale)
        #expect(try await queue.redis.send("HLEN", keys.epochs).int == Int64(stale))
    }

    /// The fetch script raises each message's epoch by one (one HINCRBY each); `raiseEpochs` the
    /// same, an id listed twice rising twice.
    @Test func fetchRaisesEachEpochByOneAsHINCRBYWould() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let ids = try await enqueue(queue, 3)
        let keys = queue.keys()
        // The second was delivered four times before (its epoch survives a retry).
        _ = try await queue.redis.send("HSET", keys.epochs, ids[1], 4)
        _ = try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        let read = try await queue.redis.run(QueueScripts.fetch, keys: [keys.stream, keys.epochs], arguments: [QueueConsumer.group, "c1", 10])
        #expect(read.array?.first?.array?.map { $0.array?[2].int ?? -1 } == [1, 5, 1])
        for (id, epoch) in zip(ids, ["1", "5", "1"]) { #expect(try await queue.redis.send("HGET", keys.epochs, id).string == epoch) }
        let raised = try await queue.redis.run(QueueScripts.raiseEpochs, keys: [keys.epochs], arguments: [ids[0], ids[2], ids[0]])
        #expect(raised.array?.map { $0.int ?? -1 } == [2, 2, 3])
        #expect(try await queue.redis.send("HGET", keys.epochs, ids[0]).string == "3")
    }
}
