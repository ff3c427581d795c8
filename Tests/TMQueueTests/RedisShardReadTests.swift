import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// `ShardRead`: a consumer that waits for its shard to grow reads the message, its epoch raised, in
/// the same round trip as the wait — and the wait ends for any entry the group has not delivered.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RedisShardReadTests {
    /// Every round trip's commands, by name (an `EVALSHA` as `EVALSHA <sha>`).
    final class Trips: Sendable {
        private let trips = Locked<[[String]]>([])
        var all: [[String]] { trips.current }
        func record(_ commands: [RedisCommand]) {
            let names = commands.map { command in
                let words = command.arguments.prefix(2).map { String(decoding: $0.bytes, as: UTF8.self) }
                return words[0].uppercased() == "EVALSHA" ? "EVALSHA \(words[1])" : words[0].uppercased()
            }
            trips.withLock { $0.append(names) }
        }
    }

    /// Creates the group of shard 0 and a reader with a connection of its own (close it).
    func groupAndReader(_ queue: TestQueue) async throws -> RedisClient {
        _ = try await queue.redis.send("XGROUP", "CREATE", queue.keys().stream, QueueConsumer.group, "0", "MKSTREAM")
        return try await RedisClient(configuration: queue.redisConfiguration, name: "test-read")
    }

    /// A message enqueued while the consumer waits is delivered at epoch 1 by one round trip: the
    /// wait and the read (with its epoch raise) pipelined; no other call raises epochs or reads.
    @Test func aLoneMessageIsReadAndRaisedInTheWaitsRoundTrip() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let fetch = "EVALSHA " + (try await queue.redis.send("SCRIPT", "LOAD", QueueScripts.fetch.source).string ?? "?")
        let raise = "EVALSHA " + (try await queue.redis.send("SCRIPT", "LOAD", QueueScripts.raiseEpochs.source).string ?? "?")
        let trips = Trips()
        var configuration = queue.redisConfiguration
        configuration.roundTripObserver = { trips.record($0) }
        var options = QueueConsumer.Options()
        options.blockTimeout = .seconds(2)
        let epochs = Locked<[Int64]>([])
        let consumer = QueueConsumer(manifest: queue.manifest, redis: configuration, options: options) { delivery in
            epochs.withLock { $0.append(delivery.epoch) }
            return nil
        }
        let task = Task { try await consumer.run() }
        let wait = ["XREAD", fetch]
        // Waiting (the first read, which does not wait, is over).
        try await eventually("the consumer waits") { trips.all.contains(wait) }
        try await queue.enqueue("{\"lone\":true}")
        try await eventually("handled") { consumer.counters.handled == 1 }
        consumer.stop()
        try await task.value
        #expect(epochs.current == [1])
        let sent = trips.all.flatMap { $0 }
        #expect(!sent.contains("XREADGROUP"))
        #expect(!sent.contains(raise))
    }

    /// An entry added after the previous read but before the wait reaches Redis ends the wait at
    /// once (the wait starts from the group's cursor, not from "now"), and the read takes it — also
    /// when the server forgot the script meanwhile (answered NOSCRIPT behind the wait: run again).
    @Test func aWaitEndsForAnEntryAddedBeforeItBegan() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let keys = queue.keys()
        let reader = try await groupAndReader(queue)
        defer { reader.close() }
        let first = try await reader.withConnection { connection in
            try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 4, cursor: nil, wait: nil)
        }
        #expect(first.entries.isEmpty)
        let cursor = try #require(first.cursor)
        let id = try await queue.enqueue("{\"early\":true}").id
        try await queue.redis.send("SCRIPT", "FLUSH")
        // A wait of two minutes: only an immediate answer lets `eventually` see the entry.
        let result = Locked<ShardRead?>(nil)
        let waiting = Task {
            let read = try await reader.withConnection { connection in
                try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 4, cursor: cursor, wait: .seconds(120))
            }
            result.withLock { $0 = read }
        }
        try await eventually("the wait ended with the entry", within: .seconds(20)) { result.current != nil }
        try await waiting.value
        let read = try #require(result.current)
        #expect(read.entries.count == 1)
        #expect(read.entries.first?.2 == 1)
        #expect(read.entries.first?.1.contains(RedisValue.bulk(Array(id.utf8))) == true)
        #expect(read.cursor == read.entries.first?.0)
    }

    /// The cursor is the group's last delivered id: the last entry of a read, and — when another
    /// consumer took the entries — theirs, so the next wait does not end again for them.
    @Test func theCursorIsTheGroupsLastDeliveredEntry() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let keys = queue.keys()
        _ = try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        for n in 0..<3 { try await queue.enqueue("{\"n\":\(n)}") }
        let reader = try await RedisClient(configuration: queue.redisConfiguration, name: "test-read")
        defer { reader.close() }
        let three = try await reader.withConnection { connection in
            try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 10, cursor: nil, wait: nil)
        }
        #expect(three.entries.count == 3)
        #expect(three.cursor == three.entries.last?.0)
        // Another consumer of the group takes the next two.
        for n in 3..<5 { try await queue.enqueue("{\"n\":\(n)}") }
        let taken = try await queue.redis.send("XREADGROUP", "GROUP", QueueConsumer.group, "c2", "COUNT", 10, "STREAMS", keys.stream, ">")
        let theirs = (taken.array?.first?.array?[1].array ?? []).compactMap { $0.array?[0].string }
        #expect(theirs.count == 2)
        let old = try #require(three.cursor)
        let none = try await reader.withConnection { connection in
            try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 10, cursor: old, wait: .seconds(120))
        }
        #expect(none.entries.isEmpty)
        #expect(none.cursor == theirs.last)
    }

    /// The wait answering an error (here an id it cannot parse) does not lose what the fetch
    /// behind it read: the entry, pending for this consumer at epoch 1, comes back with the error.
    @Test func aFailedWaitStillHandsOutWhatItsFetchRead() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let keys = queue.keys()
        _ = try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        try await queue.enqueue("{\"n\":1}")
        let reader = try await RedisClient(configuration: queue.redisConfiguration, name: "test-read")
        defer { reader.close() }
        let read = try await reader.withConnection { connection in
            try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 4, cursor: "not-an-id", wait: .seconds(5))
        }
        #expect(read.waitError != nil)
        #expect(read.entries.count == 1)
        #expect(read.entries.first?.2 == 1)
    }

    /// With `watching`, the shard's watched key comes with the entries of the same script (nil when
    /// missing); without it, it is not read.
    @Test func theWatchedKeyIsReadWithTheEntries() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let keys = queue.keys()
        let reader = try await groupAndReader(queue)
        defer { reader.close() }
        func read(watching: Bool) async throws -> ShardRead {
            try await queue.enqueue("{\"n\":1}")
            return try await reader.withConnection { connection in
                try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 4, cursor: nil, wait: nil, watching: watching)
            }
        }
        let missing = try await read(watching: true)
        #expect(missing.entries.count == 1 && missing.watched == nil)
        try await queue.redis.send("SET", keys.watched, "7")
        let seen = try await read(watching: true)
        #expect(seen.entries.count == 1 && seen.watched == "7")
        let unasked = try await read(watching: false)
        #expect(unasked.entries.count == 1 && unasked.watched == nil)
    }
}
