import Foundation
import Testing
import TestSupport
import TMCore
import TMDatabase
import TMLocks
import TMPostgres

/// Review of migration 0032 (`tm_advance_fences_or_raise`) on a database at 0031 with live fences:
/// before it is applied the one-round-trip transaction fails with the server's error (never a
/// refusal, never a commit); once applied, the same pooled connection keeps the fences the old
/// check wrote — an older token is refused, the stored one passes.
@Suite(.serialized) struct FenceMigrationReviewTests {
    typealias Token = OneTripOrderReviewTests.Lease

    @Test func migration0032OnALiveDatabaseKeepsItsFencesAndTheOneTripCheckWaitsForIt() async throws {
        let database = try TestDatabase(migrated: false, prefix: "tm_mig32")
        let db = try database.connect()
        let all = try MigrationCatalog.bundled()
        try Migrator(connection: db, migrations: all.filter { $0.version <= 31 }).migrate()
        try db.simpleQuery("CREATE TABLE mig_written (name text PRIMARY KEY)")
        let pool = PostgresPool(configuration: database.configuration, size: 1)
        let r = TestServers.uniqueName("mig")
        // Live data: a fence the old (row-returning) check advanced.
        try await pool.transaction(fencedBy: [Token(resource: r, fencingToken: 7)]) { db in try db.execute("INSERT INTO mig_written VALUES ('old')") }
        @Sendable func write(_ name: String, token: Int64) async throws {
            try await pool.transaction(fencedInOneRoundTrip: [Token(resource: r, fencingToken: token)]) { db in
                try db.send("INSERT INTO mig_written VALUES (\(name))")
                return { () }
            }
        }
        // New code before the migration: the server's error, nothing written.
        do {
            try await write("early", token: 7)
            Issue.record("a one-trip write committed without its fence check")
        } catch let error as PostgresError {
            #expect(error.sqlState == "42883", "undefined function: \(error)")
        }
        try Migrator(connection: db, migrations: all).migrate()
        await #expect(throws: LockError.staleFencingToken(resource: r, token: 6)) { try await write("stale", token: 6) }
        try await write("current", token: 7)
        let names = try db.query("SELECT name FROM mig_written ORDER BY name").rows.map { try $0.decode("name", as: String.self) }
        #expect(names == ["current", "old"])
        await pool.shutdown()
        db.close()
        database.drop()
    }
}
