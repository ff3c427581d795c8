import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// Review of the group commit's one-round-trip batches: a batch whose pipeline fails after the
/// fences — a later statement's error (a duplicate key), or its connection killed before the
/// COMMIT — falls back to one transaction per writer: the writer at fault gets its own error (the
/// server's, not a refusal), every other writer commits, each exactly once.
@Suite(.serialized) struct GroupCommitReviewTests {
    typealias Lease = OneTripOrderReviewTests.Lease

    final class Bench: @unchecked Sendable {
        let database: TestDatabase
        let db: PostgresConnection
        let pool: PostgresPool
        let commits: GroupCommit<String, Void>
        let lease = Lease(resource: "review-gc-\(UUID().uuidString)", fencingToken: 1)

        /// `gatedBatches`: a batch (more than one writer) also sends an UPDATE of the gate row, which
        /// waits while another session holds that row.
        init(gatedBatches: Bool) throws {
            database = try TestDatabase(migrated: true, prefix: "tm_gcreview")
            db = try database.connect()
            try db.simpleQuery("""
                CREATE TABLE written (name text PRIMARY KEY, txid bigint NOT NULL DEFAULT txid_current());
                CREATE TABLE review_gate (id int PRIMARY KEY); INSERT INTO review_gate VALUES (1)
                """)
            pool = PostgresPool(configuration: database.configuration, size: 1)
            commits = GroupCommit(pool: pool, maxBatch: 64) { db, names in
                try db.send("INSERT INTO written (name) SELECT unnest(\(PostgresData.array(names))::text[])")
                if gatedBatches && names.count > 1 { try db.send("UPDATE review_gate SET id = 1 WHERE id = 1") }
                return { names.map { _ in () } }
            }
        }

        func start(_ name: String) -> Task<Void, Error> {
            Task { try await self.commits.write(name, fencedBy: [self.lease, MessageFence(queue: "gc-review", messageID: name, epoch: 1)]) }
        }

        /// Starts `first` while `holder` keeps the lease's fence row, then `others`, which queue
        /// behind it; returns every task once they all wait.
        func startBatch(first: String, others: [String], holder: PostgresConnection) async throws -> [Task<Void, Error>] {
            try holder.simpleQuery("BEGIN")
            _ = try holder.query("SELECT tm_advance_fence(\(lease.resource), 1)")
            var tasks = [start(first)]
            try await eventually("the first writer waiting on the fence row") { try self.db.lockWaiters() == 1 }
            tasks += others.map(start)
            try await eventually("the others waiting for the next batch") { self.commits.waiting == others.count }
            return tasks
        }

        func counts() throws -> [String: Int] {
            Dictionary(uniqueKeysWithValues: try db.query("SELECT name, count(*)::int AS n FROM written GROUP BY name").rows.map {
                (try $0.decode("name", as: String.self), try $0.decode("n", as: Int.self))
            })
        }

        func close() async {
            await pool.shutdown()
            db.close()
            database.drop()
        }
    }

    @Test func aDuplicateKeyInABatchFallsBackAndOnlyItsWriterFails() async throws {
        let b = try Bench(gatedBatches: false)
        try b.db.execute("INSERT INTO written (name) VALUES ('dup')")
        let holder = try b.database.connect()
        defer { holder.close() }
        let others = ["a", "b", "dup", "c"]
        let tasks = try await b.startBatch(first: "first", others: others, holder: holder)
        try holder.simpleQuery("COMMIT")
        for (name, task) in zip(["first"] + others, tasks) {
            if name == "dup" {
                do {
                    try await task.value
                    Issue.record("a duplicate key committed")
                } catch let error as PostgresError {
                    #expect(error.isUniqueViolation, "\(error)")
                }
            } else {
                try await task.value
            }
        }
        #expect(try b.counts() == ["first": 1, "a": 1, "b": 1, "c": 1, "dup": 1])
        #expect(b.commits.counts.fallbacks == 1, "\(b.commits.counts)")
        await b.close()
    }

    @Test func aBatchWhoseConnectionIsKilledBeforeItsCommitFallsBackAndEachWriterCommitsOnce() async throws {
        let b = try Bench(gatedBatches: true)
        let holder = try b.database.connect()
        let gate = try b.database.connect()
        defer { holder.close(); gate.close() }
        try gate.simpleQuery("BEGIN; SELECT id FROM review_gate WHERE id = 1 FOR UPDATE")
        let others = ["a", "b", "c", "d"]
        let tasks = try await b.startBatch(first: "first", others: others, holder: holder)
        try holder.simpleQuery("COMMIT")
        // The batch's pipeline (BEGIN, fences, INSERT, gated UPDATE, COMMIT) waits on the gate row: kill it there.
        try await eventually("the batch's pipeline waiting on the gate row") { try b.db.lockWaiters(queryLike: "%review_gate%") == 1 }
        _ = try b.db.query("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%review_gate%'
            """)
        for task in tasks { try await task.value }
        try gate.simpleQuery("ROLLBACK")
        #expect(try b.counts() == ["first": 1, "a": 1, "b": 1, "c": 1, "d": 1], "every writer once, alone after the killed batch")
        #expect(b.commits.counts.fallbacks == 1, "\(b.commits.counts)")
        await b.close()
    }
}
