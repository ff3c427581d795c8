import Foundation
import Testing
import TMCore
import TMPostgres
import TestSupport

/// `PostgresPool.withConnection(_:then:)` and `transaction(sentAsOne:_:then:)`: the outcome goes on
/// from the connection's thread — after the transaction's own answer (its sync point), with the
/// connection already back in the pool — and the caller is answered once, from whichever thread.
@Suite(.timeLimit(.minutes(1))) struct PoolHandOffTests {
    @Test func thenRunsOnTheConnectionsThreadWithTheConnectionBackInThePool() async throws {
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 1)
        let bodyThread = Locked<UInt?>(nil)
        let seen = try await pool.withConnection({ db -> Int in
            bodyThread.withLock { $0 = UInt(pthread_self()) }
            return try db.query("SELECT 41 AS n").scalar(as: Int.self)
        }, then: { (outcome: Result<Int, Error>, answer: @escaping @Sendable (Result<[Int], Error>) -> Void) in
            answer(outcome.map { [$0 + 1, pool.availableCount, UInt(pthread_self()) == bodyThread.current ? 1 : 0] })
        })
        #expect(seen == [42, 1, 1], "the value, the one connection free again before `then`, on the body's thread")
        #expect(pool.availableCount == 1)
        await pool.shutdown()
    }

    /// `then` may hand on to another thread, which answers (a second answer is ignored); the caller
    /// resumes only then.
    @Test func anotherThreadAnswersOnceForThen() async throws {
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 1)
        let lane = BlockingThread(name: "hand-off-lane")
        defer { lane.shutdown() }
        let laneThread = Locked<UInt?>(nil)
        let answered = try await pool.withConnection({ _ in "committed" }, then: { (outcome: Result<String, Error>, answer) in
            let handed = lane.submit {
                laneThread.withLock { $0 = UInt(pthread_self()) }
                answer(outcome.map { "\($0), then sent" })
                answer(.success("a second answer"))
            }
            #expect(handed)
        })
        #expect(answered == "committed, then sent")
        #expect(laneThread.current != nil)
        await pool.shutdown()
    }

    /// A transaction that fails at its sync point (a deferred constraint trigger raising at the
    /// implicit COMMIT, after every statement succeeded) reaches `then` as that failure; a committed
    /// one is visible from another session by the time `then` runs.
    @Test func thenSeesTheSyncPointsAnswer() async throws {
        let database = try TestDatabase(migrated: false, prefix: "tm_pool")
        defer { database.drop() }
        let other = try database.connect()
        defer { other.close() }
        try other.simpleQuery("""
            CREATE TABLE handed (key text PRIMARY KEY);
            CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'P0001'; END $$;
            CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON handed DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW WHEN (NEW.key = 'refused') EXECUTE FUNCTION refuse_at_commit();
            """)
        let pool = PostgresPool(configuration: database.configuration, size: 1)
        let configuration = database.configuration
        let insert = { (key: String) async throws -> Int in
            try await pool.transaction(sentAsOne: true, { db in
                try db.send("INSERT INTO handed (key) VALUES (\(key))")
            }, then: { (outcome: Result<Void, Error>, answer: @escaping @Sendable (Result<Int, Error>) -> Void) in
                // Another session's view, from `then` itself: what it acts on is committed.
                answer(outcome.flatMap { Result {
                    let reader = try PostgresConnection(configuration: configuration)
                    defer { reader.close() }
                    return try reader.query("SELECT count(*) FROM handed WHERE key = \(key)").scalar(as: Int.self)
                } })
            })
        }
        #expect(try await insert("kept") == 1)
        await #expect { try await insert("refused") } throws: { ($0 as? PostgresError)?.sqlState == "P0001" }
        #expect(try other.query("SELECT count(*) FROM handed").scalar(as: Int.self) == 1)
        #expect(pool.availableCount == 1)
        await pool.shutdown()
    }

    @Test func aShutDownPoolAnswersWithoutRunningTheBody() async throws {
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 1)
        _ = try await pool.query("SELECT 1")
        await pool.shutdown()
        let ran = Locked(false)
        await #expect { () async throws -> Int in
            try await pool.withConnection({ _ in ran.withLock { $0 = true } }, then: { (_: Result<Void, Error>, answer) in answer(.success(1)) })
        } throws: { ($0 as? PostgresError)?.kind == .connection }
        #expect(ran.current == false)
    }
}
