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
    private let state = Locked(State())

    private struct State {
        var waiting: [Writer] = []
        var draining = false
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

    public init(pool: PostgresPool, maxBatch: Int = 64, perform: @escaping Perform) {
        self.pool = pool
        self.maxBatch = max(1, maxBatch)
        self.perform = perform
    }

    /// Runs `write` in a transaction fenced by `fences`, alone or merged into a batch with other
    /// writers' writes; returns its output once committed.
    public func write(_ write: Write, fencedBy fences: [any Fence]) async throws -> Output {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Output, Error>) in
            let lead = state.withLock { state -> Bool in
                state.waiting.append(Writer(write: write, fences: fences, done: done))
                if state.draining { return false }
                state.draining = true
                return true
            }
            if lead { Task { await self.drain() } }
        }
    }

    /// Commits what waits, batch after batch, until nothing does.
    private func drain() async {
        while true {
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
/// two or more, writers they carried, and batches that fell back to one transaction per writer.
public struct GroupCommitCounts: Sendable, Equatable {
    public var batches = 0
    public var batchedWriters = 0
    public var fallbacks = 0
}
