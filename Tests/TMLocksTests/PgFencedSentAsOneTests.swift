import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// `PostgresPool.transaction(fencedInOneRoundTrip:)` as the server's implicit transaction of one
/// pipeline: the fence check and the body's statements are all it sends — no BEGIN, no COMMIT (two
/// statements fewer per order-path write, PROFILE.md session 23) — the fences first, and a stale
/// fence still leaves nothing behind.
@Suite struct PgFencedSentAsOneTests {
    struct Token: Fence {
        let resource: String
        let fencingToken: Int64
    }

    @Test func aFencedWriteSendsItsFenceCheckAndItsStatementsOnly() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_locks")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        try db.simpleQuery("CREATE TABLE sent_as_one (writer text PRIMARY KEY)")
        let pool = PostgresPool(configuration: database.configuration, size: 1)
        let resource = "sent-as-one-\(UUID().uuidString)"
        let sent = { try await pool.withConnection { ($0.statementsSent, $0.roundTrips - $0.preparedCount) } }

        let before = try await sent()
        try await pool.transaction(fencedInOneRoundTrip: [Token(resource: resource, fencingToken: 2)]) { db in
            try db.send("INSERT INTO sent_as_one (writer) VALUES ('two')")
            try db.send("INSERT INTO sent_as_one (writer) VALUES ('two-b')")
            return { () }
        }
        let after = try await sent()
        #expect(after.0 - before.0 == 3, "the fence check and the two INSERTs: no BEGIN, no COMMIT")
        #expect(after.1 - before.1 == 1, "one round trip (parses aside)")
        #expect(try db.query("SELECT count(*) FROM sent_as_one").scalar(as: Int.self) == 2)
        #expect(try db.query("SELECT token FROM lock_fences WHERE resource = \(resource)").scalar(as: Int64.self) == 2)

        // A stale fence: refused, and the statements after it in the pipeline are gone with it.
        await #expect(throws: LockError.staleFencingToken(resource: resource, token: 1)) {
            try await pool.transaction(fencedInOneRoundTrip: [Token(resource: resource, fencingToken: 1)]) { db in
                try db.send("INSERT INTO sent_as_one (writer) VALUES ('one')")
                return { () }
            }
        }
        #expect(try db.query("SELECT count(*) FROM sent_as_one").scalar(as: Int.self) == 2)
        #expect(try await pool.withConnection { $0.isInTransaction } == false)
        await pool.shutdown()
    }

    /// The fence check is the pipeline's first statement, its own: a newer writer waits on the fence
    /// row another transaction holds, and its write (a statement of its own, after the wait) sees
    /// what that transaction committed.
    @Test func theFenceIsHeldUntilTheSyncPointCommits() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_locks")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        try db.simpleQuery("CREATE TABLE sent_as_one_held (writer text PRIMARY KEY)")
        let resource = "sent-as-one-held-\(UUID().uuidString)"
        let pool = PostgresPool(configuration: database.configuration, size: 1)
        // Another session holds the fence row (token 1) in an open transaction.
        let holder = try database.connect()
        defer { holder.close() }
        try holder.simpleQuery("BEGIN")
        try FencingGuard.advance(holder, resource: resource, token: 1)
        let writing = Task {
            try await pool.transaction(fencedInOneRoundTrip: [Token(resource: resource, fencingToken: 2)]) { db in
                try db.send("INSERT INTO sent_as_one_held (writer) SELECT 'two' WHERE NOT EXISTS (SELECT 1 FROM sent_as_one_held)")
                return { () }
            }
        }
        // Wait until the one-trip writer is blocked on the fence row.
        while try db.query("""
            SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE NOT l.granted AND a.datname = current_database()
            """).scalar(as: Int.self) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        try holder.execute("INSERT INTO sent_as_one_held (writer) VALUES ('one')")
        try holder.simpleQuery("COMMIT")
        try await writing.value
        // The newer writer ran after the holder's commit: it saw 'one' and inserted nothing.
        #expect(try db.query("SELECT writer FROM sent_as_one_held ORDER BY writer").rows.map { try $0.decode("writer", as: String.self) } == ["one"])
        #expect(try db.query("SELECT token FROM lock_fences WHERE resource = \(resource)").scalar(as: Int64.self) == 2)
        await pool.shutdown()
    }
}
