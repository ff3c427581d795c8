import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// A delayed message is never handed out before its delay has passed by the clock that scheduled
/// it: its due time is rounded up to a whole millisecond, the promoting "now" rounded down
/// (`QueueClockReading`).
@Suite(.serialized, .timeLimit(.minutes(2))) struct DueTimeTests {
    /// A reading `millis` milliseconds and `fraction` of one (in nanoseconds) after `base`.
    func reading(_ base: Int64, _ millis: Int64, plus nanos: Int64) -> QueueClockReading {
        QueueClockReading(nanosecondsSince1970: (base + millis) * 1_000_000 + nanos)
    }

    @Test func aDueTimeRoundsUpAndNowRoundsDown() {
        let base: Int64 = 1_800_000_000_000
        let at = reading(base, 0, plus: 400_000)
        #expect(at.millis == base)
        #expect(at.due(after: .milliseconds(10)) == base + 11)
        #expect(at.due(after: .zero) == base)
        #expect(at.due(after: .nanoseconds(1)) == base + 1)
        #expect(reading(base, 0, plus: 0).due(after: .milliseconds(2)) == base + 2)
        #expect(reading(base, 0, plus: 900_000).millis == base)
        #expect(at.due(after: .seconds(Int64.max)) == Int64.max / 1_000_000)
    }

    /// Enqueued by the producer at a reading with a fraction of a millisecond, a delayed message is
    /// not promoted by a reading before its exact due time, and is by the next whole millisecond —
    /// both for a fraction below a half (rounding the due time to nearest would make it early) and
    /// above (rounding "now" to nearest would).
    @Test func aDelayedMessageIsNotPromotedBeforeItsExactDueTime() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let base = nowMillis()
        for (fraction, early) in [(Int64(400_000), Int64(300_000)), (700_000, 600_000)] {
            let scheduled = reading(base, 0, plus: fraction)
            var ids = MessageIDs(count: 1)
            let message = OutgoingMessage(payload: Array(#"{"delayed":true}"#.utf8), delay: .milliseconds(10))
            let prepared = try queue.producer.prepare(queue.name, message, manifest: queue.manifest, clock: scheduled, ids: &ids)
            let keys = prepared.queueKeys
            _ = try prepared.interpret(try await queue.redis.run(QueueScripts.enqueue, keys: prepared.keys, arguments: prepared.arguments))
            func promote(at clock: QueueClockReading) async throws -> Int64 {
                let reply = try await queue.redis.run(QueueScripts.promote, keys: [keys.stream, keys.delayed], arguments: [clock.millis, 1000])
                return reply.array?.first?.int ?? -1
            }
            // Exact due time: base + 10 ms + fraction.
            #expect(try await promote(at: reading(base, 10, plus: early)) == 0, "fraction \(fraction)")
            #expect(try await queue.redis.send("ZCARD", keys.delayed).int == 1)
            #expect(try await promote(at: reading(base, 11, plus: 0)) == 1, "fraction \(fraction)")
            #expect(try await queue.redis.send("ZCARD", keys.delayed).int == 0)
        }
    }
}
