import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// An idle shard's delayed messages are promoted by its waiting reader, not by a poll: a script
/// that gives the delayed set an earlier head writes the shard's wake stream, which ends the wait,
/// and the next wait ends by the head's due time (`QueueKeys.wake`, `QueueConsumer.idleWait`). A
/// shard whose reader is held is still promoted by the loop.
@Suite(.serialized, .timeLimit(.minutes(3))) struct WakePromotionTests {
    /// Idle reads wait 8 s (a message left to such a wait misses the tests' 5 s); the loop would
    /// promote every 300 ms.
    private static var options: QueueConsumer.Options {
        var options = QueueConsumer.Options()
        options.blockTimeout = .seconds(8)
        options.promoteInterval = .milliseconds(300)
        return options
    }

    /// With the reader in an 8 s wait: a message delayed 300 ms wakes it (an earlier head), its
    /// next wait ends at the due time, and it is handled — no `promote` call goes out meanwhile.
    /// Then a retry (the handler fails once) is promoted the same way.
    @Test func anIdleShardIsPromotedByItsWaitingReaderWithoutAPromoteCall() async throws {
        let queue = try await TestQueue { $0.backoff = .init(base: .milliseconds(300), cap: .milliseconds(300), jitter: .none) }
        defer { Task { await queue.cleanUp() } }
        let promote = try await PromoteByReadTests.evalsha(QueueScripts.promote, queue)
        struct Once: Error {}
        let handled = Locked<[Int]>([])
        let (consumer, task, trips) = PromoteByReadTests.observedConsumer(queue, Self.options) { delivery in
            handled.withLock { $0.append(delivery.attempt) }
            if delivery.attempt == 1 { throw Once() }
            return nil
        }
        try await eventually("the reader waits, covering its shard") { consumer.shardsCoveredByWaits == [0] && consumer.promotePasses >= 1 }
        let promoteCalls = { trips.all.flatMap { $0 }.filter { $0 == promote }.count }
        let callsBefore = promoteCalls()
        let enqueued = ContinuousClock.now
        try await queue.enqueue(#"{"delayed":true}"#, delay: .milliseconds(300))
        try await eventually("handled, retried and handled again", within: .seconds(5)) { handled.current == [1, 2] }
        #expect(ContinuousClock.now - enqueued < .seconds(5))
        consumer.stop()
        try await task.value
        #expect(promoteCalls() == callsBefore)
        #expect(consumer.counters.promoted == 2)
    }

    /// A shard whose reader is held (its only slot busy) is not covered by a wait: the loop
    /// promotes it, with waits covering the shard whenever the reader is idle.
    @Test func theLoopPromotesAShardWhoseReaderIsHeldAfterAWait() async throws {
        try await PromoteByReadTests.expectPromotedWhileTheReaderIsHeld(Self.options) { consumer in
            try await eventually("the reader waits, covering its shard") { consumer.shardsCoveredByWaits == [0] }
        }
    }

    /// The idle wait: the block time-out, cut at the next due time; at once when that has come or
    /// the fetch left due messages behind.
    @Test func anIdleWaitEndsByTheNextDueTime() {
        let p = { (nextDue: Int64?, complete: Bool) in ShardRead.Promotion(through: 1_000, moved: 0, complete: complete, nextDue: nextDue) }
        #expect(QueueConsumer.idleWait(.milliseconds(500), after: nil, now: 1_000) == .milliseconds(500))
        #expect(QueueConsumer.idleWait(.milliseconds(500), after: p(nil, true), now: 1_000) == .milliseconds(500))
        #expect(QueueConsumer.idleWait(.milliseconds(500), after: p(1_120, true), now: 1_000) == .milliseconds(120))
        #expect(QueueConsumer.idleWait(.milliseconds(500), after: p(9_000, true), now: 1_000) == .milliseconds(500))
        #expect(QueueConsumer.idleWait(.milliseconds(500), after: p(1_000, true), now: 1_000) == nil)
        #expect(QueueConsumer.idleWait(.milliseconds(500), after: p(9_000, false), now: 1_000) == nil)
    }
}
