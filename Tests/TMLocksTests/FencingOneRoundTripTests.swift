import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// A fenced transaction in one round trip (`FencingGuard.send`, `PostgresPool.transaction(fencedInOneRoundTrip:)`):
/// the BEGIN, the fence statement, the writes and the COMMIT go in one pipeline; a stale fence RAISES
/// there, so the pipelined COMMIT never takes effect: nothing of the transaction lands, and the caller
/// sees the same `LockError.staleFencingToken` as with the check alone.
@Suite struct FencingOneRoundTripTests {
    @Test func aStaleFenceSentWithTheCommitRefusesTheWholeTransaction() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_locks")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        try db.simpleQuery("CREATE TABLE one_trip (writer text NOT NULL)")
        let newer = MessageFence(queue: "one-trip", messageID: UUID().uuidString, epoch: 2)
        let older = MessageFence(queue: newer.queue, messageID: newer.messageID, epoch: 1)

        // The newer delivery writes: BEGIN, fences, INSERT and COMMIT in ONE round trip (parses aside).
        let (trips, parses) = (db.roundTrips, db.preparedCount)
        try db.transaction { db in
            try FencingGuard.send(db, fences: [newer])
            try db.send("INSERT INTO one_trip (writer) VALUES ('newer')")
        }
        #expect(db.roundTrips - trips - (db.preparedCount - parses) == 1, "one round trip for the whole transaction")

        // The older delivery's transaction is refused: its INSERT and its COMMIT were in the pipeline.
        #expect(throws: LockError.staleFencingToken(resource: older.resource, token: 1)) {
            do {
                try db.transaction { db in
                    try FencingGuard.send(db, fences: [older])
                    try db.send("INSERT INTO one_trip (writer) VALUES ('older')")
                }
            } catch {
                throw FencingGuard.refusal(error)
            }
        }
        #expect(!db.isInTransaction, "rolled back, the connection ready for the next transaction")
        #expect(try db.query("SELECT writer FROM one_trip").rows.map { try $0.decode("writer", as: String.self) } == ["newer"])
        #expect(try db.query("SELECT token FROM lock_fences WHERE resource = \(older.resource)").scalar(as: Int64.self) == 2)

        // The pool's form: the same refusal, and a fresh fence passes with its result read after the commit.
        let pool = PostgresPool(configuration: database.configuration, size: 1)
        await #expect(throws: LockError.staleFencingToken(resource: older.resource, token: 1)) {
            try await pool.transaction(fencedInOneRoundTrip: [older]) { db in
                try db.send("INSERT INTO one_trip (writer) VALUES ('older-pool')")
                return { () }
            }
        }
        let newest = MessageFence(queue: newer.queue, messageID: newer.messageID, epoch: 3)
        let written = try await pool.transaction(fencedInOneRoundTrip: [newest]) { db in
            let box = Box()
            try db.send("INSERT INTO one_trip (writer) VALUES ('newest') RETURNING writer", reading: { box.writer = try? $0.rows[0].decode("writer") })
            return { box.writer }
        }
        #expect(written == "newest")
        #expect(try db.query("SELECT writer FROM one_trip ORDER BY writer").rows.map { try $0.decode("writer", as: String.self) } == ["newer", "newest"])
        await pool.shutdown()
    }

    final class Box: @unchecked Sendable {
        var writer: String?
    }
}
