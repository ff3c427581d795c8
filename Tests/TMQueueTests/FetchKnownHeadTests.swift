import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// A fetch given the wake cursor and head its reader's last read answered (`QueueScripts.fetch`'s
/// `knownWake`, `knownHead`) skips the delayed set only while no new head came since and that head
/// is not due — a new head (the wake stream moved) or a due head is read and promoted as before —
/// and only a reader that trusts the wake stream (`QueueConsumer.coversByWaiting`) gives them.
@Suite(.serialized, .timeLimit(.minutes(3))) struct FetchKnownHeadTests {
    /// A delayed member as the enqueue scripts park it, due at `due` — added by hand, so no wake
    /// entry is written (as by a producer from before the wake stream).
    func parkWithoutWake(_ queue: TestQueue, id: String, due: Int64) async throws {
        let member = #"{"id":"\#(id)","key":"","payload":"{\"n\":\"\#(id)\"}","attempt":"0","history":"[]","enqueued_at":"1"}"#
        #expect(try await queue.redis.send("ZADD", queue.keys().delayed, due, member).int == 1)
    }

    func read(_ reader: RedisClient, _ queue: TestQueue, known: (wake: String, nextDue: Int64?)?) async throws -> ShardRead {
        try await reader.withConnection { connection in
            try ShardRead.read(connection, keys: queue.keys(), group: QueueConsumer.group, consumer: "c1", count: 10, cursor: nil,
                               wait: nil, known: known)
        }
    }

    /// The shard's group, a reader of its own (close it) and its first read, nothing known.
    func readerAndFirstRead(_ queue: TestQueue) async throws -> (RedisClient, ShardRead) {
        let reader = try await RedisShardReadTests().groupAndReader(queue)
        return (reader, try await read(reader, queue, known: nil))
    }

    /// The read promoted the one due member and read it; the delayed set is empty.
    func expectPromotedAndRead(_ read: ShardRead, _ queue: TestQueue) async throws {
        #expect(read.promotion?.moved == 1)
        #expect(read.entries.count == 1)
        #expect(try await queue.redis.send("ZCARD", queue.keys().delayed).int == 0)
    }

    /// No new head since the known read and its head (none) not due: the delayed set is not read —
    /// a member that reached it without a wake entry stays there — and the known head is answered.
    @Test func withTheWakeStreamStandingAndNoHeadDueTheDelayedSetIsNotRead() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let (reader, first) = try await readerAndFirstRead(queue)
        defer { reader.close() }
        let wake = try #require(first.wakeCursor)
        #expect(wake == "0-0", "no wake stream yet")
        #expect(first.promotion?.nextDue == nil)
        try await parkWithoutWake(queue, id: "m1", due: nowMillis() - 1_000)

        let skipped = try await read(reader, queue, known: (wake, nil))
        #expect(skipped.entries.isEmpty)
        #expect(skipped.promotion?.moved == 0 && skipped.promotion?.complete == true && skipped.promotion?.nextDue == nil)
        #expect(skipped.wakeCursor == wake)
        #expect(try await queue.redis.send("ZCARD", queue.keys().delayed).int == 1, "the delayed set was not read")

        // Unknown, it is read and promoted (the member is due).
        try await expectPromotedAndRead(try await read(reader, queue, known: nil), queue)
    }

    /// A new head (the wake stream moved past the known cursor) and a known head that is due are
    /// each read and promoted by the fetch, whatever the caller knew.
    @Test func aNewHeadOrADueKnownHeadIsPromotedByTheFetch() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let (reader, first) = try await readerAndFirstRead(queue)
        defer { reader.close() }
        let wake = try #require(first.wakeCursor)

        // A delayed enqueue: the set's new head, so the wake stream moves.
        try await queue.enqueue(#"{"delayed":1}"#, delay: .milliseconds(1))
        let due = try await queue.redis.send("ZRANGE", queue.keys().delayed, 0, 0, "WITHSCORES").array?[1].string.flatMap { Int64($0) }
        let dueAt = try #require(due)
        try await eventually("the delayed message is due") { nowMillis() > dueAt }
        let newHead = try await read(reader, queue, known: (wake, nil))
        #expect(newHead.wakeCursor != wake, "the wake stream moved")
        try await expectPromotedAndRead(newHead, queue)

        // The wake stream standing, but the known head due: read and promoted.
        let standing = try #require(newHead.wakeCursor)
        let past = nowMillis() - 1_000
        try await parkWithoutWake(queue, id: "m2", due: past)
        try await expectPromotedAndRead(try await read(reader, queue, known: (standing, past)), queue)
    }

    /// A consumer whose waits do not cover its shard (`promoteInterval` under the wait's lateness:
    /// the polling set-up for producers from before the wake stream) gives its fetches nothing
    /// known: a due member parked without a wake entry is promoted by its busy reader's fetches
    /// (which record the shard promoted, so the loop leaves it to them) while messages keep coming.
    @Test func aReaderThatDoesNotTrustTheWakeStreamReadsTheDelayedSetEveryTime() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let handled = Locked<[String]>([])
        let (consumer, task) = queue.consume { delivery in
            handled.withLock { $0.append(String(decoding: delivery.payload, as: UTF8.self)) }
            return nil
        }
        #expect(!consumer.coversByWaiting)
        try await eventually("the consumer reads") { consumer.promotePasses >= 1 }
        try await parkWithoutWake(queue, id: "old", due: nowMillis() - 1_000)
        // Traffic until the parked member is handled (bounded: 2,000 messages).
        var sent = 0
        while !handled.current.contains(#"{"n":"old"}"#) && sent < 2_000 {
            try await queue.enqueue(#"{"traffic":\#(sent)}"#)
            sent += 1
        }
        let handledDuringTraffic = handled.current.contains(#"{"n":"old"}"#)
        consumer.stop()
        try await task.value
        #expect(handledDuringTraffic, "promoted while the reader was busy (\(sent) messages sent)")
    }
}
