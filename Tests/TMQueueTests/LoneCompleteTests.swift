import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// `complete` for one message (its own path in the script, `retry`'s and `deadLetter`'s checks):
/// settled once — acked, deleted, its epoch dropped and its `done` record written — and refused
/// (`stale`, nothing written) at a stale epoch or when its entry is no longer pending.
@Suite(.serialized, .timeLimit(.minutes(2))) struct LoneCompleteTests {
    /// One keyed message enqueued and read by "c1" (its epoch raised to 1): (sid, id, key).
    func readOne(_ queue: TestQueue) async throws -> (sid: String, id: String, key: String) {
        let key = "k-" + UUID().uuidString
        let sent = try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array(#"{"lone":1}"#.utf8), key: key))
        let keys = queue.keys(sent.shard)
        #expect(sent.shard == 0)
        _ = try? await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        let read = try await queue.redis.run(QueueScripts.fetch, keys: [keys.stream, keys.epochs], arguments: [QueueConsumer.group, "c1", 10])
        let entry = try #require(read.array?.first?.array?.first?.array)
        #expect(entry[2].int == 1)
        return (try #require(entry[0].string), sent.id, key)
    }

    func complete(_ queue: TestQueue, _ message: (sid: String, id: String, key: String), epoch: Int64) async throws -> [String] {
        let keys = queue.keys()
        let arguments = [QueueConsumer.group as any RedisArgumentConvertible]
            + QueueScripts.completeArguments(streamID: message.sid, id: message.id, epoch: epoch, keyed: true, result: "r",
                                             now: 1_000, ttlMillis: 60_000)
        let reply = try await queue.redis.run(QueueScripts.complete, keys: [keys.stream, keys.epochs, keys.idempotency(message.key)], arguments: arguments)
        return (reply.array ?? []).map { $0.string ?? "?" }
    }

    func state(_ queue: TestQueue, _ message: (sid: String, id: String, key: String)) async throws -> (inStream: Int, pending: Int, epoch: String?, record: String?) {
        let keys = queue.keys()
        let inStream = try await queue.redis.send("XRANGE", keys.stream, message.sid, message.sid).array?.count ?? -1
        let pending = try await queue.redis.send("XPENDING", keys.stream, QueueConsumer.group).array?.first?.int ?? -1
        let epoch = try await queue.redis.send("HGET", keys.epochs, message.id).string
        let record = try await queue.redis.send("GET", keys.idempotency(message.key)).string
        return (inStream, Int(pending), epoch, record)
    }

    @Test func aLoneMessageIsSettledOnceAndItsRecordWritten() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        let message = try await readOne(queue)
        #expect(try await complete(queue, message, epoch: 1) == ["ok"])
        let after = try await state(queue, message)
        #expect(after.inStream == 0 && after.pending == 0 && after.epoch == nil)
        let record = try #require(after.record)
        #expect(record.contains(#""state":"done""#) && record.contains(#""result":"r""#))
        // Again (a lost reply's re-run): refused, nothing changed.
        #expect(try await complete(queue, message, epoch: 1) == ["stale"])
        #expect(try await state(queue, message).record == record)
    }

    @Test func aStaleEpochIsRefusedAndNothingWritten() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        let message = try await readOne(queue)
        // Reclaimed elsewhere meanwhile: the epoch moved on.
        _ = try await queue.redis.send("HINCRBY", queue.keys().epochs, message.id, 1)
        #expect(try await complete(queue, message, epoch: 1) == ["stale"])
        let after = try await state(queue, message)
        #expect(after.inStream == 1 && after.pending == 1 && after.epoch == "2")
        #expect(after.record?.contains(#""state":"done""#) != true)
    }

    /// Its epoch still matching but its entry no longer pending (acked by hand, entry left): refused
    /// — the record is not written and the entry is left — as `retry` and `deadLetter` refuse it.
    @Test func anEntryNoLongerPendingIsRefusedAtItsEpoch() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        let message = try await readOne(queue)
        #expect(try await queue.redis.send("XACK", queue.keys().stream, QueueConsumer.group, message.sid).int == 1)
        #expect(try await complete(queue, message, epoch: 1) == ["stale"])
        let after = try await state(queue, message)
        #expect(after.inStream == 1 && after.epoch == "1")
        #expect(after.record?.contains(#""state":"done""#) != true)
    }
}
