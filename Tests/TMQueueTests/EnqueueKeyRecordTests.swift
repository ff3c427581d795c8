import Foundation
import Testing
import TestSupport
import TMQueue
import TMRedis

/// The enqueue scripts check and record an idempotency key with one `SET NX GET` before their
/// other checks: a message refused after that (queue full, chosen id in use) must take the record
/// back, so the key is free for the next try; and only a chosen id is looked up as live. A drawn id
/// is written no epoch entry: a chosen id can never equal it (its shape is refused before Redis).
@Suite(.serialized) struct EnqueueKeyRecordTests {
    /// A keyed message refused by a full queue (one enqueue, and a batch) leaves no record: once
    /// there is room, the same key enqueues a new message rather than answering "duplicate".
    @Test func aKeyRefusedByAFullQueueIsFreeOnceThereIsRoom() async throws {
        let queue = try await TestQueue { $0.shards = 1; $0.maxLength = 1 }
        defer { Task { await queue.cleanUp() } }
        let first = try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), key: "first"))
        await #expect(throws: QueueError.self) {
            try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), key: "single"))
        }
        let batch = try await queue.producer.enqueueBatch(queue.name, [OutgoingMessage(payload: Array("{}".utf8), key: "batched")])
        #expect(throws: QueueError.self) { try batch[0].get() }
        #expect(try await queue.redis.send("EXISTS", queue.keys(0).idempotency("single")).int == 0)
        #expect(try await queue.redis.send("EXISTS", queue.keys(0).idempotency("batched")).int == 0)

        // Room again: both keys enqueue for real.
        _ = try await queue.redis.send("XDEL", queue.keys(0).stream, first.streamID ?? "")
        let single = try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), key: "single"))
        #expect(!single.duplicate)
        _ = try await queue.redis.send("XDEL", queue.keys(0).stream, single.streamID ?? "")
        let again = try await queue.producer.enqueueBatch(queue.name, [OutgoingMessage(payload: Array("{}".utf8), key: "batched")])
        #expect(try again[0].get().duplicate == false)
    }

    /// A keyed message whose chosen id is in use leaves no record either (one enqueue, and a batch).
    @Test func aKeyRefusedForAnIDInUseIsFreeAfterwards() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), id: "taken"))
        await #expect(throws: QueueError.self) {
            try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), key: "k1", id: "taken"))
        }
        let batch = try await queue.producer.enqueueBatch(queue.name, [OutgoingMessage(payload: Array("{}".utf8), key: "k2", id: "taken")])
        #expect(throws: QueueError.self) { try batch[0].get() }
        #expect(try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), key: "k1")).duplicate == false)
        #expect(try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), key: "k2")).duplicate == false)
    }

    /// A drawn id (never looked up) gets no epoch entry, yet a later message that chooses it is
    /// refused while the first is queued, by one enqueue and by a batch: by its shape, before Redis.
    @Test func aDrawnIDIsLiveForTheChosenIDsAfterIt() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        let drawn = try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), key: "a"))
        let batched = try await queue.producer.enqueueBatch(queue.name, [OutgoingMessage(payload: Array("{}".utf8), key: "b")])
        #expect(try await queue.redis.send("EXISTS", queue.keys(0).epochs).int == 0, "no epoch entry for a drawn id")
        for id in [drawn.id, try batched[0].get().id] {
            await #expect(throws: QueueError.self) {
                try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), id: id))
            }
            let again = try await queue.producer.enqueueBatch(queue.name, [OutgoingMessage(payload: Array("{}".utf8), id: id)])
            #expect(throws: QueueError.self) { try again[0].get() }
        }
        // The records written without cjson read back as every record does.
        let duplicate = try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), key: "a"))
        #expect(duplicate.duplicate && duplicate.id == drawn.id && duplicate.state == "queued")
        #expect(try await queue.redis.send("XLEN", queue.keys(0).stream).int == 2)
    }
}
