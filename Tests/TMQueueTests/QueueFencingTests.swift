import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// The fencing epoch at the settle scripts: once another consumer has taken a message over (its
/// epoch raised), the old delivery's complete, retry or dead-letter is refused as `stale` and changes
/// nothing — the entry stays pending with its new owner — while the current epoch settles it.
@Suite(.timeLimit(.minutes(2))) struct QueueFencingTests {
    enum Settle: String, CaseIterable, Sendable { case complete, retry, deadLetter }

    /// A keyed message read by "c1", then taken over by "c2" as the reclaim script does (claim + epoch raised).
    struct TakenOver {
        let sid: String
        let id: String
        let key: String
        let staleEpoch: Int64
        let epoch: Int64
    }

    func takeOver(_ queue: TestQueue) async throws -> TakenOver {
        let keys = queue.keys()
        let key = "fenced-\(UUID().uuidString)"
        let sent = try await queue.enqueue(#"{"n":1}"#, key: key)
        try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        let read = try await queue.redis.send("XREADGROUP", "GROUP", QueueConsumer.group, "c1", "COUNT", 1, "STREAMS", keys.stream, ">")
        let sid = try #require(read.array?.first?.array?[1].array?.first?.array?.first?.string)
        let stale = try #require(try await queue.redis.run(QueueScripts.raiseEpochs, keys: [keys.epochs], arguments: [sent.id]).array?.first?.int)
        try await queue.redis.send("XCLAIM", keys.stream, QueueConsumer.group, "c2", 0, sid)
        let epoch = try #require(try await queue.redis.send("HINCRBY", keys.epochs, sent.id, 1).int)
        return TakenOver(sid: sid, id: sent.id, key: key, staleEpoch: stale, epoch: epoch)
    }

    /// Runs one settle script for `message` as a consumer holding `epoch` would.
    func settle(_ kind: Settle, _ message: TakenOver, epoch: Int64, on queue: TestQueue) async throws -> String? {
        let keys = queue.keys()
        let now = nowMillis()
        let reply: RedisValue
        switch kind {
        case .complete:
            // One message's completion: a reply of one element.
            let replies = try await queue.redis.run(
                QueueScripts.complete, keys: [keys.stream, keys.epochs, keys.idempotency(message.key)],
                arguments: [QueueConsumer.group as any RedisArgumentConvertible] + QueueScripts.completeArguments(streamID: message.sid, id: message.id, epoch: epoch,
                                                                                  keyed: true, result: "result", now: now, ttlMillis: 60_000))
            reply = try #require(replies.array?.count == 1 ? replies.array?.first : nil)
        case .retry:
            let member = #"{"id":"\#(message.id)","key":"\#(message.key)","payload":"{\"n\":1}","attempt":"1","enqueued_at":"0","history":"[]"}"#
            reply = try await queue.redis.run(
                QueueScripts.retry, keys: [keys.stream, keys.delayed, keys.epochs],
                arguments: [QueueConsumer.group, message.sid, message.id, epoch, now + 60_000, member])
        case .deadLetter:
            reply = try await queue.redis.run(
                QueueScripts.deadLetter, keys: [keys.stream, keys.deadLetters, keys.epochs, keys.idempotency(message.key)],
                arguments: [QueueConsumer.group, message.sid, message.id, epoch, message.key, #"{"n":1}"#, 1, now, "[]",
                            "non_retryable", "refused", now, queue.name, "0-0", 60_000])
        }
        return reply.string
    }

    /// What a settle leaves behind: (stream length, pending entries, delayed, dead letters, key record state).
    func traces(_ queue: TestQueue, _ message: TakenOver) async throws -> (stream: Int, pending: Int, delayed: Int, dead: Int, state: String?) {
        let keys = queue.keys()
        let pending = try await queue.redis.send("XPENDING", keys.stream, QueueConsumer.group).array?.first?.int ?? -1
        let delayed = try await queue.redis.send("ZCARD", keys.delayed).int ?? -1
        let dead = try await queue.redis.send("XLEN", keys.deadLetters).int ?? -1
        let record = try await queue.redis.send("GET", keys.idempotency(message.key)).string
        let state = try record.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }?["state"] as? String
        return (try await queue.streamLength(), Int(pending), Int(delayed), Int(dead), state)
    }

    @Test(arguments: Settle.allCases)
    func aSettleWithAStaleEpochIsRefusedAndChangesNothing(_ kind: Settle) async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let message = try await takeOver(queue)
        #expect(message.epoch > message.staleEpoch)

        #expect(try await settle(kind, message, epoch: message.staleEpoch, on: queue) == "stale")
        let untouched = try await traces(queue, message)
        #expect(untouched.stream == 1 && untouched.pending == 1, "the entry stays pending for its new owner: \(untouched)")
        #expect(untouched.delayed == 0 && untouched.dead == 0 && untouched.state == "queued", "\(untouched)")
        let owner = try await queue.redis.send("XPENDING", queue.keys().stream, QueueConsumer.group, "-", "+", 1)
        #expect(owner.array?.first?.array?[1].string == "c2")

        // The consumer holding the current epoch settles it.
        #expect(try await settle(kind, message, epoch: message.epoch, on: queue) == "ok")
        let settled = try await traces(queue, message)
        #expect(settled.stream == 0 && settled.pending == 0, "\(settled)")
        switch kind {
        case .complete: #expect(settled.state == "done" && settled.delayed == 0 && settled.dead == 0, "\(settled)")
        case .retry: #expect(settled.delayed == 1 && settled.dead == 0, "\(settled)")
        case .deadLetter: #expect(settled.dead == 1 && settled.state == "dead" && settled.delayed == 0, "\(settled)")
        }
    }

    /// A foreign entry's dead letter carries a history built by the encoder: a consumer name with a
    /// quote and a backslash still makes valid JSON that reads back as written.
    @Test func aForeignEntrysHistoryIsValidJSONWhateverTheConsumerIsCalled() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await queue.redis.send("XADD", queue.keys().stream, "*", "payload", "written by hand")
        var options = QueueConsumer.Options()
        options.consumerName = #"host "7" \ worker"#
        let (consumer, task) = queue.consume(options: options) { _ in nil }
        try await eventually("the foreign entry dead-lettered") { try await queue.deadLetters().count == 1 }
        consumer.stop()
        try await task.value
        let letter = try await queue.deadLetters()[0].fields
        #expect(letter["reason"] == "malformed")
        let history = try JSONDecoder().decode([AttemptRecord].self, from: Data((letter["history"] ?? "").utf8))
        #expect(history.count == 1)
        #expect(history.first?.consumer == options.consumerName)
        #expect(history.first?.kind == .malformed)
        #expect(history.first?.error == letter["error"])
    }
}
