import Foundation
import Testing
import TestSupport
import TMQueue
import TMRedis

/// `enqueueBatch` is one script call per shard, yet each message is checked exactly as a single
/// `enqueue` would check it: idempotency keys (also against earlier messages of the same batch),
/// `max_length` backpressure (counting the messages added before it), delays and shards.
@Suite(.serialized) struct EnqueueBatchTests {
    /// 40 messages over 3 shards with repeated keys, delays and full shards: a batch and the same
    /// messages enqueued one by one end in the same outcomes and the same queue contents — also when
    /// a shard's part goes in several script calls (`messagesPerCall` 4).
    @Test(arguments: [64, 4]) func aBatchEnqueuesExactlyAsOneCallPerMessageWould(messagesPerCall: Int) async throws {
        let configure: (inout QueueManifest) -> Void = { $0.shards = 3; $0.maxLength = 9 }
        let single = try await TestQueue(configure)
        let batched = try await TestQueue(configure)
        defer { Task { await single.cleanUp(); await batched.cleanUp() } }
        var producer = batched.producer
        producer.messagesPerCall = messagesPerCall
        let messages = (0..<40).map { i in
            OutgoingMessage(payload: Array("{\"n\":\(i)}".utf8), key: i % 2 == 0 ? "k\(i % 14)" : nil,
                            delay: i % 5 == 0 ? .seconds(60) : nil, shardKey: "s\(i % 3)")
        }
        // A key taken before the batch: its messages are duplicates of that one.
        let earlier = OutgoingMessage(payload: Array(#"{"n":-1}"#.utf8), key: "k4", shardKey: "s1")

        var one: [Result<EnqueueResult, Error>] = []
        try await single.producer.enqueue(single.name, earlier)
        for message in messages {
            do { one.append(.success(try await single.producer.enqueue(single.name, message))) } catch { one.append(.failure(error)) }
        }
        try await batched.producer.enqueue(batched.name, earlier)
        let many = try await producer.enqueueBatch(batched.name, messages)

        let expected = describe(one)
        #expect(describe(many) == expected)
        #expect(expected.contains { $0.hasPrefix("duplicate of #") }, "a key repeated inside the batch")
        #expect(expected.contains("duplicate of earlier"), "a key taken before the batch")
        #expect(expected.contains { $0.hasPrefix("full") }, "backpressure refused some")
        #expect(expected.contains { $0.hasSuffix("delayed") }, "some were delayed")
        for shard in 0..<3 {
            for (name, key) in [("stream", \QueueKeys.stream), ("delayed", \QueueKeys.delayed)] {
                let command = name == "stream" ? "XLEN" : "ZCARD"
                let a = try await single.redis.send(command, single.keys(shard)[keyPath: key]).int
                let b = try await batched.redis.send(command, batched.keys(shard)[keyPath: key]).int
                #expect(a == b, "shard \(shard) \(name)")
            }
            let ready = try await batched.redis.send("XLEN", batched.keys(shard).stream).int ?? 0
            let delayed = try await batched.redis.send("ZCARD", batched.keys(shard).delayed).int ?? 0
            #expect(ready + delayed <= 9, "max_length 9 held on shard \(shard)")
        }
        // Records of delayed keyed messages outlive their delay, as with one enqueue.
        let delayedKey = batched.keys(try many[0].get().shard).idempotency("k0")  // message 0: key k0, 60 s delay
        #expect(try await batched.redis.send("PTTL", delayedKey).int ?? 0 > batched.manifest.retention.completed.milliseconds)
        #expect(try await batched.redis.send("GET", delayedKey).string?.contains("\"queued\"") == true)
    }

    /// A chosen id live before the batch, or taken by an earlier message of the same batch, is
    /// refused with `messageIDInUse` (as `enqueue` refuses it); the other messages go in.
    @Test func aBatchRefusesMessageIDsAlreadyInUse() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), id: "taken"))
        let results = try await queue.producer.enqueueBatch(queue.name, [
            OutgoingMessage(payload: Array("{}".utf8), id: "taken"),
            OutgoingMessage(payload: Array("{}".utf8), id: "fresh"),
            OutgoingMessage(payload: Array("{}".utf8), id: "fresh"),
            OutgoingMessage(payload: Array("{}".utf8)),
        ])
        let outcomes = results.map { result -> String in
            switch result {
            case .success(let r): return "ok \(r.id == "fresh" ? "fresh" : "new")"
            case .failure(QueueError.messageIDInUse(_, let id)): return "in use \(id)"
            case .failure(let error): return "error \(error)"
            }
        }
        #expect(outcomes == ["in use taken", "ok fresh", "in use fresh", "ok new"])
        #expect(try await queue.redis.send("XLEN", queue.keys(0).stream).int == 3)
        // The batch marked its ids live: enqueueing one of them again is refused.
        await #expect(throws: QueueError.self) {
            try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{}".utf8), id: "fresh"))
        }
        #expect(try await queue.redis.send("HGET", queue.keys(0).epochs, "fresh").string == "0")
    }

    /// Outcomes with the queue-specific ids replaced by the index of the message they name.
    private func describe(_ results: [Result<EnqueueResult, Error>]) -> [String] {
        var index: [String: Int] = [:]
        return results.enumerated().map { position, result in
            switch result {
            case .success(let r) where r.duplicate:
                return index[r.id].map { "duplicate of #\($0)" } ?? "duplicate of earlier"
            case .success(let r):
                index[r.id] = position
                return "ok shard \(r.shard) " + (r.streamID == nil ? "delayed" : "ready")
            case .failure(let error):
                if case QueueError.queueFull(_, let shard, let backlog, _) = error { return "full shard \(shard) at \(backlog)" }
                return "error \(error)"
            }
        }
    }
}
