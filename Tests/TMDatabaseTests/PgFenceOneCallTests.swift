import Foundation
import Testing
import TestSupport
import TMDatabase
import TMPostgres

/// The one-round-trip fence check (`tm_advance_fences_or_raise`, migration 0040) is ONE PL/pgSQL call
/// doing `tm_advance_fences`'s work itself (no nested function), with its generic plans, and keeps its
/// rule: a token newer than the stored one raises the fence; the stored token passes, the row locked
/// until the transaction ends but not rewritten; an older one raises TMF01 naming the first stale
/// fence in resource order with the token given, and nothing of the transaction is kept.
@Suite(.serialized) struct PgFenceOneCallTests {
    @Test func theFenceCheckIsOneCallWithTheSameRule() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_fenceone")
        defer { database.drop() }
        let db = try database.connect()
        let other = try database.connect()
        defer { db.close(); other.close() }
        let function = try db.query("""
            SELECT prosrc, coalesce('plan_cache_mode=force_generic_plan' = ANY(proconfig), false) AS generic
            FROM pg_proc WHERE oid = 'tm_advance_fences_or_raise(text[], bigint[])'::regprocedure
            """).rows[0]
        #expect(try function.decode("generic", as: Bool.self), "generic plans")
        #expect(!(try function.decode("prosrc", as: String.self)).contains("tm_advance_fences("), "no nested fence function")

        let message = "message:q:\(TestServers.uniqueName("one-call"))", lease = "shard:one-call:0"
        /// The check in a transaction of its own; nil when it passed, else the server's error.
        func check(_ fences: [(String, Int64)], while inside: (() throws -> Void)? = nil) throws -> PostgresError? {
            do {
                try db.transaction { db in
                    try db.execute("SELECT tm_advance_fences_or_raise(\(PostgresData.array(fences.map(\.0)))::text[], \(PostgresData.array(fences.map(\.1)))::bigint[])")
                    try db.execute("INSERT INTO lock_fences (resource, token) VALUES (\(message + ":written"), 1) ON CONFLICT DO NOTHING")
                    try inside?()
                }
                return nil
            } catch let error as PostgresError {
                return error
            }
        }
        let rowVersion = { (resource: String) throws -> String in
            try other.query("SELECT ctid::text || '/' || xmin::text AS v FROM lock_fences WHERE resource = \(resource)").rows[0].decode("v")
        }
        let token = { (resource: String) throws -> Int64 in
            try other.query("SELECT token FROM lock_fences WHERE resource = \(resource)").rows[0].decode("token")
        }
        #expect(try check([(message, 5), (lease, 3)]) == nil)
        #expect(try token(message) == 5 && token(lease) == 3)
        let written = (try rowVersion(message), try rowVersion(lease))

        // The stored tokens again: they pass, held until the transaction ends, not rewritten.
        #expect(try check([(lease, 3), (message, 5)]) {
            #expect(throws: PostgresError.self, "locked until the transaction ends") {
                try other.transaction { other in try other.execute("SELECT 1 FROM lock_fences WHERE resource = \(lease) FOR UPDATE NOWAIT") }
            }
        } == nil)
        #expect(try rowVersion(message) == written.0 && rowVersion(lease) == written.1, "not rewritten")

        // An older token: refused with the first stale fence (resource order) and the token given; nothing kept.
        try other.execute("DELETE FROM lock_fences WHERE resource = \(message + ":written")")
        let stale = try #require(try check([(message, 4), (lease, 2)]))
        #expect(stale.sqlState == "TMF01" && stale.detail == "4 \(message)", "\(stale)")
        #expect(try other.query("SELECT count(*)::int AS n FROM lock_fences WHERE resource = \(message + ":written")").rows[0].decode("n", as: Int32.self) == 0)
        let oneStale = try #require(try check([(message, 5), (lease, 2)]))
        #expect(oneStale.sqlState == "TMF01" && oneStale.detail == "2 \(lease)")
        #expect(try token(message) == 5 && token(lease) == 3)

        // Newer tokens raise the fences; a new fence is written at its token (above a message's
        // first delivery, which writes none: migration 0046).
        #expect(try check([(message, 6), (lease, 3), (message + ":next", 2)]) == nil)
        #expect(try token(message) == 6 && token(lease) == 3 && token(message + ":next") == 2)
    }
}
