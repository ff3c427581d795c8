import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// `PostgresPool.transaction(fencedInOneRoundTrip:_:then:)`: `then` gets the committed value (read
/// after the sync point), or a stale fence as `LockError.staleFencingToken` with nothing written —
/// on the connection's thread, the connection back in the pool.
@Suite(.timeLimit(.minutes(1))) struct FencedHandOffTests {
    struct Token: Fence {
        let resource: String
        let fencingToken: Int64
    }

    @Test func thenGetsTheCommittedValueOrTheRefusal() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_locks")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        try db.simpleQuery("CREATE TABLE handed_fenced (writer text PRIMARY KEY)")
        let pool = PostgresPool(configuration: database.configuration, size: 1)
        let resource = "handed-\(UUID().uuidString)"
        let write = { (writer: String, token: Int64) async throws -> String in
            try await pool.transaction(fencedInOneRoundTrip: [Token(resource: resource, fencingToken: token)], { db in
                let inserted = Locked<String?>(nil)
                try db.send("INSERT INTO handed_fenced (writer) VALUES (\(writer)) RETURNING writer") { result in
                    inserted.withLock { $0 = try? result.rows.first?.decode("writer", as: String.self) }
                }
                return { inserted.current ?? "unread" }
            }, then: { (outcome: Result<String, Error>, answer: @escaping @Sendable (Result<String, Error>) -> Void) in
                answer(outcome.map { "\($0) with \(pool.availableCount) free" })
            })
        }
        #expect(try await write("two", 2) == "two with 1 free")
        await #expect(throws: LockError.staleFencingToken(resource: resource, token: 1)) { try await write("one", 1) }
        #expect(try db.query("SELECT writer FROM handed_fenced").rows.map { try $0.decode("writer", as: String.self) } == ["two"])
        #expect(try db.query("SELECT token FROM lock_fences WHERE resource = \(resource)").scalar(as: Int64.self) == 2)
        await pool.shutdown()
    }
}
