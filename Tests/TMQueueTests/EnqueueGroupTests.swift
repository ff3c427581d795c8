import Foundation
import Testing
import TestSupport
import TMQueue
import TMRedis

/// `enqueueGroups`: each group added whole and once under its one key, refused whole when it does
/// not fit (and nothing after it overtakes it), its payloads checked as JSON unless the caller
/// wrote them itself.
@Suite(.serialized) struct EnqueueGroupTests {
    private func group(_ key: String, _ names: [String], shardKey: String? = nil) -> OutgoingGroup {
        OutgoingGroup(key: key, messages: names.map { OutgoingMessage(payload: Array("{\"n\":\"\($0)\"}".utf8), key: $0, shardKey: shardKey) })
    }

    /// The message keys on a shard's stream, in order.
    private func streamKeys(_ queue: TestQueue, _ shard: Int = 0) async throws -> [String] {
        let reply = try await queue.redis.send("XRANGE", queue.keys(shard).stream, "-", "+")
        return (reply.array ?? []).map { entry in
            let flat = (entry.array ?? [])[1].array ?? []
            return stride(from: 0, to: flat.count - 1, by: 2).first { flat[$0].string == "key" }.flatMap { flat[$0 + 1].string } ?? ""
        }
    }

    private func outcomes(_ results: [Result<GroupEnqueueOutcome, Error>]) -> [String] {
        results.map { result in
            switch result {
            case .success(let outcome): return "\(outcome)"
            case .failure(QueueError.queueFull): return "full"
            case .failure(QueueError.payloadNotJSON): return "not JSON"
            case .failure(QueueError.heldBack(_, let behind)): return "held back behind \(behind)"
            case .failure(let error): return "\(error)"
            }
        }
    }

    /// A group sent again (a publisher that crashed before noting it sent) adds nothing: one record
    /// per group, the messages keeping their own keys in their entries.
    @Test func aGroupSentAgainIsAddedOnce() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let groups = [group("row:1", ["a1", "a2", "a3"]), group("row:2", ["b1"])]
        #expect(outcomes(try await queue.producer.enqueueGroups(queue.name, groups)) == ["enqueued", "enqueued"])
        #expect(outcomes(try await queue.producer.enqueueGroups(queue.name, groups)) == ["duplicate", "duplicate"])
        #expect(outcomes(try await queue.producer.enqueueGroups(queue.name, [groups[1], group("row:3", ["c1"])])) == ["duplicate", "enqueued"])
        #expect(try await streamKeys(queue) == ["a1", "a2", "a3", "b1", "c1"])
        #expect(try await queue.redis.send("GET", queue.keys().idempotency("row:1")).string?.contains("\"queued\"") == true)
        #expect(try await queue.redis.send("PTTL", queue.keys().idempotency("row:1")).int ?? 0 > 0, "the record expires with the queue's retention")
        #expect(try await queue.redis.send("HLEN", queue.keys().epochs).int == 0, "no epoch entry: the first fetch raises a missing one to 1")
    }

    /// max_length 4: a group of 3 goes, one of 2 does not fit and is refused whole, and the group of
    /// 1 after it is refused too (it would overtake). Nothing refused leaves a record: sent again
    /// once there is room, the first is a duplicate and the others go, in their order.
    @Test func aGroupThatDoesNotFitIsRefusedWholeAndNoLaterOneOvertakesIt() async throws {
        let queue = try await TestQueue { $0.maxLength = 4 }
        defer { Task { await queue.cleanUp() } }
        let groups = [group("g:1", ["a1", "a2", "a3"]), group("g:2", ["b1", "b2"]), group("g:3", ["c1"])]
        #expect(outcomes(try await queue.producer.enqueueGroups(queue.name, groups)) == ["enqueued", "full", "full"])
        #expect(try await streamKeys(queue) == ["a1", "a2", "a3"])
        #expect(try await queue.redis.send("EXISTS", queue.keys().idempotency("g:2"), queue.keys().idempotency("g:3")).int == 0)

        _ = try await queue.redis.send("DEL", queue.keys().stream)
        #expect(outcomes(try await queue.producer.enqueueGroups(queue.name, groups)) == ["duplicate", "enqueued", "enqueued"])
        #expect(try await streamKeys(queue) == ["b1", "b2", "c1"])
    }

    /// A group over several shards has a part (and a record) per shard: a part refused on a full
    /// shard fails the group, and the group sent again adds only that part.
    @Test func aGroupOverShardsIsAddedOncePerShard() async throws {
        let queue = try await TestQueue { $0.shards = 2; $0.maxLength = 2 }
        defer { Task { await queue.cleanUp() } }
        let first = QueueKeys.shard(for: "x", shards: 2)
        let other = (0..<100).map { "y\($0)" }.first { QueueKeys.shard(for: $0, shards: 2) != first }!
        // The other shard is full.
        _ = try await queue.producer.enqueueGroups(queue.name, [group("fill", ["f1", "f2"], shardKey: other)])
        var mixed = group("mixed", ["m1"], shardKey: "x")
        mixed.messages += group("", ["m2"], shardKey: other).messages
        #expect(outcomes(try await queue.producer.enqueueGroups(queue.name, [mixed])) == ["full"])
        #expect(try await streamKeys(queue, first) == ["m1"])

        _ = try await queue.redis.send("DEL", queue.keys(1 - first).stream)
        #expect(outcomes(try await queue.producer.enqueueGroups(queue.name, [mixed])) == ["enqueued"])
        #expect(outcomes(try await queue.producer.enqueueGroups(queue.name, [mixed])) == ["duplicate"])
        #expect(try await streamKeys(queue, first) == ["m1"], "the part taken before is not added again")
        #expect(try await streamKeys(queue, 1 - first) == ["m2"])
    }

    /// A payload from outside is checked as strict JSON: its group is refused before anything is
    /// written; the groups before it go in, the groups after it are held back (none overtakes it).
    @Test func aPayloadFromOutsideIsStillCheckedAsJSON() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        var bad = group("bad", ["ok-before"])
        bad.messages.append(OutgoingMessage(payload: Array(#"{"n": 1,}"#.utf8), key: "trailing-comma"))
        let results = try await queue.producer.enqueueGroups(queue.name, [group("first", ["f1"]), bad, group("good", ["g1"])])
        #expect(outcomes(results) == ["enqueued", "not JSON", "held back behind bad"])
        #expect(try await streamKeys(queue) == ["f1"])
        #expect(try await queue.redis.send("EXISTS", queue.keys().idempotency("bad")).int == 0)
        #expect(try await queue.redis.send("EXISTS", queue.keys().idempotency("good")).int == 0, "a held-back group leaves no record")
        #expect(outcomes(try await queue.producer.enqueueGroups(queue.name, [group("good", ["g1"])])) == ["enqueued"])
    }

    /// A group refused by its own checks — here a message over the queue's payload limit — holds
    /// back every later group of the call, whichever shard it goes to.
    @Test func aGroupRefusedAsItIsHoldsBackTheLaterGroups() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let limit = try queue.producer.catalog.manifest(queue.name).maxPayloadBytes
        var big = group("big", ["b1"])
        big.messages.append(OutgoingMessage(payload: Array(("{\"pad\":\"" + String(repeating: "x", count: limit) + "\"}").utf8), key: "b2"))
        let results = try await queue.producer.enqueueGroups(queue.name, [big, group("later", ["l1"]), group("last", ["z1"])])
        #expect(outcomes(results).first?.contains("max_payload_bytes") == true, "\(outcomes(results))")
        #expect(Array(outcomes(results).dropFirst()) == ["held back behind big", "held back behind big"])
        #expect(try await streamKeys(queue) == [])
        if case .failure(let error as QueueError) = results[0] { #expect(error.refusesTheMessageItself) } else { Issue.record("not refused") }
        if case .failure(let error as QueueError) = results[1] { #expect(!error.refusesTheMessageItself) } else { Issue.record("not held back") }
    }
}
