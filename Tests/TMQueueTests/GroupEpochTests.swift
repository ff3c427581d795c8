import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// A group's messages are added without an epoch entry (`QueueScripts.enqueueGroups`): fetched at
/// epoch 1, settled and fenced as any message; and no chosen id can equal their drawn ids, so
/// `enqueue`'s `id_in_use` refusal loses nothing.
@Suite(.serialized) struct GroupEpochTests {
    /// Enqueues one group of one message and fetches it as consumer `c1` → (stream id, id, epoch).
    private func enqueueAndFetch(_ queue: TestQueue) async throws -> (sid: String, id: String, epoch: Int64) {
        let keys = queue.keys()
        _ = try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        let message = OutgoingMessage(payload: Array(#"{"trade":1}"#.utf8))
        for result in try await queue.producer.enqueueGroups(queue.name, [OutgoingGroup(key: "row:1", messages: [message])]) {
            #expect(try result.get() == .enqueued)
        }
        #expect(try await queue.redis.send("EXISTS", keys.epochs).int == 0, "no epoch written at enqueue")
        let reader = try await RedisClient(configuration: queue.redisConfiguration, name: "test-read")
        defer { reader.close() }
        let read = try await reader.withConnection { connection in
            try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 10, cursor: nil, wait: nil)
        }
        let entry = try #require(read.entries.first)
        let envelope = try MessageEnvelope(fields: entry.1)
        return (entry.0, envelope.id, entry.2)
    }

    private func complete(_ queue: TestQueue, _ sid: String, _ id: String, epoch: Int64) async throws -> String? {
        let arguments: [any RedisArgumentConvertible] = [QueueConsumer.group] + QueueScripts.completeArguments(
            streamID: sid, id: id, epoch: epoch, keyed: false, result: "", now: nowMillis(), ttlMillis: 60_000)
        let reply = try await queue.redis.run(QueueScripts.complete, keys: [queue.keys().stream, queue.keys().epochs], arguments: arguments)
        return reply.array?.first?.string
    }

    /// Fetched at epoch 1; once a reclaim raised it to 2, the first delivery's completion is stale
    /// and the second's settles it (entry and epoch gone).
    @Test func aGroupMessageWithoutAnEpochIsFetchedAtOneAndFenced() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let (sid, id, epoch) = try await enqueueAndFetch(queue)
        #expect(epoch == 1)
        let raised = try await queue.redis.run(QueueScripts.raiseEpochs, keys: [queue.keys().epochs], arguments: [id])
        #expect(raised.array?.first?.int == 2)
        #expect(try await complete(queue, sid, id, epoch: 1) == "stale")
        #expect(try await queue.streamLength() == 1)
        #expect(try await complete(queue, sid, id, epoch: 2) == "ok")
        #expect(try await queue.streamLength() == 0)
        #expect(try await queue.redis.send("HEXISTS", queue.keys().epochs, id).int == 0)
    }

    /// The same for a message `enqueue` or `enqueueBatch` numbers itself: no epoch entry at enqueue
    /// (a chosen id's entry is still written), fetched at epoch 1, a stale delivery fenced out.
    @Test func aDrawnIdOfEnqueueOrABatchHasNoEpochAndIsFenced() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        let keys = queue.keys()
        _ = try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        let lone = try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array(#"{"n":1}"#.utf8), key: "lone"))
        let batch = try await queue.producer.enqueueBatch(queue.name, (2...4).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8)) })
        let drawn = [lone.id] + (try batch.map { try $0.get().id })
        #expect(drawn.allSatisfy(MessageIDs.hasDrawnShape))
        #expect(try await queue.redis.send("EXISTS", keys.epochs).int == 0, "no epoch written for a drawn id")
        _ = try await queue.producer.enqueueBatch(queue.name, [OutgoingMessage(payload: Array("{}".utf8), id: "chosen-1")])
        #expect(try await queue.redis.send("HGET", keys.epochs, "chosen-1").string == "0", "a chosen id's entry: live for id_in_use")

        let reader = try await RedisClient(configuration: queue.redisConfiguration, name: "test-read")
        defer { reader.close() }
        let read = try await reader.withConnection { connection in
            try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 10, cursor: nil, wait: nil)
        }
        #expect(read.entries.count == 5)
        for entry in read.entries { #expect(entry.2 == 1, "fetched at epoch 1") }
        let first = try #require(read.entries.first)
        let id = try MessageEnvelope(fields: first.1).id
        #expect(id == lone.id)
        _ = try await queue.redis.run(QueueScripts.raiseEpochs, keys: [keys.epochs], arguments: [id])
        #expect(try await complete(queue, first.0, id, epoch: 1) == "stale")
        #expect(try await complete(queue, first.0, id, epoch: 2) == "ok")
        #expect(try await queue.redis.send("HEXISTS", keys.epochs, id).int == 0)
    }

    /// A chosen id equal to a queued group message's drawn id is refused before Redis (its shape is
    /// a drawn id's), as is any chosen id of that shape; one character off is a chosen id like any.
    @Test func aChosenIdCannotTakeADrawnIdsShape() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let message = OutgoingMessage(payload: Array(#"{"trade":1}"#.utf8))
        for result in try await queue.producer.enqueueGroups(queue.name, [OutgoingGroup(key: "row:1", messages: [message])]) {
            _ = try result.get()
        }
        let drawn = try #require(try await queue.redis.send("XRANGE", queue.keys().stream, "-", "+").array?.first?.array?[1].array?[1].string)
        #expect(MessageIDs.hasDrawnShape(drawn))
        await #expect(throws: QueueError.self) {
            try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), id: drawn))
        }
        #expect(try await queue.streamLength() == 1, "nothing added")
        #expect(!MessageIDs.hasDrawnShape(String(drawn.dropLast())))
        #expect(!MessageIDs.hasDrawnShape(drawn.uppercased()))
        #expect(!MessageIDs.hasDrawnShape(String(drawn.dropLast()) + "g"))
        #expect(try await !queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), id: String(drawn.dropLast()))).duplicate)
    }
}
