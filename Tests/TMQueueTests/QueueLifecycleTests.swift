import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// The life of a message through the runtime, against the harness's real Redis.
@Suite(.timeLimit(.minutes(2))) struct QueueLifecycleTests {
    @Test func aDuplicateEnqueueReturnsTheFirstID() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let first = try await queue.enqueue(#"{"order":1}"#, key: "order-1")
        let second = try await queue.enqueue(#"{"order":1,"resent":true}"#, key: "order-1")
        #expect(!first.duplicate)
        #expect(second.duplicate)
        #expect(second.id == first.id)
        #expect(second.state == "queued")
        #expect(try await queue.streamLength() == 1)
        // Without a key, every enqueue is a new message.
        let a = try await queue.enqueue("{}")
        let b = try await queue.enqueue("{}")
        #expect(a.id != b.id)
    }

    @Test func racingProducersWithOneKeyEnqueueOnce() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let results = try await withThrowingTaskGroup(of: EnqueueResult.self) { group in
            for i in 0..<20 {
                group.addTask {
                    let client = try await RedisClient(configuration: queue.redisConfiguration)
                    defer { client.close() }
                    let producer = QueueProducer(redis: client, catalog: try QueueCatalog([queue.manifest]))
                    return try await producer.enqueue(queue.name, OutgoingMessage(payload: Array("{\"n\":\(i)}".utf8), key: "same"))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { !$0.duplicate }.count == 1)
        #expect(Set(results.map(\.id)).count == 1)
        #expect(try await queue.streamLength() == 1)
    }

    @Test func badInputIsRefusedWithTheReasonAndNothingIsWritten() async throws {
        let queue = try await TestQueue { $0.maxPayloadBytes = 100; $0.maxLength = 2 }
        defer { Task { await queue.cleanUp() } }
        await #expect(throws: QueueError.self) { try await queue.enqueue("{not json") }
        await #expect(throws: QueueError.payloadTooLarge(queue: queue.name, bytes: 202, limit: 100)) {
            try await queue.enqueue("\"" + String(repeating: "x", count: 200) + "\"")
        }
        await #expect(throws: QueueError.self) { try await queue.producer.enqueue("no-such-queue", OutgoingMessage(payload: Array("{}".utf8))) }
        #expect(try await queue.streamLength() <= 0)

        // Backpressure: at max_length the enqueue is refused, and nothing is trimmed.
        try await queue.enqueue(#"{"n":1}"#)
        try await queue.enqueue(#"{"n":2}"#, delay: .seconds(60))
        do {
            try await queue.enqueue(#"{"n":3}"#)
            Issue.record("a full queue must refuse")
        } catch let error as QueueError {
            guard case .queueFull(_, _, let backlog, let limit) = error else { throw error }
            #expect(backlog == 2 && limit == 2)
            #expect("\(error)".contains("nothing was enqueued"))
        }
        #expect(try await queue.streamLength() == 1)
    }

    @Test func aDelayedMessageIsNotDeliveredEarly() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let started = Locked<[String: ContinuousClock.Instant]>([:])
        let (consumer, task) = queue.consume { delivery in
            started.withLock { $0[delivery.id] = .now }
            return nil
        }
        let enqueuedAt = ContinuousClock.now
        let delayed = try await queue.enqueue(#"{"when":"later"}"#, delay: .milliseconds(1500))
        let immediate = try await queue.enqueue(#"{"when":"now"}"#)
        #expect(delayed.streamID == nil)
        try await eventually("both handled") { started.current.count == 2 }
        consumer.stop()
        try await task.value
        let times = started.current
        // Exact: the due time is rounded up and the promoting "now" down (`QueueClockReading`), the
        // producer reads the wall clock after `enqueuedAt` and the handler starts after the promotion
        // (the wall and monotonic clocks run at one rate; only a step of the wall clock could differ).
        #expect(times[delayed.id]! - enqueuedAt >= .milliseconds(1500))
        #expect(times[immediate.id]! < times[delayed.id]!)
    }

    @Test func failingTwiceThenSucceedingTakesThreeAttemptsWithinTheBackoffBounds() async throws {
        let queue = try await TestQueue { $0.backoff = .init(base: .milliseconds(200), cap: .milliseconds(300), jitter: .full) }
        defer { Task { await queue.cleanUp() } }
        struct Flaky: Error {}
        let attempts = Locked<[(attempt: Int, at: ContinuousClock.Instant, history: Int)]>([])
        let (consumer, task) = queue.consume { delivery in
            attempts.withLock { $0.append((delivery.attempt, .now, delivery.history.count)) }
            if delivery.attempt < 3 { throw Flaky() }
            return #"{"placed":true}"#
        }
        let sent = try await queue.enqueue(#"{"order":7}"#, key: "flaky-7")
        try await eventually("handled") { consumer.counters.handled == 1 }
        consumer.stop()
        try await task.value
        let seen = attempts.current
        #expect(seen.map(\.attempt) == [1, 2, 3])
        #expect(seen.map(\.history) == [0, 1, 2])
        #expect(consumer.counters.retried == 2)
        // Full jitter: each delay is within [0, min(cap, base * 2^(n-1))] (+ promotion latency); the bound
        // only catches a backoff gone far off, never a slow machine.
        for i in 1..<seen.count {
            let gap = seen[i].at - seen[i - 1].at
            #expect(gap <= .milliseconds(300) + .seconds(3), "retry \(i) came after \(gap)")  // wide: a busy machine promotes late
        }
        // The outcome is recorded under the key: a duplicate is answered from it.
        let duplicate = try await queue.enqueue(#"{"order":7}"#, key: "flaky-7")
        #expect(duplicate.duplicate && duplicate.id == sent.id)
        #expect(duplicate.state == "done")
        #expect(duplicate.result == #"{"placed":true}"#)
        #expect(try await queue.streamLength() == 0)
    }

    @Test func alwaysFailingEndsInTheDLQWithTheWholeHistory() async throws {
        let queue = try await TestQueue { $0.maxDeliveries = 3 }
        defer { Task { await queue.cleanUp() } }
        struct BrokerDown: Error, CustomStringConvertible { var description: String { "broker unavailable (503)" } }
        let (consumer, task) = queue.consume { _ in throw BrokerDown() }
        let sent = try await queue.enqueue(#"{"account":"a-1"}"#, key: "sync:a-1:slot")
        try await eventually("dead-lettered") { consumer.counters.deadLettered == 1 }
        consumer.stop()
        try await task.value
        let dead = try await queue.deadLetters()
        #expect(dead.count == 1)
        let letter = dead[0].fields
        #expect(letter["id"] == sent.id)
        #expect(letter["key"] == "sync:a-1:slot")
        #expect(letter["payload"] == #"{"account":"a-1"}"#)
        #expect(letter["reason"] == "exhausted")
        let history = try JSONDecoder().decode([AttemptRecord].self, from: Data(letter["history"]!.utf8))
        #expect(history.map(\.attempt) == [1, 2, 3])
        #expect(history.allSatisfy { $0.error == "broker unavailable (503)" && $0.consumer == consumer.options.consumerName })
        #expect(try await queue.streamLength() == 0)
        let duplicate = try await queue.enqueue(#"{"account":"a-1"}"#, key: "sync:a-1:slot")
        #expect(duplicate.duplicate && duplicate.state == "dead")
    }

    @Test func aNonRetryableErrorDeadLettersAfterOneAttempt() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        struct TokenExpired: RetryClassifying, CustomStringConvertible {
            var isRetryable: Bool { false }
            var description: String { "token expired: the account needs its user" }
        }
        let calls = Locked(0)
        let (consumer, task) = queue.consume { _ in
            calls.withLock { $0 += 1 }
            throw TokenExpired()
        }
        try await queue.enqueue(#"{"account":"a-2"}"#)
        try await eventually("dead-lettered") { consumer.counters.deadLettered == 1 }
        consumer.stop()
        try await task.value
        #expect(calls.current == 1)
        let letter = try await queue.deadLetters()[0].fields
        #expect(letter["reason"] == "non_retryable")
        #expect(letter["error"] == "token expired: the account needs its user")
    }

    @Test func malformedAndInvalidMessagesGoToTheDLQWithTheReasonAndTheQueueMovesOn() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        struct Order: Decodable { let account_id: String; let quantity: Int }
        let handled = Locked<[Int]>([])
        let (consumer, task) = queue.consume { delivery in
            let order = try delivery.decode(Order.self)
            handled.withLock { $0.append(order.quantity) }
            return nil
        }
        // Written around the producer (which refuses non-JSON), as a buggy producer elsewhere might.
        try await queue.redis.send("XADD", queue.keys().stream, "*", "id", "raw-1", "key", "", "payload", "{oops",
                                   "attempt", "0", "enqueued_at", "0", "history", "[]")
        try await queue.redis.send("XADD", queue.keys().stream, "*", "payload", "no id field at all")
        try await queue.enqueue(#"{"account_id":"a","quantity":"ten"}"#)
        try await queue.enqueue(#"{"quantity":5}"#)
        try await queue.enqueue(#"{"account_id":"a","quantity":3}"#)
        try await eventually("all settled") { consumer.counters.deadLettered == 4 && handled.current == [3] }
        consumer.stop()
        try await task.value
        let letters = try await queue.deadLetters().map(\.fields)
        let byReason = Dictionary(grouping: letters, by: { $0["reason"] ?? "" })
        #expect(byReason["malformed"]?.count == 2)
        #expect(byReason["invalid"]?.count == 2)
        let errors = letters.compactMap { $0["error"] }
        #expect(errors.contains("payload is not valid JSON"))
        #expect(errors.contains { $0.contains("quantity") && $0.contains("Int") })
        #expect(errors.contains { $0.contains("account_id: required field is missing") })
    }

    @Test func heartbeatsKeepALongHandlerFromBeingReclaimedWithoutCountingDeliveries() async throws {
        // A handler running 2.5 visibility timeouts; heartbeats every third of one. Generous margins:
        // the suite shares 2 cores with soak tests.
        let queue = try await TestQueue { $0.visibilityTimeout = .seconds(3) }
        defer { Task { await queue.cleanUp() } }
        let runs = Locked<[(consumer: String, deliveries: Int, epoch: Int64)]>([])
        var options = QueueConsumer.Options()
        options.reclaimInterval = .milliseconds(200)
        let handler: QueueHandler = { delivery in
            runs.withLock { $0.append(("", delivery.deliveries, delivery.epoch)) }
            try await Task.sleep(for: .milliseconds(7500))
            return nil
        }
        let (first, firstTask) = queue.consume(options: options, handler)
        let (second, secondTask) = queue.consume(options: options, handler)
        try await queue.enqueue(#"{"slow":true}"#)
        try await eventually("handled") { first.counters.handled + second.counters.handled == 1 }
        first.stop(); second.stop()
        try await firstTask.value
        try await secondTask.value
        #expect(runs.current.count == 1)
        #expect(runs.current.first?.deliveries == 1)
        #expect(first.counters.reclaimed + second.counters.reclaimed == 0)
    }
}

/// The fixes a review found, each pinned by a test.
@Suite(.timeLimit(.minutes(2))) struct QueueEdgeCaseTests {
    @Test func aSettleScriptRunTwiceAfterALostReplyChangesNothing() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let keys = queue.keys()
        let sent = try await queue.enqueue(#"{"n":1}"#)
        try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        let read = try await queue.redis.send("XREADGROUP", "GROUP", QueueConsumer.group, "c1", "COUNT", 1, "STREAMS", keys.stream, ">")
        let sid = try #require(read.array?.first?.array?[1].array?.first?.array?.first?.string)
        let epoch = try #require(try await queue.redis.send("HINCRBY", keys.epochs, sent.id, 1).int)
        let member = #"{"id":"\#(sent.id)","key":"","payload":"{\"n\":1}","attempt":"1","enqueued_at":"0","history":"[]"}"#
        let retry: [any RedisArgumentConvertible] = [QueueConsumer.group, sid, sent.id, epoch, 0, member]
        // The first run's reply is "lost": the consumer sends the same script again.
        let first = try await queue.redis.run(QueueScripts.retry, keys: [keys.stream, keys.delayed, keys.epochs], arguments: retry)
        let again = try await queue.redis.run(QueueScripts.retry, keys: [keys.stream, keys.delayed, keys.epochs], arguments: retry)
        #expect(first.string == "ok")
        #expect(again.string == "stale")
        #expect(try await queue.redis.send("ZCARD", keys.delayed).int == 1)
        #expect(try await queue.streamLength() == 0)
    }

    @Test func aForeignEntryLeftPendingDoesNotStopTheShard() async throws {
        let queue = try await TestQueue { $0.visibilityTimeout = .seconds(1) }
        defer { Task { await queue.cleanUp() } }
        // A foreign entry delivered to a consumer that died before dead-lettering it.
        try await queue.redis.send("XGROUP", "CREATE", queue.keys().stream, QueueConsumer.group, "0", "MKSTREAM")
        try await queue.redis.send("XADD", queue.keys().stream, "*", "payload", "written by hand")
        try await queue.redis.send("XREADGROUP", "GROUP", QueueConsumer.group, "ghost", "COUNT", 10, "STREAMS", queue.keys().stream, ">")
        let handled = Locked(0)
        var options = QueueConsumer.Options()
        options.reclaimInterval = .milliseconds(100)
        let (consumer, task) = queue.consume(options: options) { _ in
            handled.withLock { $0 += 1 }
            return nil
        }
        try await queue.enqueue(#"{"n":1}"#)
        try await eventually("the good message handled and the foreign one buried") {
            let buried = try await queue.deadLetters().count
            return handled.current == 1 && buried == 1
        }
        consumer.stop()
        try await task.value
        #expect(try await queue.deadLetters()[0].fields["reason"] == "malformed")
    }

    @Test func aReplayedMessageFencesAboveItsEarlierDeliveries() async throws {
        let queue = try await TestQueue { $0.maxDeliveries = 2 }
        defer { Task { await queue.cleanUp() } }
        struct Down: Error {}
        let epochs = Locked<[Int64]>([])
        let failing = Locked(true)
        let (consumer, task) = queue.consume { delivery in
            epochs.withLock { $0.append(delivery.epoch) }
            if failing.current { throw Down() }
            return nil
        }
        try await queue.enqueue(#"{"n":1}"#)
        try await eventually("dead-lettered") { consumer.counters.deadLettered == 1 }
        failing.withLock { $0 = false }
        let letters = DeadLetterQueue(redis: queue.redis, manifest: queue.manifest)
        let dead = try await letters.list()
        _ = try await letters.replay(ids: dead.map(\.id))
        try await eventually("handled after replay") { consumer.counters.handled == 1 }
        consumer.stop()
        try await task.value
        let seen = epochs.current
        #expect(seen == seen.sorted() && Set(seen).count == seen.count, "epochs \(seen) must keep rising across the replay")
    }

    @Test func enqueueBatchIsOneRoundTripAndKeepsOrderAndErrors() async throws {
        let queue = try await TestQueue { $0.maxLength = 3 }
        defer { Task { await queue.cleanUp() } }
        let messages = (0..<5).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8), key: "k\($0 % 4)") }
            + [OutgoingMessage(payload: [0x7B, 0x00, 0x7D, 0x00])]
        let results = try await queue.producer.enqueueBatch(queue.name, messages)
        #expect(results.count == 6)
        #expect(try results[0].get().duplicate == false)
        #expect(try results[2].get().duplicate == false)
        #expect(throws: QueueError.self) { try results[3].get() }  // the fourth exceeds max_length 3
        #expect(try results[4].get().duplicate == true)  // k0 again
        #expect(throws: QueueError.self) { try results[5].get() }  // UTF-16, not UTF-8 JSON
        #expect(try await queue.streamLength() == 3)
    }
}

extension QueueEdgeCaseTests {
    @Test func deadConsumersAreForgottenButOwnersOfPendingWorkAreKept() async throws {
        let queue = try await TestQueue { $0.visibilityTimeout = .seconds(60) }
        defer { Task { await queue.cleanUp() } }
        let keys = queue.keys()
        try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        try await queue.enqueue(#"{"n":1}"#)
        try await queue.redis.send("XREADGROUP", "GROUP", QueueConsumer.group, "owns-work", "COUNT", 1, "STREAMS", keys.stream, ">")
        try await queue.redis.send("XGROUP", "CREATECONSUMER", keys.stream, QueueConsumer.group, "long-gone")
        try await Task.sleep(for: .milliseconds(300))
        var options = QueueConsumer.Options()
        options.forgetConsumersAfter = .milliseconds(200)
        let (consumer, task) = queue.consume(options: options) { _ in nil }
        try await eventually("the silent consumer forgotten") {
            let names = try await queue.redis.send("XINFO", "CONSUMERS", keys.stream, QueueConsumer.group).array ?? []
            let listed = names.compactMap { $0.array?[1].string }
            return !listed.contains("long-gone")
        }
        consumer.stop()
        try await task.value
        let remaining = (try await queue.redis.send("XINFO", "CONSUMERS", keys.stream, QueueConsumer.group).array ?? [])
            .compactMap { entry -> String? in entry.array?[1].string }
        #expect(remaining.contains("owns-work"))
    }
}

extension QueueEdgeCaseTests {
    @Test func aBacklogIsReadWithEpochsInOneStepAndBadEntriesInItStillGoToTheDLQ() async throws {
        let queue = try await TestQueue { $0.batchSize = 2; $0.concurrency = 2 }
        defer { Task { await queue.cleanUp() } }
        // A backlog before any consumer: full batches switch the fetcher to the one-step read.
        var ids: [String] = []
        for n in 0..<7 { ids.append(try await queue.enqueue("{\"n\":\(n)}").id) }
        try await queue.redis.send("XADD", queue.keys().stream, "*", "payload", "no id field")
        try await queue.redis.send("XADD", queue.keys().stream, "*", "id", "raw-2", "key", "", "payload", "{oops",
                                   "attempt", "0", "enqueued_at", "0", "history", "[]")
        for n in 7..<10 { ids.append(try await queue.enqueue("{\"n\":\(n)}").id) }
        let seen = Locked<[String: Int64]>([:])
        let (consumer, task) = queue.consume { delivery in
            seen.withLock { $0[delivery.id] = delivery.epoch }
            return nil
        }
        try await eventually("all settled") { consumer.counters.handled == 10 && consumer.counters.deadLettered == 2 }
        consumer.stop()
        try await task.value
        #expect(Set(seen.current.keys) == Set(ids))
        #expect(seen.current.values.allSatisfy { $0 == 1 })
        #expect(try await queue.streamLength() == 0)
        #expect(Set(try await queue.deadLetters().compactMap { $0.fields["reason"] }) == ["malformed"])
    }
}
