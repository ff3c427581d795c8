import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// `QueueConsumer.Options.readsWatchedKey`: every fetched delivery carries the shard's watched key
/// as its fetch read it, and only a message that went from that fetch straight to its handler may
/// use it in place of a read at its start (`WatchedRead.standsInForAReadNow`).
@Suite(.serialized, .timeLimit(.minutes(3))) struct RedisWatchedKeyTests {
    /// What each message's handler was given, by the message's `n`.
    final class Seen: Sendable {
        let byName = Locked<[String: WatchedRead?]>([:])
        func record(_ delivery: Delivery) {
            let name = (try? JSONValue.parse(delivery.payload))?["n"]?.stringValue ?? "?"
            byName.withLock { $0[name] = .some(delivery.watched) }
        }
        func of(_ name: String) -> WatchedRead?? { byName.current[name] }
    }

    static func lane(_ delivery: Delivery) -> String? { (try? JSONValue.parse(delivery.payload))?["lane"]?.stringValue }

    /// A consumer that reads the watched key, its messages ordered by their `lane`.
    static func watching() -> QueueConsumer.Options {
        var options = QueueConsumer.Options()
        options.readsWatchedKey = true
        options.orderingKey = lane
        return options
    }

    @Test func onlyTheFirstEntryOfARead() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await queue.redis.send("SET", queue.keys().watched, "v1")
        // Three messages of three accounts waiting before the consumer starts: one read takes them.
        for n in ["a", "b", "c"] { try await queue.enqueue("{\"n\":\"\(n)\",\"lane\":\"\(n)\"}") }
        let seen = Seen()
        let options = Self.watching()
        let (consumer, task) = queue.consume(options: options) { seen.record($0); return nil }
        try await eventually("handled") { consumer.counters.handled == 3 }
        consumer.stop()
        try await task.value
        #expect(seen.of("a") == WatchedRead(value: "v1", standsInForAReadNow: true))
        #expect(seen.of("b") == WatchedRead(value: "v1", standsInForAReadNow: false))
        #expect(seen.of("c") == WatchedRead(value: "v1", standsInForAReadNow: false))
    }

    /// A message fetched alone while an earlier message of its key still runs waits for it: its
    /// fetch's value no longer stands in. A lone message of a free key's does.
    @Test func notAMessageHeldBehindItsKey() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await queue.redis.send("SET", queue.keys().watched, "v2")
        let seen = Seen()
        let release = Locked(false)
        let options = Self.watching()
        let (consumer, task) = queue.consume(options: options) { delivery in
            seen.record(delivery)
            if Self.lane(delivery) == "held" {
                while !release.current { try await Task.sleep(for: .milliseconds(10)) }
            }
            return nil
        }
        try await queue.enqueue("{\"n\":\"first\",\"lane\":\"held\"}")
        try await eventually("the first message runs") { seen.of("first") != nil }
        try await queue.enqueue("{\"n\":\"behind\",\"lane\":\"held\"}")
        // Admitted to its lane while the first still runs (fetched is not enough: admission follows).
        try await eventually("the second admitted") { consumer.counters.admitted == 2 }
        release.withLock { $0 = true }
        try await eventually("handled") { consumer.counters.handled == 2 }
        try await queue.enqueue("{\"n\":\"alone\",\"lane\":\"free\"}")
        try await eventually("handled") { consumer.counters.handled == 3 }
        consumer.stop()
        try await task.value
        #expect(seen.of("first") == WatchedRead(value: "v2", standsInForAReadNow: true))
        #expect(seen.of("behind") == WatchedRead(value: "v2", standsInForAReadNow: false))
        #expect(seen.of("alone") == WatchedRead(value: "v2", standsInForAReadNow: true))
    }

    /// A read's first entry handed out only after a foreign entry behind it was dead-lettered (an
    /// await between the fetch and its handler) no longer stands in for a read at its start.
    @Test func notAnEntryThatWaitedBehindAForeignOne() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await queue.redis.send("SET", queue.keys().watched, "v4")
        // One message, then an entry no producer wrote, both waiting before the consumer starts.
        try await queue.enqueue("{\"n\":\"first\",\"lane\":\"first\"}")
        try await queue.redis.send("XADD", queue.keys().stream, "*", "written", "by hand")
        let seen = Seen()
        let options = Self.watching()
        let (consumer, task) = queue.consume(options: options) { seen.record($0); return nil }
        try await eventually("handled") { consumer.counters.handled == 1 }
        consumer.stop()
        try await task.value
        #expect(seen.of("first") == WatchedRead(value: "v4", standsInForAReadNow: false))
    }

    /// Off (the default), nothing is read: deliveries carry no watched value.
    @Test func offByDefault() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await queue.redis.send("SET", queue.keys().watched, "v3")
        let seen = Seen()
        let (consumer, task) = queue.consume { seen.record($0); return nil }
        try await queue.enqueue("{\"n\":\"plain\"}")
        try await eventually("handled") { consumer.counters.handled == 1 }
        consumer.stop()
        try await task.value
        #expect(seen.of("plain") == .some(nil))
    }
}
