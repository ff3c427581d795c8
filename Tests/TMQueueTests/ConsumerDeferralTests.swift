import Foundation
import Testing
import TestSupport
import TMCore
import TMQueue

/// A handler that did nothing and can do nothing before a time (`RetryDeferring`: a broker whose
/// circuit is open) is run again after that time without using up one of the message's
/// `max_deliveries`, within the queue's `max_deferral`, past which the message ends like any other.
@Suite struct ConsumerDeferralTests {
    /// "Nothing done; not before `notBefore`."
    struct NotYet: RetryDeferring, CustomStringConvertible {
        let retryNotBefore: Date
        var description: String { "circuit open for kite; next probe later" }
    }

    @Test func aDeferringHandlerRunsAgainAfterItsNotBeforeWithoutUsingUpDeliveries() async throws {
        // Two deliveries at most: three deferrals and a failure would dead-letter the message if a
        // deferral counted.
        let queue = try await TestQueue { $0.maxDeliveries = 2 }
        defer { Task { await queue.cleanUp() } }
        let runs = Locked<[(attempt: Int, at: Date)]>([])
        let notBefore = Locked<Date?>(nil)
        struct Down: Error {}
        let (consumer, task) = queue.consume { delivery in
            let now = Date()
            let n = runs.withLock { runs in
                runs.append((delivery.attempt, now))
                return runs.count
            }
            switch n {
            case 1...3:
                let until = now.addingTimeInterval(0.3)
                notBefore.withLock { $0 = until }
                throw NotYet(retryNotBefore: until)
            case 4: throw Down()  // the first counted failure: attempt 1 of 2
            default: return "placed"
            }
        }
        let sent = try await queue.enqueue(#"{"order":1}"#, key: "deferral-1")
        try await eventually("handled after three deferrals and a failure") { consumer.counters.handled == 1 }
        consumer.stop()
        try await task.value
        let seen = runs.current
        #expect(seen.map(\.attempt) == [1, 1, 1, 1, 2], "the deferrals kept attempt 1; only the failure counted")
        for n in 1...3 {
            // Never run again before the time the handler asked for (the wall clock the consumer schedules by).
            #expect(seen[n].at.timeIntervalSince(seen[n - 1].at) >= 0.3 - 0.002, "run \(n + 1) came before its not-before")
        }
        let counters = consumer.counters
        #expect(counters.deferred == 3 && counters.retried == 1 && counters.deadLettered == 0)
        #expect(try await queue.deadLetters().isEmpty)
        let duplicate = try await queue.enqueue(#"{"order":1}"#, key: "deferral-1")
        #expect(duplicate.duplicate && duplicate.id == sent.id && duplicate.result == "placed")
    }

    @Test func pastMaxDeferralTheMessageIsDeadLetteredNamingTheReason() async throws {
        let queue = try await TestQueue {
            $0.maxDeliveries = 1
            $0.maxDeferral = .milliseconds(600)
        }
        defer { Task { await queue.cleanUp() } }
        let (consumer, task) = queue.consume { _ in throw NotYet(retryNotBefore: Date().addingTimeInterval(0.2)) }
        try await queue.enqueue(#"{"order":2}"#, key: "deferral-2")
        try await eventually("dead-lettered once max_deferral is spent", within: .seconds(30)) { consumer.counters.deadLettered == 1 }
        consumer.stop()
        try await task.value
        let letter = try #require(try await queue.deadLetters().first).fields
        #expect(letter["reason"] == "deferral_exhausted")
        #expect(letter["error"]?.contains("past max_deferral 600ms") == true, "\(letter["error"] ?? "")")
        let history = try JSONDecoder().decode([AttemptRecord].self, from: Data(letter["history"]!.utf8))
        // The deferrals of attempt 1 folded into one record an operator can read, then the counted attempt.
        #expect(history.map(\.kind) == [.deferred, .error])
        let deferred = history[0]
        #expect(deferred.attempt == 1 && (deferred.deferrals ?? 0) >= 2 && deferred.error.hasPrefix("deferred \(deferred.deferrals ?? 0)× since"))
        #expect(consumer.counters.deferred == deferred.deferrals)
    }

    @Test func aWaitEndingPastMaxDeferralIsACountedAttempt() async throws {
        // One delivery at most: a wait of an hour against a max_deferral of ten minutes is not taken
        // uncounted (a budget spent until tomorrow), so the only attempt ends the message at once.
        let queue = try await TestQueue { $0.maxDeliveries = 1 }
        defer { Task { await queue.cleanUp() } }
        let (consumer, task) = queue.consume { _ in throw NotYet(retryNotBefore: Date().addingTimeInterval(3600)) }
        try await queue.enqueue(#"{"order":3}"#, key: "deferral-3")
        try await eventually("dead-lettered on its only attempt", within: .seconds(30)) { consumer.counters.deadLettered == 1 }
        consumer.stop()
        try await task.value
        #expect(consumer.counters.deferred == 0)
        let letter = try #require(try await queue.deadLetters().first).fields
        #expect(letter["reason"] == "deferral_exhausted")
        #expect(letter["error"]?.contains("past max_deferral 10m") == true, "\(letter["error"] ?? "")")
    }

    @Test func maxDeferralIsParsedAndValidatedNamingTheField() throws {
        let base = "name: q\nretention:\n  completed: 1h\n"
        #expect(try QueueCatalog.parse(base + "max_deferral: 5m\n", file: "Queues/q.yaml").maxDeferral == .seconds(300))
        #expect(try QueueCatalog.parse(base, file: "Queues/q.yaml").maxDeferral == .seconds(600), "the default")
        // Below a short retention the default shrinks to half of it: the idempotency record outlives the deferrals.
        #expect(try QueueCatalog.parse("name: q\nretention:\n  completed: 10m\n", file: "Queues/q.yaml").maxDeferral == .seconds(300))
        for bad in ["max_deferral: 2h\n", "max_deferral: soon\n", "max_deferral: 2d\n"] {
            #expect {
                try QueueCatalog.parse(base + bad, file: "Queues/q.yaml")
            } throws: { error in
                "\(error)".contains("max_deferral")
            }
        }
    }
}
