import TMCore
import TMPostgres

/// Group commit: the fenced writes that concurrent handlers of different accounts ask for while
/// another batch is committing are merged and run together in ONE transaction — the fences advanced
/// in one statement, the writes of every writer done by one call of `perform` (which merges them
/// into a few multi-row statements), one COMMIT — instead of a transaction and its statements per
/// writer.
///
/// Guarantees:
/// - each writer's write is fenced exactly as alone: the batch transaction first advances every
///   writer's fences (each message's delivery epoch and the shard leases), and the writes run only
///   if all pass;
/// - all or nothing per batch, and never wrong for one writer: when the batch transaction fails for
///   any reason (a stale fence, a deadlock, a write that refuses to be merged), it rolls back and
///   every writer of the batch is run again in a transaction of its own, fenced by its own fences
///   only, so a stale delivery commits nothing and cannot stop the others from committing;
/// - no reordering within an account: a writer waits for its own commit before going on, and a
///   worker runs one message per account at a time, so one account has at most one write in a batch;
/// - a writer alone (no one else waiting) runs in its own transaction at once, from the group's
///   drain task (two hops: to that task and back; `OrderCommits` runs a lone order's write from its
///   own task instead);
/// - with a `Company` signal, a batch that would start with fewer writers than it may carry while
///   others are KNOWN to be coming (the signal's count: for orders, handlers that began a message
///   and have not made their first write yet) waits for them — until none is coming any more, the batch is full, or the cap has passed — so writes
///   arriving one by one share a transaction (Postgres's commit_delay/commit_siblings, with a precise
///   signal instead of a guess); with none coming it starts at once, and a writer announced but never
///   writing holds the others for at most the cap;
/// - round trips: ONE per transaction when `perform` only sends its statements
///   (`PostgresConnection.send`): the fences and the writes travel in one pipeline
///   (`PostgresPool.transaction(fencedInOneRoundTrip:)`, with the BEGIN and the COMMIT for a batch,
///   as the pipeline's implicit transaction for a writer alone); a stale fence raises, which rolls
///   the whole transaction back, and is thrown as `LockError.staleFencingToken`.
///
/// `perform` may run a write twice (in a batch, then alone after a rollback), and its statements run
/// before the fence check's answer is read: it must have no effect outside the transaction. It
/// returns how to read the outputs once the transaction has committed (the results of statements
/// sent with `send(_:reading:)` arrive with the COMMIT): one output per write, in order.
public final class GroupCommit<Write: Sendable, Output: Sendable>: Sendable {
    public typealias Perform = @Sendable (PostgresConnection, [Write]) throws -> @Sendable () throws -> [Output]
    /// The most writers one transaction carries.
    public let maxBatch: Int
    let pool: PostgresPool
    let perform: Perform
    /// Who else is coming, and how long a batch waits for them (nil: a batch never waits).
    public let company: Company?
    private let state = Locked(State())

    private struct State {
        var waiting: [Writer] = []
        var draining = false
        /// The drain task waiting for company, resumed by the next arrival, departure or the cap.
        var companyWaiter: CheckedContinuation<Void, Never>?
        /// Something changed since the waiter last looked (no wake-up lost between a look and a wait).
        var nudged = false
        /// The current wait (a cap that fires late for an earlier wait is ignored) and whether its cap passed.
        var wait = 0
        var capPassed = false
    }

    /// Writers known to be coming, and the longest a batch waits for them.
    public struct Company: Sendable {
        /// How many writers are about to write (0: a batch starts at once).
        public var coming: @Sendable () -> Int
        /// Returns once the longest wait has passed: a sleep of the cap, or a gate a test opens.
        /// Cancelled when the company came first.
        public var cap: @Sendable () async -> Void

        public init(coming: @escaping @Sendable () -> Int, cap: @escaping @Sendable () async -> Void) {
            self.coming = coming
            self.cap = cap
        }
    }

    private struct Writer: Sendable {
        let write: Write
        let fences: [any Fence]
        let done: CheckedContinuation<Output, Error>
    }

    private let counted = Locked(GroupCommitCounts())
    public var counts: GroupCommitCounts { counted.withLock { $0 } }
    /// Writers waiting for the next transaction now (for tests).
    public var waiting: Int { state.withLock { $0.waiting.count } }

    public init(pool: PostgresPool, maxBatch: Int = 64, company: Company? = nil, perform: @escaping Perform) {
        self.pool = pool
        self.maxBatch = max(1, maxBatch)
        self.company = company
        self.perform = perform
    }

    /// A writer known to be coming will not (its handler ended): a batch waiting for company looks again.
    public func companyChanged() {
        guard company != nil else { return }
        nudge()
    }

    /// Runs `write` in a transaction fenced by `fences`, alone or merged into a batch with other
    /// writers' writes; returns its output once committed.
    public func write(_ write: Write, fencedBy fences: [any Fence]) async throws -> Output {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Output, Error>) in
            let (lead, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                state.waiting.append(Writer(write: write, fences: fences, done: done))
                if state.draining {
                    // The drain may be waiting for this writer: it looks again.
                    state.nudged = true
                    return (false, Self.takeWaiter(&state))
                }
                state.draining = true
                return (true, nil)
            }
            waiter?.resume()
            if lead { Task { await self.drain() } }
        }
    }

    /// Commits what waits, batch after batch, until nothing does.
    private func drain() async {
        while true {
            await awaitCompany()
            let batch = state.withLock { state -> [Writer] in
                let taken = Array(state.waiting.prefix(maxBatch))
                state.waiting.removeFirst(taken.count)
                if taken.isEmpty { state.draining = false }
                return taken
            }
            if batch.isEmpty { return }
            if batch.count == 1 {
                await alone(batch[0])
                continue
            }
            let read: @Sendable () throws -> [Output]
            do {
                let perform = self.perform
                // Not `transaction(fencedInOneRoundTrip:)`, which reads the outputs inside its call: a
                // batch must tell a rollback (fall back below) from a commit whose outputs fail (never re-run).
                read = try await pool.transaction { (db: PostgresConnection) -> @Sendable () throws -> [Output] in
                    try FencingGuard.send(db, fences: batch.flatMap(\.fences))
                    return try perform(db, batch.map(\.write))
                }
            } catch {
                // Rolled back: nothing of the batch was written. Each writer alone, fenced alone.
                counted.withLock { $0.fallbacks += 1 }
                for writer in batch { await alone(writer) }
                continue
            }
            do {
                let outputs = try read()
                guard outputs.count == batch.count else {
                    throw PostgresError(kind: .client, message: "group commit: \(outputs.count) outputs for \(batch.count) writes")
                }
                counted.withLock {
                    $0.batches += 1
                    $0.batchedWriters += batch.count
                }
                for (writer, output) in zip(batch, outputs) { writer.done.resume(returning: output) }
            } catch {
                // Committed, but its outputs unreadable (a bug in `perform`): never run again.
                for writer in batch { writer.done.resume(throwing: error) }
            }
        }
    }

    /// Before a batch: while it has room and writers are known to be coming, waits for them — until
    /// none is coming, the batch is full, or the cap (started once per batch) has passed.
    private func awaitCompany() async {
        guard let company else { return }
        let maxBatch = self.maxBatch
        let round = state.withLock { state -> Int? in
            guard !state.waiting.isEmpty, state.waiting.count < maxBatch else { return nil }
            state.nudged = false
            state.capPassed = false
            state.wait &+= 1
            return state.wait
        }
        guard let round, company.coming() > 0 else { return }
        let cap = company.cap
        let timer = Task { [weak self] in
            await cap()
            self?.capPassed(round)
        }
        defer { timer.cancel() }
        counted.withLock { $0.companyWaits += 1 }
        while true {
            await withCheckedContinuation { (resume: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.nudged {
                        state.nudged = false
                        return true
                    }
                    state.companyWaiter = resume
                    return false
                }
                if now { resume.resume() }
            }
            let (full, capped) = state.withLock { ($0.waiting.count >= maxBatch, $0.capPassed) }
            if capped { counted.withLock { $0.capsReached += 1 } }
            if full || capped || company.coming() <= 0 { return }
        }
    }

    private func capPassed(_ round: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.wait == round else { return nil }
            state.capPassed = true
            state.nudged = true
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }

    private func nudge() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.nudged = true
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }

    /// The waiter to resume (outside the lock) for a change just marked `nudged`: the change is
    /// then delivered by the resumption itself.
    private static func takeWaiter(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        defer { state.companyWaiter = nil }
        if state.companyWaiter != nil { state.nudged = false }
        return state.companyWaiter
    }

    private func alone(_ writer: Writer) async {
        do {
            let perform = self.perform
            let write = writer.write
            let fences = writer.fences
            let outputs = try await pool.transaction(fencedInOneRoundTrip: fences) { db in
                try perform(db, [write])
            }
            guard let output = outputs.first else { throw PostgresError(kind: .client, message: "group commit: no output for a write") }
            writer.done.resume(returning: output)
        } catch {
            writer.done.resume(throwing: error)
        }
    }
}

/// How a group commit's batches went (for the benchmark and tests): transactions run for batches of
/// two or more, writers they carried, batches that fell back to one transaction per writer, and the
/// waits for company.
public struct GroupCommitCounts: Sendable, Equatable {
    public var batches = 0
    public var batchedWriters = 0
    public var fallbacks = 0
    /// Batches that waited for writers known to be coming, and those of them that waited the whole cap.
    public var companyWaits = 0
    public var capsReached = 0
}
