import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// The `done` record of a keyed message is written by the settling side (`QueueScripts.completeArguments`)
/// and stored by `complete` as given: whatever its handler's result holds (quotes, backslashes, line
/// breaks, non-ASCII), the record reads back as that result, and an unkeyed message leaves no record.
@Suite(.timeLimit(.minutes(2))) struct CompletionRecordTests {
    @Test func aResultWithCharactersJSONMustEscapeReadsBackAsWritten() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let result = "order \"42\" placed\\ at 10:15\nnext line\ttab — ünïcode ✓ \u{1}"
        let key = "order-\(UUID().uuidString)"
        let sent = try await queue.enqueue(#"{"order":42}"#, key: key)
        let plain = try await queue.enqueue(#"{"order":43}"#)
        let (consumer, task) = queue.consume { delivery in delivery.key == key ? result : "unkeyed result" }
        try await eventually("both messages settled") {
            guard consumer.counters.handled == 2 else { return false }
            return try await queue.streamLength() == 0
        }
        consumer.stop()
        try await task.value

        let record = try #require(try await queue.producer.record(queue: queue.name, key: key))
        #expect(record.id == sent.id)
        #expect(record.state == .done)
        #expect(record.result == result)
        // The stored text is JSON (what every reader parses), with the settling time as a number.
        let text = try #require(try await queue.redis.send("GET", queue.keys().idempotency(key)).string)
        let parsed = try JSONValue.parse(text)
        #expect(parsed["state"] == .string("done") && parsed["id"] == .string(sent.id))
        guard case .number(let at) = parsed["at"] else { Issue.record("no numeric time in \(text)"); return }
        #expect((Int64(at) ?? 0) > 0)
        // The unkeyed one: settled (its epoch gone), no record anywhere on the shard.
        #expect(try await queue.redis.send("HEXISTS", queue.keys().epochs, plain.id).int == 0)
        let records = try await queue.redis.send("KEYS", queue.keys().idempotency("*"))
        #expect(records.array?.count == 1)
    }

    @Test func aKeyedCompletionWithoutAResultRecordsNone() async throws {
        let arguments = QueueScripts.completeArguments(streamID: "1-1", id: "m1", epoch: 3, keyed: true, result: "", now: 1_700_000_000_123, ttlMillis: 60_000)
        let record = try JSONValue.parse(try #require(arguments[3] as? String))
        #expect(record == .object([("id", .string("m1")), ("state", .string("done")), ("at", .number("1700000000123"))]))
        let unkeyed = QueueScripts.completeArguments(streamID: "1-1", id: "m1", epoch: 3, keyed: false, result: "r", now: 1, ttlMillis: 60_000)
        #expect(unkeyed[3] as? String == "", "an unkeyed message has no record to write")
    }
}
