import Foundation
import Testing
import TMCore
import TMPostgres

/// Fewer round trips per transaction (a BEGIN that goes with the first statement, statements sent
/// with the next round trip) and statements prepared once per session — without weakening what a
/// transaction guarantees.
@Suite struct PipelinedTransactionTests {
    struct Refused: Error, Equatable {}

    @Test func aTransactionsBeginTravelsWithItsFirstStatement() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("begin_with_first")
        try conn.simpleQuery("CREATE TABLE \(table) (n int NOT NULL)")
        let before = conn.roundTrips
        try conn.transaction { db in
            try db.execute("INSERT INTO \(identifier: table) VALUES (1)")
        }
        #expect(conn.roundTrips - before == 2, "BEGIN + INSERT in one round trip, then COMMIT")
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 1)
        #expect(!conn.isInTransaction)
    }

    @Test func aSentStatementGoesWithTheCommitAndItsFailureRollsTheTransactionBack() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("sent_with_commit")
        try conn.simpleQuery("CREATE TABLE \(table) (n int PRIMARY KEY)")
        let before = conn.roundTrips
        try conn.transaction { db in
            try db.execute("INSERT INTO \(identifier: table) VALUES (1)")
            try db.send("INSERT INTO \(identifier: table) VALUES (2)")
        }
        #expect(conn.roundTrips - before == 2, "the sent INSERT went with the COMMIT")
        // A sent statement that fails: the error comes back from the commit, and nothing commits.
        #expect { try conn.transaction { db in
            try db.execute("INSERT INTO \(identifier: table) VALUES (3)")
            try db.send("INSERT INTO \(identifier: table) VALUES (1)")
        } } throws: { ($0 as? PostgresError)?.isUniqueViolation == true }
        #expect(!conn.isInTransaction)
        #expect(try conn.query("SELECT n FROM \(identifier: table) ORDER BY n").rows.map { try $0.decode(0, as: Int.self) } == [1, 2])
    }

    /// A check sent ahead (a fence) is read before the answer of the statement it travelled with is
    /// used: its refusal is thrown and the transaction rolls back, though that statement did run.
    @Test func aSentChecksRefusalRollsBackTheStatementItTravelledWith() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("checked_ahead")
        try conn.simpleQuery("CREATE TABLE \(table) (n int NOT NULL)")
        #expect(throws: Refused.self) {
            try conn.transaction { db in
                try db.send("SELECT 1 AS stale", check: { result in if !result.rows.isEmpty { throw Refused() } })
                try db.execute("INSERT INTO \(identifier: table) VALUES (1)")
                Issue.record("the refusal must be thrown before the INSERT's answer is used")
            }
        }
        #expect(!conn.isInTransaction)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 0)
        // A check that passes lets the transaction commit.
        try conn.transaction { db in
            try db.send("SELECT 1 AS stale WHERE false", check: { result in if !result.rows.isEmpty { throw Refused() } })
            try db.execute("INSERT INTO \(identifier: table) VALUES (2)")
        }
        #expect(try conn.query("SELECT n FROM \(identifier: table)").rows.map { try $0.decode(0, as: Int.self) } == [2])
    }

    /// A check still waiting when the body ends goes in one round trip with the COMMIT; the server
    /// runs that COMMIT whatever the check finds, so its refusal must roll the transaction back.
    @Test func aCheckSentLastTravelsWithTheCommitAndItsRefusalRollsBack() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("checked_last")
        try conn.simpleQuery("CREATE TABLE \(table) (n int NOT NULL)")
        #expect(throws: Refused.self) {
            try conn.transaction { db in
                try db.execute("INSERT INTO \(identifier: table) VALUES (1)")
                try db.send("SELECT 1 AS stale", check: { result in if !result.rows.isEmpty { throw Refused() } })
            }
        }
        #expect(!conn.isInTransaction)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 0)
    }

    /// A refusal travels with a later statement; a body that swallows that statement's error must
    /// still not commit what the failed check guarded (the server sees no error in a check).
    @Test func aSwallowedCheckRefusalStillRollsTheTransactionBack() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("swallowed_check")
        try conn.simpleQuery("CREATE TABLE \(table) (n int NOT NULL)")
        #expect(throws: PostgresError.self) {
            try conn.transaction { db in
                try db.send("SELECT 1 AS stale", check: { result in if !result.rows.isEmpty { throw Refused() } })
                _ = try? db.execute("INSERT INTO \(identifier: table) VALUES (1)")
                try db.execute("INSERT INTO \(identifier: table) VALUES (2)")
            }
        }
        #expect(!conn.isInTransaction)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 0)
        // Refused inside a savepoint that the caller catches: only the savepoint's work is undone.
        try conn.transaction { db in
            try db.execute("INSERT INTO \(identifier: table) VALUES (3)")
            #expect(throws: Refused.self) {
                try db.transaction { inner in
                    try inner.send("SELECT 1 AS stale", check: { result in if !result.rows.isEmpty { throw Refused() } })
                    try inner.execute("INSERT INTO \(identifier: table) VALUES (4)")
                }
            }
        }
        #expect(try conn.query("SELECT n FROM \(identifier: table)").rows.map { try $0.decode(0, as: Int.self) } == [3])
    }

    @Test func statementsSentInsideASavepointStayInsideIt() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("sent_savepoint")
        try conn.simpleQuery("CREATE TABLE \(table) (n int PRIMARY KEY)")
        try conn.transaction { db in
            try db.execute("INSERT INTO \(identifier: table) VALUES (1)")
            #expect(throws: PostgresError.self) {
                try db.transaction { inner in
                    try inner.execute("INSERT INTO \(identifier: table) VALUES (2)")
                    try inner.send("INSERT INTO \(identifier: table) VALUES (1)")  // fails: only the savepoint rolls back
                }
            }
            try db.execute("INSERT INTO \(identifier: table) VALUES (3)")
        }
        #expect(try conn.query("SELECT n FROM \(identifier: table) ORDER BY n").rows.map { try $0.decode(0, as: Int.self) } == [1, 3])
    }

    @Test func aTransactionThatFailsBeforeAnyStatementSendsNothing() throws {
        let conn = try TestServer.connect()
        let before = conn.roundTrips
        #expect(throws: Refused.self) { try conn.transaction { _ in throw Refused() } }
        #expect(conn.roundTrips == before)
        #expect(!conn.isInTransaction)
        // An empty transaction still commits (BEGIN and COMMIT together).
        try conn.transaction { _ in }
        #expect(conn.roundTrips - before == 1)
        #expect(try conn.query("SELECT 7").scalar(as: Int.self) == 7)
    }

    @Test func preparedQueriesAreParsedOncePerSession() throws {
        let conn = try TestServer.connect()
        let query = { (n: Int) -> PostgresQuery in "SELECT \(n)::int + 1 AS next" }
        for n in 1...3 {
            #expect(try conn.query(query(n).prepared).scalar(as: Int.self) == n + 1)
        }
        #expect(conn.preparedCount == 1)
        // Inside a transaction, pipelined with its BEGIN, and sent ahead.
        try conn.transaction { db in
            try db.send(query(9).prepared, check: { result throws in
                let next = try result.scalar(as: Int.self)
                #expect(next == 10)
            })
            #expect(try db.query(query(4).prepared).scalar(as: Int.self) == 5)
        }
        #expect(conn.preparedCount == 1)
        // A new session parses it again.
        try conn.reconnect()
        #expect(try conn.query(query(5).prepared).scalar(as: Int.self) == 6)
        #expect(conn.preparedCount == 2)
    }
}
