import TMCore
import TMLocks
import TMPostgres

/// Group commit for one shard's writers: the fenced transactions that concurrent handlers of
/// different accounts ask for while another is committing are run together, in ONE transaction
/// (the shard lease fence is taken once, the commit paid once), instead of one after another.
///
/// Guarantees:
/// - each writer's work is fenced exactly as alone: the batch transaction first advances every
///   writer's fences (each message's delivery epoch and the shard lease), and the work runs only if
///   all pass;
/// - all or nothing per batch, and never wrong for one writer: when the batch transaction fails for
///   any reason (a stale fence, a key taken, a deadlock), it rolls back and every writer of the batch
///   is run again in a transaction of its own (`PostgresPool.transaction(fencedBy:)`), so a stale
///   delivery commits nothing and cannot stop the others from committing;
/// - no reordering within an account: a writer waits for its own commit before going on, and a
///   shard runs one message per account at a time, so one account has at most one writer in a batch;
/// - a writer alone (no one else waiting) runs in its own transaction at once: no added latency.
///
/// Bodies may run twice (batch, then alone after a rollback): they must return their results rather
/// than keep effects outside the transaction.
public final class GroupCommit: Sendable {
    /// The most writers one transaction carries.
    public let maxBatch: Int
    let pool: PostgresPool
    private let state = Locked(State())

    private struct State {
        var waiting: [Writer] = []
        var draining = false
    }

    private struct Writer: Sendable {
        let fences: [any Fence]
        let run: @Sendable (PostgresConnection) throws -> Void
        let done: CheckedContinuation<Void, Error>
    }

    /// How batches went (for the benchmark and tests): transactions run for batches of two or more,
    /// writers they carried, and batches that fell back to one transaction per writer.
    public struct Counts: Sendable, Equatable {
        public var batches = 0
        public var batchedWriters = 0
        public var fallbacks = 0
    }
    private let counted = Locked(Counts())
    public var counts: Counts { counted.withLock { $0 } }
    /// Writers waiting for the next transaction now (for tests).
    public var waiting: Int { state.withLock { $0.waiting.count } }

    public init(pool: PostgresPool, maxBatch: Int = 64) {
        self.pool = pool
        self.maxBatch = max(1, maxBatch)
    }

    /// Runs `body` in a transaction fenced by `fences`, alone or in a batch with other writers.
    public func transaction<T: Sendable>(fencedBy fences: [any Fence], _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let result = Locked<T?>(nil)
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
            let writer = Writer(fences: fences, run: { db in
                let value = try body(db)
                result.withLock { $0 = value }
            }, done: done)
            let lead = state.withLock { state -> Bool in
                state.waiting.append(writer)
                if state.draining { return false }
                state.draining = true
                return true
            }
            if lead { Task { await self.drain() } }
        }
        guard let value = result.withLock({ $0 }) else { throw PostgresError(kind: .client, message: "group commit finished without a result") }
        return value
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
            do {
                try await pool.transaction { db in
                    try Self.advance(db, fences: batch.flatMap(\.fences))
                    for writer in batch { try writer.run(db) }
                }
                counted.withLock {
                    $0.batches += 1
                    $0.batchedWriters += batch.count
                }
                for writer in batch { writer.done.resume() }
            } catch {
                // Rolled back: nothing of the batch was written. Each writer alone, fenced alone.
                counted.withLock { $0.fallbacks += 1 }
                for writer in batch { await alone(writer) }
            }
        }
    }

    private func alone(_ writer: Writer) async {
        do {
            try await pool.transaction(fencedBy: writer.fences, writer.run)
            writer.done.resume()
        } catch {
            writer.done.resume(throwing: error)
        }
    }

    /// Advances every distinct fence of the batch in one statement, in resource order (as
    /// `FencingGuard.advance(_:fences:)`, so two transactions never wait on fence rows in opposite
    /// orders); throws `LockError.staleFencingToken` for the first that does not pass.
    static func advance(_ db: PostgresConnection, fences: [any Fence]) throws {
        var seen = Set<String>()
        var distinct: [(resource: String, token: Int64)] = []
        for fence in fences where seen.insert("\(fence.resource)\u{0}\(fence.fencingToken)").inserted {
            distinct.append((fence.resource, fence.fencingToken))
        }
        // Two deliveries of one message in a batch: the newer epoch first, so the older one fails and
        // the batch falls back (alone, the older delivery is refused after the newer one committed).
        distinct.sort { $0.resource < $1.resource || ($0.resource == $1.resource && $0.token > $1.token) }
        guard db.isInTransaction else {
            throw PostgresError(kind: .client, message: "GroupCommit.advance must run inside the transaction it guards")
        }
        var binds: [PostgresData?] = []
        var rows: [String] = []
        for (index, fence) in distinct.enumerated() {
            binds += [Int32(index).postgresData(), fence.resource.postgresData(), fence.token.postgresData()]
            rows.append("($\(binds.count - 2)::integer, $\(binds.count - 1)::text, $\(binds.count)::bigint)")
        }
        // One row per fence, advanced in `n` order (the subquery's order is the scan's).
        let result = try db.query(PostgresQuery(unsafeSQL: """
            SELECT f.resource, f.token, tm_advance_fence(f.resource, f.token) AS passed
            FROM (SELECT n, resource, token FROM (VALUES \(rows.joined(separator: ", "))) AS v (n, resource, token) ORDER BY n) AS f
            """, binds: binds))
        for row in result.rows where !(try row.decode("passed", as: Bool.self)) {
            throw LockError.staleFencingToken(resource: try row.decode("resource"), token: try row.decode("token"))
        }
    }
}
