import Foundation
import Testing
import TMRedis
@testable import TMQueue

/// A dead letter's attempt count is the attempts that ran: deferrals (`RetryDeferring`, nothing
/// done) are in its history but are not attempts.
@Suite struct DeadLetterAttemptsTests {
    @Test func deferralsInTheHistoryAreNotCountedAsAttempts() throws {
        let history: [AttemptRecord] = [
            AttemptRecord(at: 1, consumer: "c", attempt: 1, kind: .error, error: "503"),
            AttemptRecord(at: 2, consumer: "c", attempt: 2, kind: .deferred, error: "deferred 3× since …", deferrals: 3, deferredSince: 2),
            AttemptRecord(at: 3, consumer: "c", attempt: 2, kind: .error, error: "503"),
        ]
        let json = String(decoding: try JSONEncoder().encode(history), as: UTF8.self)
        let fields: [RedisValue] = ["id", "m-1", "payload", "{}", "attempt", "2", "reason", "exhausted", "history", json].map { .bulk(Array($0.utf8)) }
        let letter = DeadLetter(queue: "orders", shard: 0, streamID: "1-0", fields: fields)
        #expect(letter.attempts == 2)
        #expect(letter.history.count == 3)
    }
}
