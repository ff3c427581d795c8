import Foundation
import Testing
import TMCore
import TMPostgres

/// What a prepared statement's failures leave behind: a parse that fails does not drop the
/// transaction's waiting BEGIN or sent checks, and a statement whose result type changed under it
/// is prepared again instead of failing on every later use.
@Suite struct PreparedStatementFailureTests {
    struct Refused: Error, Equatable {}

    /// The prepare runs before the pipeline that carries the BEGIN and a sent check: when it fails
    /// and the body goes on, the next statement must still go inside the transaction, behind the check.
    @Test func aFailedPrepareKeepsTheWaitingBeginAndCheck() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("failed_prepare")
        try conn.simpleQuery("CREATE TABLE \(table) (n int NOT NULL)")
        #expect(throws: Refused.self) {
            try conn.transaction { db in
                try db.send("SELECT 1 AS stale", check: { result in if !result.rows.isEmpty { throw Refused() } })
                let parsed = try? db.query(PostgresQuery(unsafeSQL: "SELEC 1 broken").prepared)
                #expect(parsed == nil, "the prepare fails")
                try db.execute("INSERT INTO \(identifier: table) VALUES (1)")
                Issue.record("the check's refusal must be thrown before the INSERT's answer is used")
            }
        }
        #expect(!conn.isInTransaction)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 0)
        // Without a check: the INSERT after the failed prepare is still inside the transaction.
        struct Undo: Error {}
        #expect(throws: Undo.self) {
            try conn.transaction { db in
                _ = try? db.query(PostgresQuery(unsafeSQL: "SELEC 2 broken").prepared)
                try db.execute("INSERT INTO \(identifier: table) VALUES (2)")
                throw Undo()
            }
        }
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 0)
    }

    /// `DEALLOCATE ALL` (or `DISCARD ALL`) on the session drops its prepared statements: the next use
    /// is refused (26000) and prepared again, alone and in a transaction.
    @Test func aPreparedStatementTheSessionDroppedIsPreparedAgain() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        let select = PostgresQuery(unsafeSQL: "SELECT $1::int + 1 AS n", binds: [PostgresData(6)]).prepared
        #expect(try conn.query(select).scalar(as: Int.self) == 7)
        let prepared = conn.preparedCount
        try conn.simpleQuery("DEALLOCATE ALL")
        #expect(try conn.query(select).scalar(as: Int.self) == 7)
        #expect(conn.preparedCount == prepared + 1)
        try conn.simpleQuery("DISCARD ALL")
        var runs = 0
        #expect(try conn.transaction { db -> Int in runs += 1; return try db.query(select).scalar(as: Int.self) } == 7)
        #expect(runs == 2)
        #expect(conn.preparedCount == prepared + 2)
    }

    /// `ALTER COLUMN … TYPE` changes a prepared SELECT's result type: the server refuses the old
    /// statement (0A000) on this session until it is prepared again.
    @Test func aPreparedStatementWhoseResultTypeChangedIsPreparedAgain() async throws {
        let conn = try TestServer.connect()
        let table = uniqueName("stale_plan")
        try conn.simpleQuery("CREATE TABLE \(table) (n int NOT NULL); INSERT INTO \(table) VALUES (7)")
        let select = PostgresQuery(unsafeSQL: "SELECT n FROM \(PostgresQuery.quoteIdentifier(table))").prepared
        #expect(try conn.query(select).scalar(as: Int.self) == 7)

        // Alone: prepared afresh and run at once.
        try conn.simpleQuery("ALTER TABLE \(table) ALTER COLUMN n TYPE bigint")
        let alone = try conn.query(select)
        #expect(alone.columns.first?.type == .int8)
        #expect(try alone.scalar(as: Int.self) == 7)
        #expect(try conn.query(select).scalar(as: Int.self) == 7)

        // In a transaction (pipelined with its BEGIN): the aborted transaction runs once more.
        try conn.simpleQuery("ALTER TABLE \(table) ALTER COLUMN n TYPE numeric")
        var runs = 0
        let inTransaction = try conn.transaction { db -> PostgresResult in
            runs += 1
            try db.execute("INSERT INTO \(identifier: table) VALUES (8)")
            return try db.query(select)
        }
        #expect(runs == 2)
        #expect(inTransaction.columns.first?.type == .numeric)
        #expect(inTransaction.rows.count == 2)
        #expect(!conn.isInTransaction)
        // The first run's INSERT was rolled back: one 8, from the second run.
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table) WHERE n = 8").scalar(as: Int.self) == 1)

        // Through the pool as well (the placer's path).
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 1)
        #expect(try await pool.query(select).rows.count == 2)
        try await pool.execute("ALTER TABLE \(identifier: table) ALTER COLUMN n TYPE int")
        #expect(try await pool.transaction { try $0.query(select).rows.count } == 2)
        #expect(try await pool.query(select).columns.first?.type == .int4)
        await pool.shutdown()
    }
}
