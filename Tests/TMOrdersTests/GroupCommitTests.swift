import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMOrders
import TMPostgres

/// The group commit's guarantees against a real Postgres: writers waiting together commit in one
/// transaction, their writes merged into one statement, each still fenced by its own fences; a stale
/// fence in a batch makes the batch fall back to one transaction per writer, so the stale writer
/// commits nothing and the others commit.
@Suite(.serialized) struct GroupCommitTests {
    /// A scratch table, a pool on a migrated database, and a writer that holds the committer busy
    /// until released, so the writers that come meanwhile wait together and form one batch.
    final class Bench: @unchecked Sendable {
        let database: TestDatabase
        let db: PostgresConnection
        let pool: PostgresPool
        let commits: GroupCommit<String, Void>
        let released = Locked(false)
        let blocking = Locked(false)
        /// Statements `perform` ran (one per batch, whatever its size).
        let statements = Locked(0)

        init() throws {
            database = try TestDatabase(migrated: true, prefix: "tm_group")
            db = try database.connect()
            try db.simpleQuery("CREATE TABLE written (name text PRIMARY KEY, txid bigint NOT NULL DEFAULT txid_current())")
            pool = PostgresPool(configuration: database.configuration, size: 4)
            let (released, blocking, statements) = (released, blocking, statements)
            // Every name of the batch in ONE statement; the write "blocker" holds the committer
            // busy until released, so the writers that come meanwhile wait together.
            commits = GroupCommit(pool: pool, maxBatch: 64) { db, names in
                if names.contains("blocker") {
                    // Alone, answered: the committer holds its transaction open until released.
                    try db.execute("INSERT INTO written (name) SELECT unnest(\(PostgresData.array(names))::text[])")
                    blocking.withLock { $0 = true }
                    while !released.withLock({ $0 }) { usleep(2_000) }
                } else {
                    // Sent: it goes with the fences and the COMMIT in one round trip.
                    try db.send("INSERT INTO written (name) SELECT unnest(\(PostgresData.array(names))::text[])")
                }
                statements.withLock { $0 += 1 }
                return { names.map { _ in () } }
            }
        }

        /// A fresh delivery's fence (epoch 1 of a message of its own).
        func fence(_ name: String, epoch: Int64 = 1) -> MessageFence { MessageFence(queue: "group-test", messageID: name, epoch: epoch) }

        func write(_ name: String, fences: [any Fence]) async throws {
            try await commits.write(name, fencedBy: fences)
        }

        /// Starts the blocker: a writer alone in its transaction until `release()`.
        func block() -> Task<Void, Error> {
            Task { try await self.write("blocker", fences: [self.fence("blocker")]) }
        }

        func release() { released.withLock { $0 = true } }

        func names() throws -> Set<String> { Set(try db.query("SELECT name FROM written").rows.map { try $0.decode("name", as: String.self) }) }
        func transactions(of names: [String]) throws -> Int {
            try db.query("SELECT count(DISTINCT txid)::int AS n FROM written WHERE name = ANY(string_to_array(\(names.joined(separator: ",")), ','))")
                .rows[0].decode("n")
        }

        func close() async {
            await pool.shutdown()
            db.close()
            database.drop()
        }
    }

    @Test func writersWaitingTogetherCommitInOneFencedTransaction() async throws {
        let b = try Bench()
        let blocker = b.block()
        try await eventually("the blocker in its transaction") { b.blocking.withLock { $0 } }
        let names = (0..<6).map { "w\($0)" }
        // Second deliveries (epoch 2): a first delivery writes no fence row (0046), so this is what shows
        // the batch advancing each writer's fence row.
        let writers = names.map { name in Task { try await b.write(name, fences: [b.fence(name, epoch: 2)]) } }
        try await eventually("every writer waiting") { b.commits.waiting == names.count }
        b.release()
        try await blocker.value
        for writer in writers { try await writer.value }
        #expect(try b.names() == Set(names + ["blocker"]))
        #expect(try b.transactions(of: names) == 1, "the waiting writers share one transaction")
        #expect(b.statements.withLock { $0 } == 2, "the blocker's statement, then one for the whole batch")
        let counts = b.commits.counts
        #expect(counts.batches == 1 && counts.batchedWriters == names.count && counts.fallbacks == 0, "\(counts)")
        // Each writer's fence was advanced by the batch: a delivery older than it is refused.
        await #expect(throws: LockError.self) { try await b.write("late", fences: [b.fence("w3", epoch: 1)]) }
        await b.close()
    }

    @Test func aStaleFenceInABatchFallsBackWithoutCommittingTheStaleWriter() async throws {
        let b = try Bench()
        // The message "stale" was delivered again (epoch 2) and that delivery has written: epoch 1 is stale.
        try b.db.transaction(fencedBy: b.fence("stale", epoch: 2)) { _ in }
        let blocker = b.block()
        try await eventually("the blocker in its transaction") { b.blocking.withLock { $0 } }
        let fresh = (0..<4).map { "f\($0)" }
        let freshWriters = fresh.map { name in Task { try await b.write(name, fences: [b.fence(name)]) } }
        let staleWriter = Task { try await b.write("stale", fences: [b.fence("stale", epoch: 1)]) }
        try await eventually("every writer waiting") { b.commits.waiting == fresh.count + 1 }
        b.release()
        try await blocker.value
        for writer in freshWriters { try await writer.value }
        await #expect(throws: LockError.self, "the stale delivery is refused") { try await staleWriter.value }
        #expect(try b.names() == Set(fresh + ["blocker"]), "the stale writer committed nothing; the others committed")
        #expect(b.commits.counts.fallbacks == 1)
        await b.close()
    }
}
