import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// Review of the one-round-trip fenced transaction (`PostgresPool.transaction(fencedInOneRoundTrip:)`,
/// migration 0032's raising fence check) against a real Postgres: a stale fence, a later statement's
/// error and a connection killed mid-pipeline each leave nothing of the transaction behind, are
/// reported with the meaning they had before (a refusal is `LockError.staleFencingToken`, a server
/// error is that error, a dropped connection is a `.connection` error: outcome unknown), and the
/// pooled connection serves the next transaction.
@Suite(.serialized) struct OneTripFenceReviewTests {
    struct Token: Fence {
        let resource: String
        let fencingToken: Int64
    }

    /// A migrated database, a one-connection pool (so the next transaction reuses the connection the
    /// failed one used) and a scratch table with a unique name column.
    final class Bench: @unchecked Sendable {
        let database: TestDatabase
        let db: PostgresConnection
        let pool: PostgresPool

        init() throws {
            database = try TestDatabase(migrated: true, prefix: "tm_onetrip")
            db = try database.connect()
            try db.simpleQuery("CREATE TABLE one_trip (name text PRIMARY KEY)")
            pool = PostgresPool(configuration: database.configuration, size: 1)
        }

        func names() throws -> [String] { try db.query("SELECT name FROM one_trip ORDER BY name").rows.map { try $0.decode("name", as: String.self) } }
        func fence(_ resource: String) throws -> Int64? {
            try db.query("SELECT token FROM lock_fences WHERE resource = \(resource)").rows.first.map { try $0.decode("token", as: Int64.self) }
        }

        /// Inserts `name` in a one-trip transaction fenced by `fences`; returns the INSERT's row count,
        /// read after the commit.
        func write(_ name: String, fences: [any Fence]) async throws -> Int {
            try await pool.transaction(fencedInOneRoundTrip: fences) { db in
                let answer = Answer()
                try db.send("INSERT INTO one_trip (name) VALUES (\(name)) RETURNING name", reading: { answer.rows = $0.rows.count })
                return { answer.rows ?? -1 }
            }
        }

        /// The pooled connection is idle (no transaction, nothing waiting) and answers a plain query.
        func pooledConnectionIsClean() async throws -> Bool {
            try await pool.withConnection { db in
                let one = try db.query("SELECT 1 AS one").rows[0].decode("one", as: Int.self)
                return !db.isInTransaction && one == 1
            }
        }

        func close() async {
            await pool.shutdown()
            db.close()
            database.drop()
        }
    }

    final class Answer: @unchecked Sendable { var rows: Int? }

    @Test func aStaleFenceInOneRoundTripIsRefusedAsBeforeAndNothingOfItPersists() async throws {
        let b = try Bench()
        let (a, z) = (TestServers.uniqueName("ot_a"), TestServers.uniqueName("ot_z"))
        #expect(try await b.write("first", fences: [Token(resource: a, fencingToken: 5), Token(resource: z, fencingToken: 5)]) == 1)
        // z at 4 is stale; a at 9 would advance but must roll back with the rest.
        await #expect(throws: LockError.staleFencingToken(resource: z, token: 4)) {
            _ = try await b.write("stale", fences: [Token(resource: a, fencingToken: 9), Token(resource: z, fencingToken: 4)])
        }
        #expect(try b.names() == ["first"], "the stale transaction's INSERT did not land")
        #expect(try b.fence(a) == 5, "the fresh fence it advanced rolled back with it")
        #expect(try b.fence(z) == 5)
        // The same pooled connection: clean, and the next transaction on it commits.
        #expect(try await b.pooledConnectionIsClean())
        #expect(try await b.write("second", fences: [Token(resource: z, fencingToken: 5)]) == 1)
        #expect(try b.names() == ["first", "second"])
        await b.close()
    }

    @Test func aLaterStatementsErrorInTheOneTripPipelineRollsBackTheFencesAndKeepsItsMeaning() async throws {
        let b = try Bench()
        let r = TestServers.uniqueName("ot_r")
        #expect(try await b.write("taken", fences: [Token(resource: r, fencingToken: 1)]) == 1)
        // A fresh fence, then a unique violation: the server's error, not a refusal and not "unknown".
        do {
            _ = try await b.write("taken", fences: [Token(resource: r, fencingToken: 2)])
            Issue.record("a duplicate key committed")
        } catch let error as PostgresError {
            #expect(error.isUniqueViolation, "\(error)")
            #expect(error.kind == .server)
        }
        #expect(try b.fence(r) == 1, "the fence raised before the failed statement rolled back")
        #expect(try b.names() == ["taken"])
        #expect(try await b.pooledConnectionIsClean())
        #expect(try await b.write("after", fences: [Token(resource: r, fencingToken: 2)]) == 1)
        #expect(try b.fence(r) == 2)
        await b.close()
    }

    /// The connection dies while the pipeline (BEGIN, fence, writes, COMMIT) waits on a lock: the
    /// caller sees a `.connection` error (the outcome may be unknown), never a refusal or success;
    /// here the server had not committed, so nothing persists; the pool replaces the connection.
    @Test func aConnectionKilledMidPipelineIsReportedAsAConnectionErrorAndNothingCommits() async throws {
        let b = try Bench()
        try b.db.simpleQuery("CREATE TABLE one_trip_gate (id int PRIMARY KEY); INSERT INTO one_trip_gate VALUES (1)")
        let pid = try await b.pool.withConnection { try $0.query("SELECT pg_backend_pid()::bigint AS pid").rows[0].decode("pid", as: Int64.self) }
        let holder = try b.database.connect()
        defer { holder.close() }
        try holder.simpleQuery("BEGIN; SELECT id FROM one_trip_gate WHERE id = 1 FOR UPDATE")
        let r = TestServers.uniqueName("ot_k")
        let writer = Task {
            try await b.pool.transaction(fencedInOneRoundTrip: [Token(resource: r, fencingToken: 1)]) { db in
                try db.send("INSERT INTO one_trip (name) VALUES ('killed')")
                try db.send("UPDATE one_trip_gate SET id = 1 WHERE id = 1")  // waits for the holder's row lock
                return { () }
            }
        }
        try await eventually("the pipelined UPDATE waiting on the row lock") {
            try b.db.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = \(pid) AND wait_event_type = 'Lock'").rows[0].decode("n", as: Int.self) == 1
        }
        _ = try b.db.query("SELECT pg_terminate_backend(\(pid)::int)")
        do {
            try await writer.value
            Issue.record("a killed transaction reported success")
        } catch let error as PostgresError {
            #expect(error.isConnectionError, "outcome unknown, not a server refusal: \(error)")
        } catch {
            Issue.record("a killed connection reported as \(error), not a .connection error")
        }
        try holder.simpleQuery("ROLLBACK")
        #expect(try b.names() == [])
        #expect(try b.fence(r) == nil)
        #expect(try await b.write("next", fences: [Token(resource: r, fencingToken: 1)]) == 1, "the pool replaced the connection")
        await b.close()
    }

    /// A prepared statement of the one-trip pipeline whose result type changed (SQLSTATE 0A000):
    /// the transaction is run once more, prepared afresh, and its write commits exactly once.
    @Test func aStalePlanInTheOneTripPipelineIsRunOnceMoreAndCommitsOnce() async throws {
        let b = try Bench()
        try b.db.simpleQuery("CREATE TABLE one_trip_shape (a int); INSERT INTO one_trip_shape VALUES (1)")
        let r = TestServers.uniqueName("ot_p")
        @Sendable func run(_ name: String, token: Int64) async throws -> Int {
            try await b.pool.transaction(fencedInOneRoundTrip: [Token(resource: r, fencingToken: token)]) { db in
                let answer = Answer()
                try db.send("INSERT INTO one_trip (name) VALUES (\(name))")
                let shape: PostgresQuery = "SELECT * FROM one_trip_shape"
                try db.send(shape.prepared, reading: { answer.rows = $0.columns.count })
                return { answer.rows ?? -1 }
            }
        }
        #expect(try await run("before", token: 1) == 1)
        try b.db.simpleQuery("ALTER TABLE one_trip_shape ADD COLUMN b int")
        #expect(try await run("after", token: 2) == 2, "run once more with the new shape")
        #expect(try b.names() == ["after", "before"])
        #expect(try b.fence(r) == 2)
        await b.close()
    }
}
