import Foundation
import TMCore
import TMRedis

/// Admissions (`BrokerAdmission`) that lane threads ask for while one of the same breaker is in
/// flight, decided together by the next script run — one Redis round trip and one redis-server
/// wake-up for the lot, where each was its own. The blocking twin of `CoalescedReads`, for threads
/// that own their Redis connection (`BrokerLanes`).
///
/// Guarantees:
/// - a lone admission (none of its breaker in flight) runs at once on its caller's connection: it
///   never waits for company;
/// - each call gets the outcome the script gave ITS budget, and that outcome is what the calls would
///   get one by one at that moment (the script decides them in order, each seeing the grants and the
///   probe the earlier ones took: an open circuit takes nothing, a spent budget leaves the probe's
///   turn, at most one probe, at most `limit` grants in any window — also for two calls of one
///   account in one run);
/// - every call's admission STARTS after it asked (a call is never answered by a run that began
///   before it), so nothing it waits on is stale;
/// - at most one run per breaker at a time, at most `maxCalls` calls in one; a run's failure (Redis
///   unreachable...) is the failure of every call in it, and nothing of theirs was admitted.
public final class CoalescedAdmissions: Sendable {
    /// Runs one wave's calls of one breaker on a connection: one outcome per budget, in order.
    typealias Run = @Sendable (_ connection: RedisConnection, _ breaker: CircuitBreaker, _ budgets: [BrokerAdmission.Budget])
        throws -> [BrokerAdmission.Outcome]

    /// A lane thread waiting for its outcome, or for its turn to run the next wave.
    private final class Waiter: @unchecked Sendable {
        let budget: BrokerAdmission.Budget
        /// Set before `wake` is signalled; nil when woken to run the next wave.
        var result: Result<BrokerAdmission.Outcome, any Error>?
        let wake = DispatchSemaphore(value: 0)

        init(_ budget: BrokerAdmission.Budget) { self.budget = budget }
    }

    /// One breaker's run in flight (present only while one is) and the calls waiting for the next.
    private struct Group {
        var waiting: [Waiter] = []
    }

    private let groups = Locked<[String: Group]>([:])
    private let maxCalls: Int
    private let runWave: Run

    public convenience init(maxCalls: Int = 32) {
        self.init(maxCalls: maxCalls) { connection, breaker, budgets in
            try BrokerAdmission.run(on: connection, breaker: breaker, budgets: budgets)
        }
    }

    init(maxCalls: Int = 32, run: @escaping Run) {
        self.maxCalls = max(1, maxCalls)
        runWave = run
    }

    /// Calls waiting for the next run of `breaker` (for tests).
    func waiting(_ breaker: CircuitBreaker) -> Int {
        groups.withLock { $0[Self.group(breaker)]?.waiting.count ?? 0 }
    }

    /// One call's admission through `breaker` and `budget`, on the caller's connection when it runs
    /// a wave (`connect`: opened on first use; its failure is the admission's).
    func admit(_ breaker: CircuitBreaker, budget: BrokerAdmission.Budget, connect: () throws -> RedisConnection) throws -> BrokerAdmission.Outcome {
        let name = Self.group(breaker)
        let waiter = Waiter(budget)
        let alone = groups.withLock { groups -> Bool in
            if groups[name] != nil {
                groups[name]!.waiting.append(waiter)
                return false
            }
            groups[name] = Group()
            return true
        }
        if alone {
            return try lead([waiter], of: name, breaker: breaker, connect: connect)
        }
        waiter.wake.wait()
        if let result = waiter.result { return try result.get() }
        // Handed the next run: take whoever waits (this call first among them).
        let wave = groups.withLock { groups -> [Waiter] in
            let taken = Array(groups[name]!.waiting.prefix(maxCalls))
            groups[name]!.waiting.removeFirst(taken.count)
            return taken
        }
        return try lead(wave, of: name, breaker: breaker, connect: connect)
    }

    /// Runs `wave` (its first call is the caller's), answers the others, and hands the breaker's next
    /// run to the first call that waits for one — or marks none in flight.
    private func lead(_ wave: [Waiter], of name: String, breaker: CircuitBreaker, connect: () throws -> RedisConnection) throws -> BrokerAdmission.Outcome {
        let results: [Result<BrokerAdmission.Outcome, any Error>]
        do {
            let outcomes = try runWave(try connect(), breaker, wave.map(\.budget))
            guard outcomes.count == wave.count else {
                throw RedisError.unexpectedReply(command: "EVALSHA (admission)", reply: "\(outcomes.count) outcomes for \(wave.count) calls")
            }
            results = outcomes.map { .success($0) }
        } catch {
            results = wave.map { _ in .failure(error) }
        }
        let next = groups.withLock { groups -> Waiter? in
            guard let first = groups[name]?.waiting.first else {
                groups[name] = nil
                return nil
            }
            return first
        }
        for (waiter, result) in zip(wave, results).dropFirst() {
            waiter.result = result
            waiter.wake.signal()
        }
        next?.wake.signal()
        return try results[0].get()
    }

    /// Calls are coalesced per breaker and cooldown (one script run decides them with one setting).
    private static func group(_ breaker: CircuitBreaker) -> String {
        "\(breaker.key) \(breaker.settings.cooldown.milliseconds)"
    }
}
