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
/// - at most one wave per breaker at a time, at most `maxCalls` calls in one;
/// - no call fails because of another lane's connection: a call's connection is opened before it
///   joins (a lane that cannot open one fails alone, at once), and a run that was never executed
///   (not written, refused by the server) fails only the call whose connection ran it — each other
///   call of that wave then runs alone on its own connection, as it would have without coalescing;
/// - a run whose reply is lost (written, then timed out or cut; or a reply that cannot be read) fails
///   EVERY call of its wave, and nothing is sent for any of them. Conservatively each of them counts
///   its budget unit as spent (the script may have run: up to one unit per call of the wave, each of
///   its own account, where a lone call's lost reply spent one), and a half-open circuit's probe the
///   run may have taken stays out until one more cooldown has passed — as a lone call's lost reply
///   always left it. Never resent: a resend could only spend a second unit.
public final class CoalescedAdmissions: Sendable {
    /// Runs one wave's calls of one breaker on a connection: one outcome per budget, in order.
    typealias Run = @Sendable (_ connection: RedisConnection, _ breaker: CircuitBreaker, _ budgets: [BrokerAdmission.Budget])
        throws -> [BrokerAdmission.Outcome]

    /// What a waiting call is woken for.
    private enum Turn {
        /// Its outcome (or the failure of the run that decided it).
        case answered(Result<BrokerAdmission.Outcome, any Error>)
        /// To run the breaker's next wave on its own connection.
        case lead
        /// To run its own admission alone: its wave's run was never executed.
        case alone
    }

    /// A lane thread waiting for its outcome, or for its turn to run.
    private final class Waiter: @unchecked Sendable {
        let budget: BrokerAdmission.Budget
        /// Set before `wake` is signalled.
        var turn: Turn?
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
    /// (`connect`: opened on first use; its failure is this admission's alone).
    func admit(_ breaker: CircuitBreaker, budget: BrokerAdmission.Budget, connect: () throws -> RedisConnection) throws -> BrokerAdmission.Outcome {
        // Before joining: a connection that cannot be opened must not hold up the calls behind it.
        let connection = try connect()
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
            return try lead([waiter], of: name, breaker: breaker, on: connection)
        }
        waiter.wake.wait()
        switch waiter.turn! {
        case .answered(let result):
            return try result.get()
        case .alone:
            return try run(on: connection, breaker, [budget])[0]
        case .lead:
            // Take whoever waits (this call first among them).
            let wave = groups.withLock { groups -> [Waiter] in
                let taken = Array(groups[name]!.waiting.prefix(maxCalls))
                groups[name]!.waiting.removeFirst(taken.count)
                return taken
            }
            return try lead(wave, of: name, breaker: breaker, on: connection)
        }
    }

    /// Runs `wave` (its first call is the caller's), wakes the others with their turn, and hands the
    /// breaker's next wave to the first call that waits for one — or marks none in flight.
    private func lead(_ wave: [Waiter], of name: String, breaker: CircuitBreaker, on connection: RedisConnection) throws -> BrokerAdmission.Outcome {
        let turns: [Turn]
        do {
            turns = try run(on: connection, breaker, wave.map(\.budget)).map { .answered(.success($0)) }
        } catch {
            let others: Turn = Self.mayHaveRun(error) ? .answered(.failure(error)) : .alone
            turns = [.answered(.failure(error))] + Array(repeating: others, count: wave.count - 1)
        }
        let next = groups.withLock { groups -> Waiter? in
            guard let first = groups[name]?.waiting.first else {
                groups[name] = nil
                return nil
            }
            return first
        }
        for (waiter, turn) in zip(wave, turns).dropFirst() {
            waiter.turn = turn
            waiter.wake.signal()
        }
        if let next {
            next.turn = .lead
            next.wake.signal()
        }
        guard case .answered(let own) = turns[0] else { preconditionFailure("a leader's turn is its answer") }
        return try own.get()
    }

    /// One run of `budgets`' calls: exactly one outcome each, in order.
    private func run(on connection: RedisConnection, _ breaker: CircuitBreaker, _ budgets: [BrokerAdmission.Budget]) throws -> [BrokerAdmission.Outcome] {
        let outcomes = try runWave(connection, breaker, budgets)
        guard outcomes.count == budgets.count else {
            // The script ran, but which call got what cannot be told: a lost reply.
            throw RedisError.unexpectedReply(command: "EVALSHA (admission)", reply: "\(outcomes.count) outcomes for \(budgets.count) calls")
        }
        return outcomes
    }

    /// Whether a failed run may have executed the script (its grants and probe may be taken): a reply
    /// lost after the script was written, or one that could not be read. A run not written, or
    /// refused by the server, took nothing for the calls that waited (a script error part-way, a
    /// bug, may have taken some: their own runs then count them again — a unit spent twice, never a
    /// grant over a limit).
    private static func mayHaveRun(_ error: any Error) -> Bool {
        switch error as? RedisError {
        case .connection(_, let mayHaveExecuted): mayHaveExecuted
        case .protocolViolation, .unexpectedReply: true
        case .server, nil: false
        }
    }

    /// Calls are coalesced per breaker and cooldown (one script run decides them with one setting).
    private static func group(_ breaker: CircuitBreaker) -> String {
        "\(breaker.key) \(breaker.settings.cooldown.milliseconds)"
    }
}
