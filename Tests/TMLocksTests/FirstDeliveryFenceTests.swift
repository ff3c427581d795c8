import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// A message's first delivery (epoch 1, the lowest a delivery carries) is fenced by a shared
/// advisory lock instead of a `lock_fences` row (migration 0046), and still serialized against
/// newer deliveries, on two real connections: a newer delivery waits for a first delivery in
/// flight; a first delivery that comes while a newer one holds the fence waits and is refused.
@Suite struct FirstDeliveryFenceTests {
    /// A scratch database with a table of effects and two connections: `holder`, whose transaction
    /// is held open by hand, and `pool`, for the other delivery (its call blocks while it waits).
    /// (Unchecked: the connections are used by the test itself only; the other delivery uses `pool`.)
    final class Bench: @unchecked Sendable {
        let database: TestDatabase
        let holder: PostgresConnection
        let observer: PostgresConnection
        let pool: PostgresPool
        let message = TestServers.uniqueName("first")

        init() throws {
            database = try TestDatabase(migrated: true, prefix: "tm_locks")
            holder = try database.connect()
            observer = try database.connect()
            try observer.simpleQuery("CREATE TABLE effects (writer text PRIMARY KEY, saw int NOT NULL)")
            pool = PostgresPool(configuration: database.configuration, size: 1)
        }

        func delivery(_ epoch: Int64) -> MessageFence { MessageFence(queue: "orders", messageID: message, epoch: epoch) }

        /// The order path's write: the fence check and an INSERT in one pipeline, recording how many
        /// effects the INSERT saw (so a write that ran after another's commit shows it).
        func write(_ writer: String, at epoch: Int64) async throws {
            try await pool.transaction(fencedInOneRoundTrip: [delivery(epoch)]) { db in
                try db.send("INSERT INTO effects (writer, saw) SELECT \(writer), count(*)::int FROM effects")
                return { () }
            }
        }

        /// Sessions of this database waiting for an advisory lock.
        func advisoryWaiters() throws -> Int {
            try observer.query("""
                SELECT count(*)::int AS n FROM pg_locks
                WHERE locktype = 'advisory' AND NOT granted
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """).rows[0].decode("n", as: Int.self)
        }

        func effects() throws -> [String] {
            try observer.query("SELECT writer || '/' || saw AS e FROM effects ORDER BY writer").rows.map { try $0.decode("e", as: String.self) }
        }

        func fenceRow() throws -> Int64? {
            try observer.query("SELECT token FROM lock_fences WHERE resource = \(delivery(1).resource)").rows.first.map { try $0.decode("token", as: Int64.self) }
        }

        func close() async {
            await pool.shutdown()
            holder.close()
            observer.close()
            database.drop()
        }
    }

    /// The locks go in one order — by key, and on one key the exclusive lock before the shared one —
    /// so a transaction never takes a key shared and then waits to take it exclusively while another
    /// transaction holding it shared asks for it too (a deadlock, 40P01). Two message resources whose
    /// `hashtext` collide share a key: a batch fencing both (epoch 1 and 2) queues for the key another
    /// transaction holds shared; that one then takes it exclusively, commits, and the batch goes on.
    @Test func twoFencesOnOneLockKeyTakeTheExclusiveLockFirst() async throws {
        let b = try Bench()
        // Two message resources with one hash, found on the server (its hash function, not a constant).
        let pair = try b.observer.query("""
            SELECT min(r) AS a, max(r) AS b FROM (SELECT 'message:collide/' || i AS r FROM generate_series(1, 300000) i) s
            GROUP BY hashtext(r) HAVING count(*) = 2 LIMIT 1
            """).rows[0]
        let first: String = try pair.decode("a"), second: String = try pair.decode("b")
        try b.holder.simpleQuery("BEGIN")
        try FencingGuard.advance(b.holder, resource: first, token: 1)
        let batch = Task {
            try await b.pool.withConnection { db in
                try db.transaction { db in
                    _ = try db.query("""
                        SELECT tm_advance_fences_or_raise(\(PostgresData.array([first, second]))::text[], \(PostgresData.array([Int64(1), Int64(2)]))::bigint[])
                        """)
                }
            }
        }
        try await eventually("the batch queued for the key") { try b.advisoryWaiters() == 1 }
        try FencingGuard.advance(b.holder, resource: second, token: 2)
        try b.holder.simpleQuery("COMMIT")
        try await batch.value
        #expect(try b.observer.query("SELECT resource || '@' || token AS f FROM lock_fences WHERE resource IN (\(first), \(second))")
            .rows.map { try $0.decode("f", as: String.self) } == ["\(second)@2"])
        await b.close()
    }

    @Test func aFirstDeliveryWritesNoFenceRow() async throws {
        let b = try Bench()
        try await b.write("first", at: 1)
        try b.holder.transaction(fencedBy: b.delivery(1)) { db in try db.execute("INSERT INTO effects VALUES ('again', 0)") }
        #expect(try b.effects() == ["again/0", "first/0"])
        #expect(try b.fenceRow() == nil, "no row at the lowest epoch, by either path")
        // A lease's fence at token 1 keeps its row: the rule is the message fences'.
        let lease = "lease-\(b.message)"
        try b.holder.transaction { db in try FencingGuard.advance(db, resource: lease, token: 1) }
        #expect(try b.observer.query("SELECT count(*)::int AS n FROM lock_fences WHERE resource = \(lease)").rows[0].decode("n", as: Int.self) == 1)
        await b.close()
    }

    @Test func aNewerDeliveryWaitsForAFirstDeliveryInFlightThenCommitsAfterIt() async throws {
        let b = try Bench()
        try b.holder.simpleQuery("BEGIN")
        try FencingGuard.advance(b.holder, fence: b.delivery(1))
        let newer = Task { try await b.write("newer", at: 2) }
        try await eventually("the newer delivery waiting for the first one's lock") { try b.advisoryWaiters() == 1 }
        try b.holder.execute("INSERT INTO effects VALUES ('first', 0)")
        try b.holder.simpleQuery("COMMIT")
        try await newer.value
        #expect(try b.effects() == ["first/0", "newer/1"], "the newer write ran after the first delivery's commit")
        #expect(try b.fenceRow() == 2)
        await b.close()
    }

    /// Whatever the newer delivery's isolation level (under REPEATABLE READ it writes rows only, and
    /// still takes the lock).
    @Test(arguments: ["BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ"])
    func aFirstDeliveryComingWhileANewerHoldsTheFenceWaitsThenIsRefused(begin: String) async throws {
        let b = try Bench()
        try b.holder.simpleQuery(begin)
        try FencingGuard.advance(b.holder, fence: b.delivery(2))
        let first = Task { try await b.write("first", at: 1) }
        try await eventually("the first delivery waiting for the newer one's lock") { try b.advisoryWaiters() == 1 }
        try b.holder.execute("INSERT INTO effects VALUES ('newer', 0)")
        try b.holder.simpleQuery("COMMIT")
        await #expect(throws: LockError.staleFencingToken(resource: b.delivery(1).resource, token: 1)) { try await first.value }
        #expect(try b.effects() == ["newer/0"])
        await b.close()
    }

    @Test func aNewerDeliverysRowRefusesALaterFirstDeliveryByEitherPath() async throws {
        let b = try Bench()
        try await b.write("newer", at: 2)
        await #expect(throws: LockError.staleFencingToken(resource: b.delivery(1).resource, token: 1)) { try await b.write("first", at: 1) }
        #expect(throws: LockError.staleFencingToken(resource: b.delivery(1).resource, token: 1)) {
            try b.holder.transaction(fencedBy: b.delivery(1)) { db in try db.execute("INSERT INTO effects VALUES ('first-b', 0)") }
        }
        #expect(try b.effects() == ["newer/0"])
        await b.close()
    }

    /// No delivery carries epoch 0 (the queue raises it before handing a message out), and no row
    /// at 1 is left to refuse it: refused outright.
    @Test func anEpochBelowTheFirstDeliverysIsRefused() async throws {
        let b = try Bench()
        try await b.write("first", at: 1)
        await #expect(throws: LockError.staleFencingToken(resource: b.delivery(0).resource, token: 0)) { try await b.write("zero", at: 0) }
        #expect(throws: LockError.staleFencingToken(resource: b.delivery(0).resource, token: 0)) {
            try b.holder.transaction(fencedBy: b.delivery(0)) { db in try db.execute("INSERT INTO effects VALUES ('zero-b', 0)") }
        }
        #expect(try b.effects() == ["first/0"])
        await b.close()
    }

    @Test func aDroppedFirstDeliveryReleasesItsLock() async throws {
        let b = try Bench()
        try b.holder.simpleQuery("BEGIN")
        try FencingGuard.advance(b.holder, fence: b.delivery(1))
        try b.holder.execute("INSERT INTO effects VALUES ('first', 0)")
        let newer = Task { try await b.write("newer", at: 2) }
        try await eventually("the newer delivery waiting for the first one's lock") { try b.advisoryWaiters() == 1 }
        // The first delivery's process dies mid-transaction: its connection goes, its work with it.
        let pid = try b.holder.query("SELECT pg_backend_pid() AS pid").rows[0].decode("pid", as: Int32.self)
        #expect(try b.observer.query("SELECT pg_terminate_backend(\(pid)) AS ok").rows[0].decode("ok", as: Bool.self))
        try await newer.value
        #expect(try b.effects() == ["newer/0"])
        #expect(try b.fenceRow() == 2)
        await b.close()
    }

    /// Under REPEATABLE READ a statement's snapshot predates any lock wait, so a first delivery
    /// keeps the row rule: coming while a newer delivery holds the fence, it waits and fails.
    @Test func aRepeatableReadFirstDeliveryKeepsTheRowRule() async throws {
        let b = try Bench()
        try b.holder.simpleQuery("BEGIN")
        try FencingGuard.advance(b.holder, fence: b.delivery(2))
        let first = Task {
            try await b.pool.withConnection { db in
                try db.simpleQuery("BEGIN ISOLATION LEVEL REPEATABLE READ")
                do {
                    try FencingGuard.advance(db, fence: b.delivery(1))
                    try db.execute("INSERT INTO effects VALUES ('first', 0)")
                    try db.simpleQuery("COMMIT")
                } catch {
                    try db.simpleQuery("ROLLBACK")
                    throw error
                }
            }
        }
        try await eventually("the first delivery waiting for the newer one") { try b.observer.query("""
            SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
            """).rows[0].decode("n", as: Int.self) == 1 }
        try b.holder.execute("INSERT INTO effects VALUES ('newer', 0)")
        try b.holder.simpleQuery("COMMIT")
        // The upsert cannot serialize against the newer delivery's committed row (not some other failure).
        let error = await #expect(throws: PostgresError.self) { try await first.value }
        #expect(error?.isSerializationFailure == true, "\(String(describing: error))")
        #expect(try b.effects() == ["newer/0"])
        await b.close()
    }
}
