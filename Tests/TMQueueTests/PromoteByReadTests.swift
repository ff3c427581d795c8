import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// Delayed and retried messages go back on the stream within `promoteInterval` of being due: a
/// shard's own reads promote it (`QueueScripts.fetch`), and the promote loop covers a shard no read
/// covered within the interval (`QueueConsumer.promoteLoop`).
@Suite(.serialized, .timeLimit(.minutes(3))) struct PromoteByReadTests {
    /// The SHA1 a script's calls go out under (`EVALSHA <sha>` in the trips).
    static func evalsha(_ script: RedisScript, _ queue: TestQueue) async throws -> String {
        "EVALSHA " + (try await queue.redis.send("SCRIPT", "LOAD", script.source).string ?? "?")
    }

    /// A consumer of `queue` started in the background, every round trip it makes recorded.
    static func observedConsumer(_ queue: TestQueue, _ options: QueueConsumer.Options, handler: @escaping QueueHandler)
        -> (QueueConsumer, Task<Void, Error>, RedisShardReadTests.Trips) {
        let trips = RedisShardReadTests.Trips()
        var configuration = queue.redisConfiguration
        configuration.roundTripObserver = { trips.record($0) }
        let consumer = QueueConsumer(manifest: queue.manifest, redis: configuration, options: options, handler: handler)
        return (consumer, Task { try await consumer.run() }, trips)
    }

    /// With the loop's next pass an hour away, a delayed message enqueued after its first pass is
    /// promoted by the shard's reads alone — and no further `promote` call goes out.
    @Test func aShardsReadsPromoteItsDueMessagesWithoutAPromoteCall() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let promote = try await Self.evalsha(QueueScripts.promote, queue)
        var options = QueueConsumer.Options()
        options.blockTimeout = .milliseconds(100)
        options.promoteInterval = .seconds(3600)
        let handled = Locked<[String]>([])
        let (consumer, task, trips) = Self.observedConsumer(queue, options) { delivery in
            handled.withLock { $0.append(String(decoding: delivery.payload, as: UTF8.self)) }
            return nil
        }
        // After its first pass every shard was promoted by the loop or covered by a read (whichever
        // answered first), and the loop sleeps for the interval.
        try await eventually("the loop's first pass") { consumer.promotePasses >= 1 }
        let promoteCalls = { trips.all.flatMap { $0 }.filter { $0 == promote }.count }
        let callsBefore = promoteCalls()
        try await queue.enqueue(#"{"delayed":true}"#, delay: .milliseconds(1))
        try await eventually("the delayed message is handled") { handled.current == [#"{"delayed":true}"#] }
        consumer.stop()
        try await task.value
        #expect(callsBefore <= queue.manifest.shards)
        #expect(promoteCalls() == callsBefore)
        #expect(consumer.counters.promoted == 1)
    }

    /// A shard whose reader is held (its only slot busy) has no reads to promote it: the loop does,
    /// although the last read covered the shard.
    @Test func theLoopPromotesAShardWhoseReaderIsHeld() async throws {
        var options = QueueConsumer.Options()
        options.blockTimeout = .milliseconds(100)
        options.promoteInterval = .milliseconds(20)
        try await Self.expectPromotedWhileTheReaderIsHeld(options)
    }

    /// Runs a consumer of one slot whose first handler, holding it (no read runs until it returns),
    /// enqueues a delayed message and waits until it is promoted — by the loop — then expects both
    /// handled in order. `ready` is awaited before the first message goes in.
    static func expectPromotedWhileTheReaderIsHeld(
        _ options: QueueConsumer.Options, ready: (QueueConsumer) async throws -> Void = { _ in }
    ) async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        var options = options
        options.concurrency = 1
        let handled = Locked<[String]>([])
        let delayed = queue.keys().delayed
        let consumer = QueueConsumer(manifest: queue.manifest, redis: queue.redisConfiguration, options: options) { delivery in
            let text = String(decoding: delivery.payload, as: UTF8.self)
            if text.contains("blocker") {
                try await queue.enqueue(#"{"delayed":true}"#, delay: .milliseconds(1))
                try await eventually("promoted while the reader is held") { try await queue.redis.send("ZCARD", delayed).int == 0 }
            }
            handled.withLock { $0.append(text) }
            return nil
        }
        let task = Task { try await consumer.run() }
        try await ready(consumer)
        try await queue.enqueue(#"{"blocker":true}"#)
        try await eventually("both handled") { handled.current.count == 2 }
        consumer.stop()
        try await task.value
        #expect(handled.current == [#"{"blocker":true}"#, #"{"delayed":true}"#])
    }

    /// When a shard next needs a promotion: at once after none, after one that left due messages
    /// behind, when its time has come, or after one stamped later than now (the clock went back);
    /// else `promoteInterval` after the last, or at its earliest due time if sooner.
    @Test func theNextPromotionComesWithinTheIntervalOrAtOnce() {
        typealias P = ShardRead.Promotion
        func next(_ promotion: P?, now: Int64 = 1100) -> Int64? { QueueConsumer.nextPromotion(after: promotion, interval: 200, now: now) }
        #expect(next(nil) == nil)
        #expect(next(P(through: 1000, moved: 100, complete: false, nextDue: 5000)) == nil)
        #expect(next(P(through: 1000, moved: 0, complete: true, nextDue: nil)) == 1200)
        #expect(next(P(through: 1000, moved: 3, complete: true, nextDue: 5000)) == 1200)
        #expect(next(P(through: 1000, moved: 0, complete: true, nextDue: 1050), now: 1010) == 1050)
        #expect(next(P(through: 1000, moved: 0, complete: true, nextDue: 1050)) == nil)
        #expect(next(P(through: 1000, moved: 0, complete: true, nextDue: nil), now: 1200) == nil)
        #expect(next(P(through: 5000, moved: 0, complete: true, nextDue: nil)) == nil)
    }

    /// A covering wait's answer counts its shard promoted until the answer, never past the fetch's
    /// head: a wait cut at the head's due time answers with a fetch that ran before it (the head
    /// still delayed), and a reader held after that answer leaves the head to the loop, which must
    /// then find it due at once — not an interval later.
    @Test func aCoveringWaitCountsTheShardPromotedUntilItsAnswerButNotPastItsHead() {
        typealias P = ShardRead.Promotion
        let fetched = P(through: 1000, moved: 0, complete: true, nextDue: 1400)
        // Cut at the head's due time (1400), answered at 1401: promoted through 1399 only.
        let cut = QueueConsumer.coveredUntilAnswered(fetched, answeredAt: 1401)
        #expect(cut.through == 1399)
        #expect(QueueConsumer.nextPromotion(after: cut, interval: 200, now: 1401) == nil, "the head is the loop's at once")
        // An answer before the head's time (a wake, a new message): covered until the answer.
        #expect(QueueConsumer.coveredUntilAnswered(fetched, answeredAt: 1200).through == 1200)
        // No head: covered until the answer; never less than the fetch's own time.
        #expect(QueueConsumer.coveredUntilAnswered(P(through: 1000, moved: 0, complete: true, nextDue: nil), answeredAt: 1500).through == 1500)
        #expect(QueueConsumer.coveredUntilAnswered(P(through: 1000, moved: 0, complete: true, nextDue: 900), answeredAt: 1500).through == 1000)
    }

    /// The fetch moves at most `fetchPromoteLimit` due messages and says so; the reply's next due
    /// time is the earliest left.
    @Test func aFetchPromotesAtMostItsLimitAndSaysWhatIsLeft() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let keys = queue.keys()
        _ = try await queue.redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        let limit = QueueScripts.fetchPromoteLimit
        let now = nowMillis()
        for i in 0..<(limit + 1) {
            let member = #"{"id":"m\#(i)","key":"","payload":"{}","attempt":"1","history":"[]","enqueued_at":"\#(now)"}"#
            _ = try await queue.redis.send("ZADD", keys.delayed, now - 1000 + Int64(i), member)
        }
        _ = try await queue.redis.send("ZADD", keys.delayed, now + 60_000, #"{"id":"later","key":"","payload":"{}","attempt":"1","history":"[]","enqueued_at":"0"}"#)
        let reader = try await RedisClient(configuration: queue.redisConfiguration, name: "test-read")
        defer { reader.close() }
        let first = try await reader.withConnection { connection in
            try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 1, cursor: nil, wait: nil)
        }
        let promotion = try #require(first.promotion)
        #expect(promotion.moved == limit && !promotion.complete && promotion.nextDue == now - 1000 + Int64(limit))
        let second = try await reader.withConnection { connection in
            try ShardRead.read(connection, keys: keys, group: QueueConsumer.group, consumer: "c1", count: 1, cursor: nil, wait: nil)
        }
        #expect(second.promotion?.moved == 1 && second.promotion?.complete == true && second.promotion?.nextDue == now + 60_000)
        #expect(try await queue.redis.send("ZCARD", keys.delayed).int == 1)
    }
}
