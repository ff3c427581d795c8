import Foundation
import Testing
import TestSupport
import TMPostgres

/// A new order row's stamp trigger has no WHEN (migration 0052): Postgres rebuilds a trigger's WHEN from
/// its node text at every statement that fires it (~62k instructions a lone order's INSERT, for rows it
/// skips), while the function's own first test costs a call. What the trigger stamps, and when, is
/// `OrderStampTests`' (TMOrdersTests).
@Suite(.serialized) struct PgStampTriggerTests {
    @Test func theNewRowsStampTriggerTestsItsConditionInItsFunction() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_stamp_when")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let triggers = try db.query("""
            SELECT tgname, tgqual IS NOT NULL AS has_when, tgfoid::regproc::text AS function
            FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal ORDER BY tgname
            """).rows.map { (try $0.decode("tgname", as: String.self), try $0.decode("has_when", as: Bool.self), try $0.decode("function", as: String.self)) }
        let stamp = triggers.first { $0.0 == "orders_stamp_inserted" }
        #expect(stamp?.1 == false, "orders_stamp_inserted has a WHEN again: \(triggers)")
        #expect(stamp?.2 == "tm_orders_stamp", "\(triggers)")
    }
}
