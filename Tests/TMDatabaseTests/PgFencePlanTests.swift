import Foundation
import Testing
import TestSupport
import TMDatabase
import TMPostgres

/// The fence check (`tm_advance_fences`, called by every fenced transaction) takes its generic plan
/// (migration 0039): planned once per session instead of at every call, with the same answers — a
/// token equal or newer passes and advances, an older one is refused — past the plan cache's first
/// custom plans.
@Suite(.serialized) struct PgFencePlanTests {
    @Test func theFenceCheckIsPlannedOncePerSessionAndStillRefusesAStaleToken() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_fenceplan")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let generic: Bool = try db.query("""
            SELECT coalesce('plan_cache_mode=force_generic_plan' = ANY(proconfig), false) AS generic
            FROM pg_proc WHERE oid = 'tm_advance_fences(text[], bigint[])'::regprocedure
            """).rows[0].decode("generic")
        #expect(generic)
        func advance(_ message: String, lease: Int64) throws -> String? {
            do {
                try db.execute("SELECT tm_advance_fences_or_raise(ARRAY[\(message), 'shard:plan:0']::text[], ARRAY[1, \(lease)]::bigint[])")
                return nil
            } catch let error as PostgresError {
                return error.sqlState
            }
        }
        for lease in Int64(1)...10 {
            #expect(try advance("message:\(lease)", lease: lease) == nil, "lease \(lease)")
            #expect(try advance("message:\(lease)-again", lease: lease) == nil, "lease \(lease) again")
            #expect(try advance("message:\(lease)-stale", lease: lease - 1) == "TMF01", "lease \(lease - 1) after \(lease)")
        }
        #expect(try db.query("SELECT token FROM lock_fences WHERE resource = 'shard:plan:0'").rows[0].decode("token", as: Int64.self) == 10)
    }
}
