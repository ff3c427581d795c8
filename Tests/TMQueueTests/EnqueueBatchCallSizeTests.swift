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
        let (producer, calls) = try await observedProducer(queue)
        #expect(producer.messagesPerCall == 32, "the documented default")

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

    /// 33 messages for one shard: a call of 32, then the last message alone by the single `enqueue`
    /// script, whose reply is its own (not one per message) — each result still names its own entry,
    /// in the batch's order.
    @Test func aShardsLastLoneMessageAfterABatchCallGetsItsOwnResult() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        let (producer, calls) = try await observedProducer(queue)

        let messages = (0..<33).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8), key: "lone-\($0)") }
        let results = try await producer.enqueueBatch(queue.name, messages)
        #expect(calls.all == [32, 1], "\(calls.all)")
        let entries = try await queue.redis.send("XRANGE", queue.keys().stream, "-", "+").array ?? []
        #expect(entries.count == 33)
        #expect(results.map { (try? $0.get())?.streamID ?? "" } == entries.map { $0.array?[0].string ?? "-" }, "each result names its own entry")
        #expect(results.allSatisfy { (try? $0.get())?.duplicate == false })
    }

    /// A producer for `queue` whose script calls are counted; before the n-th call goes out,
    /// `before(n, admin)` runs on a connection of the test's own. The scripts are loaded beforehand,
    /// so no call is sent twice (NOSCRIPT, then again) and counted twice.
    private func observedProducer(_ queue: TestQueue, messagesPerCall: Int? = nil, commandTimeout: Duration? = nil,
                                  before: (@Sendable (Int, RedisConnection) -> Void)? = nil) async throws -> (QueueProducer, Calls) {
        let calls = Calls()
        let admin = UncheckedSendable(try RedisConnection(configuration: queue.redisConfiguration))
        var configuration = queue.redisConfiguration
        if let commandTimeout { configuration.commandTimeout = commandTimeout }
        configuration.roundTripObserver = { commands in
            calls.record(commands)
            before?(calls.all.count, admin.value)
        }
        var producer = QueueProducer(redis: try await RedisClient(configuration: configuration), catalog: try QueueCatalog([queue.manifest]))
        if let messagesPerCall { producer.messagesPerCall = messagesPerCall }
        for script in [QueueScripts.enqueue, QueueScripts.enqueueBatch] { _ = try await queue.redis.send("SCRIPT", "LOAD", script.source) }
        return (producer, calls)
    }

    /// The same, 10 messages a call, for a one-shard queue on a Redis server of its own (the tests
    /// below change the whole server).
    private func producerOnItsOwnServer(commandTimeout: Duration? = nil, before: @escaping @Sendable (Int, RedisConnection) -> Void)
        async throws -> (server: EphemeralRedis, queue: TestQueue, producer: QueueProducer, calls: Calls) {
        let server = try EphemeralRedis.start()
        let queue = try await TestQueue({ $0.shards = 1 }, redisURL: server.url)
        let (producer, calls) = try await observedProducer(queue, messagesPerCall: 10, commandTimeout: commandTimeout, before: before)
        return (server, queue, producer, calls)
    }

    /// A call refused whole stops its shard: the shard's later calls are not sent — even when the
    /// server would take them again (here: out of memory for the second call only), no later
    /// message of the shard is enqueued past the refused ones.
    @Test func aShardsLaterCallsAreNotSentAfterACallWasRefusedWhole() async throws {
        let (server, queue, producer, calls) = try await producerOnItsOwnServer { call, admin in
            // Before the second call: no memory for writes; before a third: memory again.
            if call == 2 { _ = try? admin.send("CONFIG", "SET", "maxmemory", 1) }
            if call == 3 { _ = try? admin.send("CONFIG", "SET", "maxmemory", 0) }
        }
        defer { server.destroy() }
        let results = try await producer.enqueueBatch(queue.name, (0..<30).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8)) })
        _ = try await queue.redis.send("CONFIG", "SET", "maxmemory", 0)
        #expect(calls.all == [10, 10], "\(calls.all)")
        #expect(results.prefix(10).allSatisfy { (try? $0.get()) != nil })
        let refused = results.dropFirst(10).map { result -> Bool in
            if case .failure(let error as RedisError) = result, error.serverCode == "OOM" { return true }
            return false
        }
        #expect(refused == Array(repeating: true, count: 20), "\(results.dropFirst(10))")
        #expect(try await queue.redis.send("XLEN", queue.keys().stream) == .integer(10))
    }

    /// A connection lost after a first round does not lose the results of the calls that answered:
    /// they are reported enqueued; the call that did not answer and those never sent fail by the
    /// lost connection.
    @Test func aConnectionLostAfterTheFirstCallKeepsTheAnsweredResults() async throws {
        let (server, queue, producer, calls) = try await producerOnItsOwnServer(commandTimeout: .seconds(1)) { call, admin in
            // Before the second call goes out: the server answers no one for 10 s, so the
            // producer's wait for its reply times out and drops the connection.
            if call == 2 { _ = try? admin.send("CLIENT", "PAUSE", 10_000, "ALL") }
        }
        defer { server.destroy() }
        let results = try await producer.enqueueBatch(queue.name, (0..<25).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8)) })
        #expect(calls.all == [10, 10], "the third call is never sent: \(calls.all)")
        #expect(results.prefix(10).allSatisfy { (try? $0.get()) != nil }, "\(results.prefix(10))")
        #expect(results.dropFirst(10).allSatisfy { if case .failure(RedisError.connection) = $0 { return true } else { return false } }, "\(results.dropFirst(10))")
    }
}
