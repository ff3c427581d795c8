import Foundation
import Testing
import TMCore
import TMPostgres

/// `PostgresConnection.transaction(sentAsOne:_:)`: a body that only sends its statements has them run
/// as the server's implicit transaction of one pipeline — no BEGIN, no COMMIT — and that transaction
/// is still all or nothing: a failing statement, or a failure to commit at the sync point, leaves
/// nothing behind and is thrown. A body that needs an answer (a query, a check) gets the BEGIN and
/// the COMMIT as `transaction` sends them.
@Suite struct PgSentAsOneTests {
    struct Refused: Error {}

    private func table(_ conn: PostgresConnection, _ prefix: String, _ columns: String = "n int PRIMARY KEY") throws -> String {
        let table = uniqueName(prefix)
        try conn.simpleQuery("CREATE TABLE \(table) (\(columns))")
        return table
    }

    private func count(_ conn: PostgresConnection, _ table: String) throws -> Int {
        try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self)
    }

    @Test func aBodyThatOnlySendsGoesWithoutBeginOrCommitAndCommits() throws {
        let conn = try TestServer.connect()
        let table = try table(conn, "sent_as_one")
        let (statements, trips) = (conn.statementsSent, conn.roundTrips)
        try conn.transaction(sentAsOne: true) { db in
            try db.send("INSERT INTO \(identifier: table) VALUES (1)")
            try db.send("INSERT INTO \(identifier: table) VALUES (2)")
        }
        #expect(conn.statementsSent - statements == 2, "the two INSERTs, no BEGIN, no COMMIT")
        #expect(conn.roundTrips - trips == 1)
        #expect(!conn.isInTransaction)
        #expect(try count(conn, table) == 2)

        // The same body through `transaction`: BEGIN and COMMIT around it.
        let before = conn.statementsSent
        try conn.transaction { db in try db.send("INSERT INTO \(identifier: table) VALUES (3)") }
        #expect(conn.statementsSent - before == 3)
    }

    @Test func aFailingStatementRollsBackTheStatementsSentBeforeIt() throws {
        let conn = try TestServer.connect()
        let table = try table(conn, "sent_as_one_fails")
        #expect { try conn.transaction(sentAsOne: true) { db in
            try db.send("INSERT INTO \(identifier: table) VALUES (1)")
            try db.send("INSERT INTO \(identifier: table) VALUES (2)")
            try db.send("INSERT INTO \(identifier: table) VALUES (1)")
            try db.send("INSERT INTO \(identifier: table) VALUES (3)")
        } } throws: { ($0 as? PostgresError)?.isUniqueViolation == true }
        #expect(!conn.isInTransaction)
        #expect(try count(conn, table) == 0, "nothing of the pipeline committed")
        // The session goes on: the next transaction commits.
        try conn.transaction(sentAsOne: true) { db in try db.send("INSERT INTO \(identifier: table) VALUES (4)") }
        #expect(try count(conn, table) == 1)
    }

    @Test func aFailureToCommitAtTheSyncPointIsThrownAndNothingLands() throws {
        let conn = try TestServer.connect()
        // A deferred foreign key is checked at the commit: here, the pipeline's sync point.
        let table = try table(conn, "sent_as_one_deferred", "n int PRIMARY KEY, parent int")
        try conn.simpleQuery("ALTER TABLE \(table) ADD FOREIGN KEY (parent) REFERENCES \(table) (n) DEFERRABLE INITIALLY DEFERRED")
        #expect { try conn.transaction(sentAsOne: true) { db in
            try db.send("INSERT INTO \(identifier: table) VALUES (1, NULL)")
            try db.send("INSERT INTO \(identifier: table) VALUES (2, 99)")
        } } throws: { ($0 as? PostgresError)?.sqlState == "23503" }
        #expect(!conn.isInTransaction)
        #expect(try count(conn, table) == 0)
        try conn.transaction(sentAsOne: true) { db in try db.send("INSERT INTO \(identifier: table) VALUES (5, 5)") }
        #expect(try count(conn, table) == 1)
    }

    @Test func aBodyThatQueriesGetsItsBeginWithTheFirstRoundTrip() throws {
        let conn = try TestServer.connect()
        let table = try table(conn, "sent_as_one_queries")
        // The INSERT sent before the query travels with it: were it not inside a BEGIN, it would commit
        // on its own there, and stay after the later failure.
        #expect { try conn.transaction(sentAsOne: true) { db in
            try db.send("INSERT INTO \(identifier: table) VALUES (1)")
            #expect(try db.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 1)
            try db.send("INSERT INTO \(identifier: table) VALUES (1)")
        } } throws: { ($0 as? PostgresError)?.isUniqueViolation == true }
        #expect(!conn.isInTransaction)
        #expect(try count(conn, table) == 0)

        let before = conn.statementsSent
        try conn.transaction(sentAsOne: true) { db in
            try db.send("INSERT INTO \(identifier: table) VALUES (2)")
            _ = try db.query("SELECT 1")
            try db.send("INSERT INTO \(identifier: table) VALUES (3)")
        }
        #expect(conn.statementsSent - before == 5, "BEGIN, INSERT, SELECT, INSERT, COMMIT")
        #expect(try count(conn, table) == 2)
    }

    @Test func aSentCheckKeepsTheBeginAndItsRefusalRollsBack() throws {
        let conn = try TestServer.connect()
        let table = try table(conn, "sent_as_one_check")
        #expect(throws: Refused.self) { try conn.transaction(sentAsOne: true) { db in
            try db.send("INSERT INTO \(identifier: table) VALUES (1)")
            try db.send("SELECT 1", check: { _ in throw Refused() })
        } }
        #expect(!conn.isInTransaction)
        #expect(try count(conn, table) == 0, "the check refused: the INSERT before it rolled back")
    }

    @Test func aBodyThatThrowsSendsNothing() throws {
        let conn = try TestServer.connect()
        let table = try table(conn, "sent_as_one_throws")
        let before = conn.statementsSent
        #expect(throws: Refused.self) { try conn.transaction(sentAsOne: true) { db in
            try db.send("INSERT INTO \(identifier: table) VALUES (1)")
            throw Refused()
        } }
        #expect(conn.statementsSent == before)
        #expect(!conn.isInTransaction)
        #expect(try count(conn, table) == 0)
    }
}
