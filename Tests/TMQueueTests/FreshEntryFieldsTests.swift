import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// A fresh message's stream entry carries `id`, `key`, `payload` and `enqueued_at` only — from every
/// enqueue (one message, a batch, groups): its `attempt` (0) and `history` ([]) are what their
/// absence reads as, so a consumer still sees attempt 1 with no history, and a retried message
/// (which carries both) its failures.
@Suite(.timeLimit(.minutes(2))) struct FreshEntryFieldsTests {
    @Test func freshEntriesCarryNoDefaultsAndAreReadAsFirstAttempts() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let tag = UUID().uuidString
        let single = try await queue.enqueue(#"{"n":1}"#, key: "one-\(tag)")
        let batch = try await queue.producer.enqueueBatch(queue.name, [
            OutgoingMessage(payload: Array(#"{"n":2}"#.utf8), key: "two-\(tag)"), OutgoingMessage(payload: Array(#"{"n":3}"#.utf8)),
        ]).map { try $0.get() }
        let groups = try await queue.producer.enqueueGroups(queue.name, [
            OutgoingGroup(key: "group-\(tag)", messages: [OutgoingMessage(payload: Array(#"{"n":4}"#.utf8), key: "four-\(tag)"),
                                                          OutgoingMessage(payload: Array(#"{"n":5}"#.utf8), key: "five-\(tag)")]),
        ])
        for group in groups { _ = try group.get() }
        #expect(!single.duplicate && batch.count == 2 && groups.count == 1)

        let entries = try await queue.redis.send("XRANGE", queue.keys().stream, "-", "+").array ?? []
        #expect(entries.count == 5)
        for entry in entries {
            let fields = entry.array?[1].array?.compactMap(\.string) ?? []
            let names = stride(from: 0, to: fields.count, by: 2).map { fields[$0] }
            #expect(names == ["id", "key", "payload", "enqueued_at"], "\(fields)")
            let enqueuedAt = fields.count == 8 ? Int64(fields[7]) ?? 0 : 0
            #expect(enqueuedAt > 1_700_000_000_000, "the enqueue time is still written: \(fields)")
        }

        // Each message fails once (a retry: back through the delayed set, with its failure on record), then succeeds.
        struct Flaky: Error {}
        let seen = Locked<[String: [(attempt: Int, history: Int)]]>([:])
        let (consumer, task) = queue.consume { delivery in
            seen.withLock { $0[delivery.id, default: []].append((delivery.attempt, delivery.history.count)) }
            if delivery.attempt == 1 { throw Flaky() }
            return "ok"
        }
        try await eventually("all five handled") { consumer.counters.handled == 5 }
        consumer.stop()
        try await task.value
        let deliveries = seen.current
        #expect(deliveries.count == 5)
        for (id, list) in deliveries {
            #expect(list.map(\.attempt) == [1, 2], "message \(id)")
            #expect(list.map(\.history) == [0, 1], "message \(id)")
        }
    }
}
