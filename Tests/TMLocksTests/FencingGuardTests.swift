import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres
import TMRedis

/// Fencing tokens checked by Postgres (`tm_advance_fence`) on a freshly migrated database.
@Suite struct FencingGuardTests {
    @Test func anExpiredHoldersTokenIsRefusedByTheGuardedWrite() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_locks")
        let pool = PostgresPool(configuration: database.configuration, size: 2)
        let old = try await RedisFixture(name: "old-holder")
        let new = try await RedisFixture(name: "new-holder")
        defer { old.close(); new.close() }
        let resource = TestServers.uniqueName("fenced")
        try await pool.execute("CREATE TABLE fenced_writes (writer text NOT NULL, at bigint GENERATED ALWAYS AS IDENTITY)")

        // The first holder writes while its lease is valid.
        let stale = try #require(try await old.lock.tryAcquire(resource, ttl: .milliseconds(200)))
        try await pool.transaction(fencedBy: stale) { db in
            try db.execute("INSERT INTO fenced_writes (writer) VALUES ('old-1')")
        }
        // It pauses past its lease; a new holder takes over and writes.
        try await old.waitUntilFree(resource)
        let current = try await new.lock.acquire(resource, ttl: .seconds(30), waitUpTo: .seconds(20))
        #expect(current.fencingToken > stale.fencingToken)
        try await pool.transaction(fencedBy: current) { db in
            try db.execute("INSERT INTO fenced_writes (writer) VALUES ('new-1')")
        }

        // The old holder wakes up and writes again: refused, whether it checks the fence first...
        await #expect(throws: LockError.staleFencingToken(resource: resource, token: stale.fencingToken)) {
            try await pool.transaction(fencedBy: stale) { db in
                try db.execute("INSERT INTO fenced_writes (writer) VALUES ('old-2')")
            }
        }
        // ...or after writing in the same transaction, which then rolls back.
        await #expect(throws: LockError.staleFencingToken(resource: resource, token: stale.fencingToken)) {
            try await pool.transaction { db in
                try db.execute("INSERT INTO fenced_writes (writer) VALUES ('old-3')")
                try FencingGuard.advance(db, resource: resource, token: stale.fencingToken)
            }
        }
        // The current holder keeps writing (the same token passes again).
        try await pool.transaction(fencedBy: current) { db in
            try db.execute("INSERT INTO fenced_writes (writer) VALUES ('new-2')")
        }

        let writers = try await pool.query("SELECT writer FROM fenced_writes ORDER BY at").map { try $0.decode(0, as: String.self) }
        #expect(writers == ["old-1", "new-1", "new-2"])
        let fence = try await pool.query("SELECT token FROM lock_fences WHERE resource = \(resource)").scalar(as: Int64.self)
        #expect(fence == current.fencingToken)
        #expect(try await new.lock.release(current))

        await pool.shutdown()
        database.drop()
        await new.cleanUp(resource)
    }

    /// Many fences in one statement: each passes or not by its own row, the first stale one (in
    /// resource order) is named, and nothing of the transaction commits when one is stale; one
    /// resource with two tokens is refused for the older whatever the rows hold.
    @Test func manyFencesAdvanceTogetherAndOneStaleRefusesTheTransaction() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_locks")
        let pool = PostgresPool(configuration: database.configuration, size: 1)
        let (a, b, c) = (TestServers.uniqueName("fa"), TestServers.uniqueName("fb"), TestServers.uniqueName("fc"))
        struct Token: Fence { let resource: String; let fencingToken: Int64 }
        try await pool.execute("CREATE TABLE fenced_many (n int NOT NULL)")
        try await pool.transaction(fencedBy: [Token(resource: a, fencingToken: 5), Token(resource: b, fencingToken: 5), Token(resource: b, fencingToken: 5)]) { db in
            try db.execute("INSERT INTO fenced_many VALUES (1)")
        }
        // b is now at 5: a fence set holding b at 4 is refused, naming b, and rolls back.
        await #expect(throws: LockError.staleFencingToken(resource: b, token: 4)) {
            try await pool.transaction(fencedBy: [Token(resource: c, fencingToken: 1), Token(resource: b, fencingToken: 4),
                                                  Token(resource: a, fencingToken: 6)]) { db in
                try db.execute("INSERT INTO fenced_many VALUES (2)")
            }
        }
        // Two deliveries of one message in one set: the older is refused before any row is read.
        await #expect(throws: LockError.staleFencingToken(resource: c, token: 7)) {
            try await pool.transaction(fencedBy: [Token(resource: c, fencingToken: 8), Token(resource: c, fencingToken: 7)]) { db in
                try db.execute("INSERT INTO fenced_many VALUES (3)")
            }
        }
        #expect(try await pool.query("SELECT n FROM fenced_many").map { try $0.decode(0, as: Int.self) } == [1])
        let tokens = try await pool.query("SELECT resource, token FROM lock_fences WHERE resource = ANY(\(PostgresData.array([a, b, c]))::text[]) ORDER BY resource")
            .map { "\(try $0.decode(0, as: String.self))=\(try $0.decode(1, as: Int64.self))" }
        #expect(tokens == ["\(a)=5", "\(b)=5"], "the refused sets raised nothing: a stayed at 5, c was never written")
        await pool.shutdown()
        database.drop()
    }

    @Test func advanceOutsideATransactionIsRefused() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_locks")
        let pool = PostgresPool(configuration: database.configuration, size: 1)
        let resource = TestServers.uniqueName("notx")
        await #expect(throws: PostgresError.self) {
            try await pool.withConnection { db in try FencingGuard.advance(db, resource: resource, token: 1) }
        }
        let rows = try await pool.query("SELECT count(*) FROM lock_fences").scalar(as: Int64.self)
        #expect(rows == 0)
        await pool.shutdown()
        database.drop()
    }

    @Test func staleTokenErrorsDescribeTheResourceAndToken() {
        let text = "\(LockError.staleFencingToken(resource: "sync:42", token: 7))"
        #expect(text.contains("sync:42") && text.contains("7"))
        #expect("\(LockError.leaseLost(resource: "orders.3"))".contains("orders.3"))
    }
}
