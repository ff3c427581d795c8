import Foundation
import Testing
import TestSupport
import TMQueue
import TMRedis

/// A shard's lone message in `enqueueBatch` (the API's intake mostly sends one order a call) goes
/// by the single-message script: outcomes and queue contents exactly as `enqueue` gives them —
/// duplicates of a key, `max_length` refusals, delays, a chosen id already live refused — and the
/// key's record and the id's epoch written as `enqueue` writes them.
@Suite(.serialized) struct IntakeLoneEnqueueTests {
    @Test func aLoneMessageOfABatchIsEnqueuedExactlyAsEnqueueWould() async throws {
        let configure: (inout QueueManifest) -> Void = { $0.shards = 2; $0.maxLength = 6 }
        let single = try await TestQueue(configure)
        let lone = try await TestQueue(configure)
        let messages = (0..<20).map { i in
            OutgoingMessage(payload: Array("{\"n\":\(i)}".utf8), key: i % 3 == 0 ? nil : "k\(i % 7)",
                            delay: i % 4 == 0 ? .seconds(60) : nil, shardKey: "s\(i % 2)", id: i == 9 ? "chosen" : nil)
        } + [OutgoingMessage(payload: Array("{}".utf8), shardKey: "s1", id: "chosen")]
        var outcomes: [[String]] = [[], []]
        for message in messages {
            let one: Result<EnqueueResult, Error>
            do { one = .success(try await single.producer.enqueue(single.name, message)) } catch { one = .failure(error) }
            outcomes[0].append(Self.outcome(one))
            outcomes[1].append(Self.outcome(try await lone.producer.enqueueBatch(lone.name, [message])[0]))
        }
        #expect(outcomes[1] == outcomes[0])
        for kind in ["duplicate", "full", "delayed", "ready", "in use"] {
            #expect(outcomes[0].contains { $0.hasPrefix(kind) }, "the run covers \(kind)")
        }
        for shard in 0..<2 {
            // The same entries (fresh ones without attempt or history fields), delayed members, live ids.
            let expected = try await Self.contents(single, shard), found = try await Self.contents(lone, shard)
            #expect(found == expected, "shard \(shard)")
        }
        let record = try await lone.redis.send("GET", lone.keys(try await lone.producer.enqueueBatch(lone.name, [messages[1]])[0].get().shard)
            .idempotency("k1")).string
        #expect(record?.contains("\"state\":\"queued\"") == true)
        await single.cleanUp()
        await lone.cleanUp()
    }

    static func outcome(_ result: Result<EnqueueResult, Error>) -> String {
        switch result {
        case .success(let r) where r.duplicate: return "duplicate \(r.shard)"
        case .success(let r): return (r.streamID == nil ? "delayed " : "ready ") + "\(r.shard)"
        case .failure(QueueError.queueFull(_, let shard, let backlog, _)): return "full \(shard) \(backlog)"
        case .failure(QueueError.messageIDInUse(_, let id)): return "in use \(id)"
        case .failure(let error): return "error \(error)"
        }
    }

    /// A shard's stream entries (field names and payloads), delayed payloads and count of live ids.
    static func contents(_ queue: TestQueue, _ shard: Int) async throws -> [String] {
        let keys = queue.keys(shard)
        let entries = try await queue.redis.send("XRANGE", keys.stream, "-", "+").array ?? []
        let ready = entries.map { entry in
            let fields = entry.array?.last?.array?.compactMap(\.string) ?? []
            return stride(from: 0, to: fields.count, by: 2).map { fields[$0] == "payload" ? fields[$0 + 1] : fields[$0] }.joined(separator: " ")
        }
        let delayed = try await queue.redis.send("ZCARD", keys.delayed).int ?? 0
        let live = try await queue.redis.send("HLEN", keys.epochs).int ?? 0
        return ready + ["delayed \(delayed)", "live \(live)"]
    }
}
