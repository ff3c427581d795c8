import Foundation
import Testing
import TestSupport
import TMCore
import TMQueue
import TMRedis

/// `QueueInspector` against the harness's Redis: the numbers an operator sees match what the
/// runtime did.
@Suite(.timeLimit(.minutes(2))) struct QueueInspectorTests {
    @Test func theNumbersMatchWhatHappened() async throws {
        // Two handler slots: once two handlers are blocked nothing more is fetched, so exactly two
        // entries stay pending and the rest stay undelivered.
        let queue = try await TestQueue { $0.concurrency = 2; $0.batchSize = 1 }
        defer { Task { await queue.cleanUp() } }
        let release = Locked(false)
        let blocked = Locked<Set<String>>([])
        var options = QueueConsumer.Options()
        options.consumerName = "inspector-\(getpid())"
        options.shutdownGrace = .seconds(5)
        let (consumer, task) = queue.consume(options: options) { delivery in
            if String(decoding: delivery.payload, as: UTF8.self).contains("bad") { throw MessageRejected("bad on purpose") }
            blocked.withLock { _ = $0.insert(delivery.id) }
            while !release.current { try await Task.sleep(for: .milliseconds(20)) }
            return nil
        }
        try await queue.enqueue(#"{"bad":true}"#)
        try await eventually("the bad message dead-lettered") { consumer.counters.deadLettered == 1 }
        for n in 0..<5 { try await queue.enqueue("{\"n\":\(n)}") }
        let delayed = try await queue.enqueue(#"{"later":true}"#, delay: .seconds(60))
        #expect(delayed.streamID == nil)
        try await eventually("two handlers blocked") { blocked.current.count == 2 }

        let inspector = QueueInspector(redis: queue.redis, catalog: try QueueCatalog([queue.manifest]))
        let status = try await inspector.status(of: queue.name)
        #expect(status.queue == queue.name)
        #expect(status.shards.count == 1)
        let shard = status.shards[0]
        #expect(shard.exists)
        #expect(shard.length == 5)  // 2 in flight + 3 ready; the dead letter left the stream
        #expect(shard.pending == 2)
        #expect(shard.undelivered == 3)
        #expect(shard.delayed == 1)
        #expect(shard.deadLetters == 1)
        #expect(shard.errors.isEmpty)
        let due = try #require(shard.nextDueInMs)
        // The due time is taken from the producer's clock (rounded to ms), "now" from Redis's TIME:
        // inspected within a millisecond of the enqueue, the difference can exceed 60 s by a hair.
        #expect(due > 30_000 && due <= 60_050)
        let oldest = try #require(shard.oldestPending)
        #expect(oldest.consumer == options.consumerName)
        #expect(oldest.deliveries == 1)
        #expect(oldest.idleMs >= 0 && oldest.idleMs < 30_000)
        #expect(shard.groups.map(\.name) == ["workers"])
        let consumers = shard.groups[0].consumers
        #expect(consumers.map(\.name) == [options.consumerName])
        #expect(consumers.first?.pending == 2)
        #expect((consumers.first?.idleMs ?? -1) >= 0 && (consumers.first?.idleMs ?? .max) < 30_000)
        #expect(status.totals.length == 5 && status.totals.pending == 2 && status.totals.delayed == 1)
        #expect(status.totals.deadLetters == 1 && status.totals.consumers == 1)

        // It round-trips as JSON, the form `tm queues --json` prints.
        let decoded = try JSONDecoder().decode(QueueStatus.self, from: JSONEncoder().encode(status))
        #expect(decoded == status)

        release.withLock { $0 = true }
        try await eventually("the blocked and ready messages handled") { consumer.counters.handled == 5 }
        consumer.stop()
        try await task.value
        let drained = try await inspector.status(of: queue.keys())
        #expect(drained.length == 0 && drained.pending == 0 && drained.undelivered == 0)
        #expect(drained.delayed == 1 && drained.deadLetters == 1)
    }

    @Test func unusedShardsAndQueuesShowZeros() async throws {
        let queue = try await TestQueue { $0.shards = 3 }
        defer { Task { await queue.cleanUp() } }
        let inspector = QueueInspector(redis: queue.redis, catalog: try QueueCatalog([queue.manifest]))

        let empty = try await inspector.status(of: queue.name)
        #expect(empty.shards.map(\.shard) == [0, 1, 2])
        for shard in empty.shards {
            #expect(!shard.exists)
            #expect(shard.length == 0 && shard.pending == 0 && shard.delayed == 0 && shard.deadLetters == 0)
            #expect(shard.groups.isEmpty && shard.oldestPending == nil && shard.nextDueInMs == nil && shard.errors.isEmpty)
        }
        #expect(empty.totals.length == 0 && empty.totals.pending == 0 && empty.totals.consumers == 0)
        #expect(empty.totals.undelivered == 0 && empty.totals.oldestPendingIdleMs == nil)

        // A shard the manifest does not declare reads as zeros too, not as an error.
        let undeclared = try await inspector.status(of: QueueKeys(queue: queue.name, shard: 7))
        #expect(!undeclared.exists && undeclared.length == 0 && undeclared.errors.isEmpty)

        // One message on one shard: that shard counts it, the totals sum the shards.
        let sent = try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), shardKey: "acct-42"))
        let one = try await inspector.status(of: queue.name)
        #expect(one.shards.map(\.length) == (0..<3).map { $0 == sent.shard ? 1 : 0 })
        #expect(one.totals.length == 1 && one.totals.undelivered == 1)

        await #expect(throws: QueueError.unknownQueue("no-such-queue", known: [queue.name])) {
            try await inspector.status(of: "no-such-queue")
        }
    }

    @Test func aKeyOfTheWrongTypeIsReportedNotFatal() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await queue.redis.send("SET", queue.keys().delayed, "oops")
        let inspector = QueueInspector(redis: queue.redis, catalog: try QueueCatalog([queue.manifest]))
        let shard = try await inspector.status(of: queue.keys())
        #expect(shard.errors.count == 2)  // ZCARD and ZRANGE refused with WRONGTYPE
        #expect(shard.errors.allSatisfy { $0.contains("WRONGTYPE") })
        #expect(shard.length == 0)
    }
}

/// `QueueAlert`: a queue that fills with nobody draining it is flagged, one that is drained is not.
@Suite(.timeLimit(.minutes(2))) struct QueueAlertTests {
    @Test func aBacklogWithoutAConsumerIsFlaggedUntilAConsumerReadsIt() async throws {
        let queue = try await TestQueue { $0.concurrency = 1; $0.batchSize = 1 }
        defer { Task { await queue.cleanUp() } }
        let inspector = QueueInspector(redis: queue.redis, catalog: try QueueCatalog([queue.manifest]))
        #expect(try await inspector.status(of: queue.name).alerts.isEmpty, "an empty queue is never flagged")
        for n in 0..<3 { try await queue.enqueue("{\"n\":\(n)}") }
        let unread = try await inspector.status(of: queue.name)
        #expect(unread.alerts.map(\.kind) == [.noConsumer], "\(unread.alerts)")
        #expect(unread.alerts.first?.message.contains("3 message(s) waiting") == true, "\(unread.alerts)")
        // The oldest entry's age comes from the stream itself (by the Redis clock), for `not-draining`.
        let age = try #require(unread.shards[0].oldestEntryAgeMs)
        #expect(age >= 0 && age < 60_000)

        let release = Locked(false)
        let (consumer, task) = queue.consume { _ in
            while !release.current { try await Task.sleep(for: .milliseconds(20)) }
            return nil
        }
        try await eventually("a message in flight") { try await inspector.status(of: queue.name).totals.pending == 1 }
        let read = try await inspector.status(of: queue.name)
        #expect(read.totals.length == 3 && read.alerts.isEmpty, "a consumer is reading: \(read.alerts)")
        release.withLock { $0 = true }
        try await eventually("drained") { consumer.counters.handled == 3 }
        consumer.stop()
        try await task.value
    }

    func status(length: Int, undelivered: Int, oldestAgeMs: Int64?, consumerIdleMs: Int64?) -> QueueStatus {
        var shard = ShardStatus(queue: "q", shard: 0)
        (shard.exists, shard.length, shard.undelivered, shard.oldestEntryAgeMs) = (true, length, undelivered, oldestAgeMs)
        if let idle = consumerIdleMs {
            shard.groups = [GroupStatus(name: "workers", pending: 0, lag: undelivered, lastDeliveredID: "0-0", oldestPending: nil,
                                        consumers: [ConsumerStatus(name: "c", pending: 0, idleMs: idle)])]
        }
        return QueueStatus(queue: "q", observedAtMs: 0, shards: [shard])
    }

    @Test func aStalledOrNearlyFullBacklogIsFlaggedWithItsFigures() {
        var manifest = QueueManifest(name: "q")
        manifest.maxLength = 100
        manifest.visibilityTimeout = .seconds(30)
        let healthy = status(length: 10, undelivered: 5, oldestAgeMs: 20_000, consumerIdleMs: 100)
        #expect(QueueAlert.evaluate(healthy, manifest: manifest).isEmpty)

        let stalled = status(length: 10, undelivered: 5, oldestAgeMs: 301_000, consumerIdleMs: 100)
        #expect(QueueAlert.evaluate(stalled, manifest: manifest).map(\.kind) == [.notDraining])

        let quiet = status(length: 10, undelivered: 5, oldestAgeMs: 20_000, consumerIdleMs: 61_000)
        #expect(QueueAlert.evaluate(quiet, manifest: manifest).map(\.kind) == [.noConsumer])

        let full = status(length: 80, undelivered: 80, oldestAgeMs: 1_000, consumerIdleMs: 100)
        let alerts = QueueAlert.evaluate(full, manifest: manifest)
        #expect(alerts.map(\.kind) == [.nearlyFull])
        #expect(alerts.first?.message.contains("backlog 80 of max_length 100") == true, "\(alerts)")
    }
}
