import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// `enqueueBatch`'s script calls are short: Redis runs one script at a time, so a call carrying a
/// burst's hundreds of messages holds every other caller for milliseconds. A shard's part goes in
/// calls of at most `messagesPerCall` (32 by default), in order.
@Suite(.serialized) struct EnqueueBatchCallSizeTests {
    /// The messages each script call carried, in call order: `enqueueBatch`'s ARGV is three shared
    /// values then five per message; a lone message goes by `enqueue` (one).
    final class Calls: Sendable {
        private let counts = Locked<[Int]>([])
        var all: [Int] { counts.current }
        func record(_ commands: [RedisCommand]) {
            for command in commands where String(decoding: command.arguments[0].bytes, as: UTF8.self).uppercased() == "EVALSHA" {
                let keys = Int(String(decoding: command.arguments[2].bytes, as: UTF8.self)) ?? 0
                let arguments = command.arguments.count - 3 - keys
                counts.withLock { $0.append(arguments == 11 ? 1 : (arguments - 3) / 5) }
            }
        }
    }

    /// 130 messages for one shard: four calls of 32, then one of 2, the stream in the batch's order.
    @Test func aShardsPartGoesInCallsOfAtMostThirtyTwoInOrder() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        let calls = Calls()
        var configuration = queue.redisConfiguration
        configuration.roundTripObserver = { calls.record($0) }
        let producer = QueueProducer(redis: try await RedisClient(configuration: configuration), catalog: try QueueCatalog([queue.manifest]))
        #expect(producer.messagesPerCall == 32, "the documented default")
        // Loaded beforehand, so no call is sent twice (NOSCRIPT, then again) and counted twice.
        for script in [QueueScripts.enqueue, QueueScripts.enqueueBatch] { _ = try await queue.redis.send("SCRIPT", "LOAD", script.source) }

        let messages = (0..<130).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8), key: $0 % 3 == 0 ? "k\($0)" : nil) }
        let results = try await producer.enqueueBatch(queue.name, messages)
        #expect(results.allSatisfy { (try? $0.get())?.duplicate == false })
        #expect(calls.all == [32, 32, 32, 32, 2], "\(calls.all)")
        let entries = try await queue.redis.send("XRANGE", queue.keys().stream, "-", "+").array ?? []
        let payloads = entries.map { entry in
            let flat = entry.array?[1].array ?? []
            return stride(from: 0, to: flat.count - 1, by: 2).first { flat[$0].string == "payload" }.flatMap { flat[$0 + 1].string } ?? ""
        }
        #expect(payloads == (0..<130).map { "{\"n\":\($0)}" })
        #expect(results.map { (try? $0.get())?.streamID ?? "" } == entries.map { $0.array?[0].string ?? "-" }, "each result names its own entry")
    }
}
