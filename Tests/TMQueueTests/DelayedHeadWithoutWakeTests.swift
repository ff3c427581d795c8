import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// A member that became the delayed set's head WITHOUT a wake entry — parked by a producer from
/// before the wake stream, or left by a promotion a failover took back while its wake entry stayed —
/// is still promoted when due, and so is every message parked behind it: each fetch reads the set's
/// head, whatever the wake stream says (session 34's review: a fetch that trusted the wake stream
/// while it stood never promoted such a member, nor anything due after it).
@Suite(.serialized, .timeLimit(.minutes(2))) struct DelayedHeadWithoutWakeTests {
    /// A delayed member as an old producer parks it: ZADD alone, no wake entry.
    func parkWithoutWake(_ queue: TestQueue, id: String, due: Int64) async throws {
        let member = #"{"id":"\#(id)","key":"","payload":"{\"n\":\"\#(id)\"}","attempt":"0","history":"[]","enqueued_at":"1"}"#
        #expect(try await queue.redis.send("ZADD", queue.keys().delayed, due, member).int == 1)
    }

    @Test func aHeadParkedWithoutAWakeEntryAndTheMessagesBehindItArePromoted() async throws {
        let queue = try await TestQueue { $0.shards = 1 }
        defer { Task { await queue.cleanUp() } }
        var options = QueueConsumer.Options()
        options.blockTimeout = .milliseconds(500)
        options.promoteInterval = .milliseconds(300)  // ≥ 150 ms: the reader trusts the wake stream
        let handled = Locked<[String]>([])
        let (consumer, task, _) = PromoteByReadTests.observedConsumer(queue, options) { delivery in
            handled.withLock { $0.append(String(decoding: delivery.payload, as: UTF8.self)) }
            return nil
        }
        #expect(consumer.coversByWaiting)
        try await eventually("the reader waits, covering its shard") { consumer.shardsCoveredByWaits == [0] && consumer.promotePasses >= 1 }
        // An old producer's message due in 200 ms (no wake entry), then a delayed message of a new
        // producer due after it (not the head, so no wake entry either).
        try await parkWithoutWake(queue, id: "old", due: nowMillis() + 200)
        try await queue.enqueue(#"{"new":1}"#, delay: .milliseconds(400))
        try await eventually("both are handled", within: .seconds(30)) {
            handled.current.contains(#"{"n":"old"}"#) && handled.current.contains(#"{"new":1}"#)
        }
        consumer.stop()
        try await task.value
        #expect(try await queue.redis.send("ZCARD", queue.keys().delayed).int == 0)
        #expect(handled.current.count == 2)
    }
}
