import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// Completions settled together: one `complete` script call carries many messages of a shard
/// (`ScriptBatcher` merges those that go out together), and still settles each one exactly once,
/// judged on its own — a stale epoch, a message listed twice or one already settled is refused
/// (`stale`) without touching the others — and every caller gets its own message's reply.
@Suite(.timeLimit(.minutes(2))) struct BatchedCompletionTests {
    struct Read {
        let sid: String
        let id: String
        let key: String?
        let epoch: Int64
    }

    /// Enqueues one message per entry of `keys` (keyed where a key is given; shards by the queue's
    /// choice) and reads them all as "c1", epochs raised; in enqueue order.
    func readAll(_ queue: TestQueue, keys: [String?]) async throws -> [(shard: Int, read: Read)] {
        var sent: [(id: String, shard: Int, key: String?)] = []
        for (n, key) in keys.enumerated() {
            let result = try await queue.producer.enqueue(queue.name, OutgoingMessage(payload: Array("{\"n\":\(n)}".utf8), key: key))
            sent.append((result.id, result.shard, key))
        }
        var sids: [String: String] = [:]
        for shard in 0..<queue.manifest.shards {
            let queueKeys = queue.keys(shard)
            _ = try? await queue.redis.send("XGROUP", "CREATE", queueKeys.stream, QueueConsumer.group, "0", "MKSTREAM")
            let read = try await queue.redis.send("XREADGROUP", "GROUP", QueueConsumer.group, "c1", "COUNT", keys.count, "STREAMS", queueKeys.stream, ">")
            for entry in read.array?.first?.array?[1].array ?? [] {
                let parts = entry.array ?? []
                let fields = parts.count == 2 ? parts[1].array ?? [] : []
                if let sid = parts.first?.string, let at = fields.firstIndex(where: { $0.string == "id" }), let id = fields[at + 1].string { sids[id] = sid }
            }
        }
        var out: [(shard: Int, read: Read)] = []
        for message in sent {
            let sid = try #require(sids[message.id])
            let epoch = try #require(try await queue.redis.send("HINCRBY", queue.keys(message.shard).epochs, message.id, 1).int)
            out.append((message.shard, Read(sid: sid, id: message.id, key: message.key, epoch: epoch)))
        }
        return out
    }

    func record(_ queue: TestQueue, _ key: String, shard: Int = 0) async throws -> [String: Any]? {
        guard let text = try await queue.redis.send("GET", queue.keys(shard).idempotency(key)).string else { return nil }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    func pending(_ queue: TestQueue, shard: Int = 0) async throws -> Int {
        Int(try await queue.redis.send("XPENDING", queue.keys(shard).stream, QueueConsumer.group).array?.first?.int ?? -1)
    }

    @Test func oneCallSettlesEachMessageOnItsOwnExactlyOnce() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let tag = UUID().uuidString
        let m = try await readAll(queue, keys: ["a-\(tag)", nil, "c-\(tag)", nil, "e-\(tag)", nil, "g-\(tag)"]).map(\.read)
        let keys = queue.keys()
        let now = nowMillis()
        // m6 was retried already (acked, parked in the delayed set, its epoch live): its late
        // completion at the same epoch finds the entry no longer pending.
        let member = #"{"id":"\#(m[6].id)","key":"g-\#(tag)","payload":"{\"n\":6}","attempt":"1","enqueued_at":"0","history":"[]"}"#
        let retried = try await queue.redis.run(QueueScripts.retry, keys: [keys.stream, keys.delayed, keys.epochs],
                                                arguments: [QueueConsumer.group, m[6].sid, m[6].id, m[6].epoch, now + 60_000, member])
        #expect(retried.string == "ok")
        // m0 keyed, m1 plain, m2 keyed at a stale epoch, m3 listed twice, m4 keyed without a result; m5 not listed.
        let listed: [(Read, Int64, String)] = [(m[0], m[0].epoch, "r0"), (m[1], m[1].epoch, ""), (m[2], m[2].epoch - 1, "r2"),
                                               (m[3], m[3].epoch, ""), (m[3], m[3].epoch, ""), (m[4], m[4].epoch, ""), (m[6], m[6].epoch, "r6")]
        var redisKeys: [any RedisArgumentConvertible] = [keys.stream, keys.epochs]
        var arguments: [any RedisArgumentConvertible] = [QueueConsumer.group]
        for (read, epoch, result) in listed {
            if let key = read.key { redisKeys.append(keys.idempotency(key)) }
            arguments += QueueScripts.completeArguments(streamID: read.sid, id: read.id, epoch: epoch, keyed: read.key != nil,
                                                        result: result, now: now, ttlMillis: 60_000)
        }
        let reply = try await queue.redis.run(QueueScripts.complete, keys: redisKeys, arguments: arguments)
        #expect(reply.array?.map { $0.string ?? "?" } == ["ok", "ok", "stale", "ok", "stale", "ok", "stale"])

        // Settled: m0, m1, m3, m4 gone from the stream and the epochs; m2 (stale) and m5 (not listed) pending.
        #expect(try await queue.streamLength() == 2)
        #expect(try await pending(queue) == 2)
        for read in [m[0], m[1], m[3], m[4]] { #expect(try await queue.redis.send("HEXISTS", keys.epochs, read.id).int == 0) }
        for read in [m[2], m[5]] { #expect(try await queue.redis.send("HGET", keys.epochs, read.id).string == String(read.epoch)) }
        // Each keyed message's record under its own key: done with its own result, or untouched when stale.
        let r0 = try await record(queue, "a-\(tag)")
        #expect(r0?["state"] as? String == "done" && r0?["id"] as? String == m[0].id && r0?["result"] as? String == "r0")
        let r2 = try await record(queue, "c-\(tag)")
        #expect(r2?["state"] as? String == "queued" && r2?["id"] as? String == m[2].id)
        let r4 = try await record(queue, "e-\(tag)")
        #expect(r4?["state"] as? String == "done" && r4?["id"] as? String == m[4].id && r4?["result"] == nil)
        #expect(try await queue.redis.send("TYPE", keys.epochs).string == "hash")
        // The retried message is untouched: still parked, its epoch live, its record queued.
        #expect(try await queue.redis.send("HGET", keys.epochs, m[6].id).string == String(m[6].epoch))
        #expect(try await queue.redis.send("ZCARD", keys.delayed).int == 1)
        #expect(try await record(queue, "g-\(tag)")?["state"] as? String == "queued")

        // Sent again (a lost reply): nothing changes.
        let again = try await queue.redis.run(QueueScripts.complete, keys: redisKeys, arguments: arguments)
        #expect(again.array?.map { $0.string ?? "?" } == ["stale", "stale", "stale", "stale", "stale", "stale", "stale"])
        #expect(try await queue.streamLength() == 2)
    }

    /// Many completions at once, over two shards, some stale: each caller gets its own message's
    /// reply, and exactly the current ones are settled.
    @Test func theBatcherAnswersEachCompletionWithItsOwnMessagesReply() async throws {
        let queue = try await TestQueue { $0.shards = 2 }
        defer { Task { await queue.cleanUp() } }
        let tag = UUID().uuidString
        let reads = try await readAll(queue, keys: (0..<80).map { $0 % 3 == 0 ? "k\($0)-\(tag)" : nil })
        #expect(Set(reads.map(\.shard)) == [0, 1], "both shards used")
        let batcher = ScriptBatcher(redis: queue.redis)
        let now = nowMillis()
        // Every fourth one at a stale epoch.
        let replies = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for (n, (shard, read)) in reads.enumerated() {
                group.addTask {
                    let completion = ScriptBatcher.Completion(
                        keys: queue.keys(shard), group: QueueConsumer.group, streamID: read.sid, id: read.id,
                        epoch: n % 4 == 0 ? read.epoch - 1 : read.epoch, key: read.key, result: "r\(n)", ttlMillis: 60_000, now: now)
                    return (n, try await batcher.complete(completion).string)
                }
            }
            var replies: [Int: String?] = [:]
            for try await (n, reply) in group { replies[n] = reply }
            return replies
        }
        for (n, (shard, read)) in reads.enumerated() {
            let expected = n % 4 == 0 ? "stale" : "ok"
            #expect(replies[n] == expected, "message \(n) of shard \(shard)")
            if let key = read.key {
                let record = try await record(queue, key, shard: shard)
                #expect(record?["state"] as? String == (n % 4 == 0 ? "queued" : "done"))
                if n % 4 != 0 { #expect(record?["result"] as? String == "r\(n)") }
            }
        }
        for shard in 0..<2 {
            let stale = reads.enumerated().filter { $0.offset % 4 == 0 && $0.element.shard == shard }.count
            #expect(try await pending(queue, shard: shard) == stale, "only the stale ones stay pending on shard \(shard)")
        }
    }

    /// Completions of different shards that meet (a settler shared by several shards' consumers,
    /// `QueueSettler`) go out in ONE round trip on a lone Redis server — each shard's still one
    /// `complete` call of its own slot — and each caller gets its own message's reply.
    @Test func differentShardsCompletionsThatMeetShareOneRoundTripOnALoneServer() async throws {
        let queue = try await TestQueue { $0.shards = 4 }
        defer { Task { await queue.cleanUp() } }
        let tag = UUID().uuidString
        let reads = try await readAll(queue, keys: (0..<24).map { $0 % 2 == 0 ? "k\($0)-\(tag)" : nil })
        #expect(Set(reads.map(\.shard)).count >= 3, "several shards used: \(Set(reads.map(\.shard)))")
        let redis = try await RedisClient(configuration: queue.redisConfiguration, name: "shared-settler")
        defer { redis.close() }
        let batcher = ScriptBatcher(redis: redis)
        let now = nowMillis()
        func completion(_ n: Int, stale: Bool = false) -> ScriptBatcher.Completion {
            let (shard, read) = reads[n]
            return ScriptBatcher.Completion(keys: queue.keys(shard), group: QueueConsumer.group, streamID: read.sid, id: read.id,
                                            epoch: stale ? read.epoch - 1 : read.epoch, key: read.key, result: "r\(n)", ttlMillis: 60_000, now: now)
        }
        // A first lone call learns what the server is (and is a round trip of its own).
        #expect(try await batcher.complete(completion(0)).string == "ok")
        #expect(batcher.roundTrips.all == 1)

        // Hold the Redis thread so a lone call stays in flight; the rest meet behind it.
        let held = try await HeldRedisThread(redis)
        defer { held.open() }
        let lone = Task { try await batcher.complete(completion(1)) }
        try await eventually("the lone call in flight") { batcher.sentAtOnce == 2 }
        // Every fifth one at a stale epoch: refused on its own.
        var waiting: [(Int, Task<RedisValue, Error>)] = []
        for n in 2..<reads.count {
            let call = completion(n, stale: n % 5 == 0)
            waiting.append((n, Task { try await batcher.complete(call) }))
            try await eventually("caller \(n) waiting") { batcher.waiting == n - 1 }
        }
        try await held.release()
        #expect(try await lone.value.string == "ok")
        for (n, task) in waiting {
            #expect(try await task.value.string == (n % 5 == 0 ? "stale" : "ok"), "message \(n)'s own reply")
        }
        try await eventually("the flush ended") { !batcher.isSending }
        let trips = batcher.roundTrips
        #expect(trips.all == 3, "one round trip for the first call, one for the lone, ONE for the \(waiting.count) that met: \(trips)")
        #expect(trips.mixingSlots == 1, "the one that met carried several shards' calls")
        // Exactly the current ones settled: records done with their results, the stale still pending.
        for (n, (shard, read)) in reads.enumerated() {
            guard let key = read.key else { continue }
            let record = try await record(queue, key, shard: shard)
            #expect(record?["state"] as? String == (n % 5 == 0 && n >= 2 ? "queued" : "done"), "message \(n)'s record")
            if !(n % 5 == 0 && n >= 2) { #expect(record?["result"] as? String == "r\(n)") }
        }
        for shard in Set(reads.map(\.shard)) {
            let stale = reads.enumerated().filter { $0.offset % 5 == 0 && $0.offset >= 2 && $0.element.shard == shard }.count
            #expect(try await pending(queue, shard: shard) == stale, "only the stale ones stay pending on shard \(shard)")
        }
    }
}
