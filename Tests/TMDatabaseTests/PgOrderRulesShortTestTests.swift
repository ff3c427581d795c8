import Foundation
import Testing
import TestSupport
import TMPostgres

/// A valid order row passes the rules by their one short test and never sets up the CASE that names
/// the first broken rule (0057; since 0059 that CASE is `tm_orders_row_broken_rule`, called only from
/// the short test's failure branch). The CASE set up and run is ~110k instructions a transaction
/// (Benchmarks/OrderBench/PROFILE.md, session 32): a short test that is false for every row would pay
/// it for every row the order path writes while every rule test stays green, since the CASE then
/// decides alone. Here `pg_stat_xact_user_functions` counts the CASE's calls (track_functions =
/// 'pl'): none for valid rows, inserted and updated; one for each broken row, whatever the search_path.
@Suite(.serialized) struct PgOrderRulesShortTestTests {
    /// Calls of `function` counted in the open transaction (0 when none).
    static func calls(_ db: PostgresConnection, _ function: String) throws -> Int {
        try db.query("""
            SELECT coalesce(sum(calls), 0)::bigint AS n FROM pg_catalog.pg_stat_xact_user_functions WHERE funcname = \(function)
            """).rows[0].decode("n", as: Int.self)
    }

    @Test func validRowsNeverReachTheCase() throws {
        let (database, db) = try PgOrderRulesTests.database()
        defer { db.close(); database.drop() }
        try db.execute("SET track_functions = 'pl'")
        try db.transaction { db in
            for (index, change) in PgOrderRulesTests.accepted.enumerated() {
                let keys = ["idempotency_key": "'short-\(index)'", "client_order_id": "'c-short-\(index)'"].filter { change[$0.key] != "NULL" }
                try PgOrderRulesTests.insert(db, change.merging(keys) { $1 })
            }
            // Every row moved, twice (a valid move each: the rules run on UPDATE too).
            try db.execute("UPDATE orders SET version = version + 1, submit_attempts = submit_attempts + 1")
            try db.execute("UPDATE orders SET lookup_attempts = lookup_attempts + 1")
            let rules = try Self.calls(db, "tm_orders_row_rules"), reachedCase = try Self.calls(db, "tm_orders_row_broken_rule")
            // The count works (the rules ran for every write) …
            #expect(rules >= 3 * PgOrderRulesTests.accepted.count, "the rules ran \(rules) times")
            // … and no valid row reached the CASE.
            #expect(reachedCase == 0, "valid rows set up the CASE \(reachedCase) times")
        }
    }

    @Test func aBrokenRowReachesTheCaseOnceAndIsRefusedByName() throws {
        let (database, db) = try PgOrderRulesTests.database()
        defer { db.close(); database.drop() }
        try db.execute("SET track_functions = 'pl'")
        try PgOrderRulesTests.insert(db, ["idempotency_key": "'kept'", "client_order_id": "'c-kept'"])
        try db.transaction { db in
            var writes = 0
            for (rule, change) in PgOrderRulesTests.broken {
                let refused = try PgOrderRulesTests.refusal(db) { try PgOrderRulesTests.insert($0, change) }
                #expect(refused?.sqlState == "23514" && refused?.constraint == rule, "\(change): \(String(describing: refused))")
                writes += 1
                #expect(try Self.calls(db, "tm_orders_row_broken_rule") == writes, "\(change)")
            }
            // Under pg_restore's empty search_path the CASE is still found, in the row's own schema.
            try db.execute("SET LOCAL search_path = ''")
            let refused = try PgOrderRulesTests.refusal(db) { try $0.execute("UPDATE public.orders SET version = -1") }
            #expect(refused?.sqlState == "23514" && refused?.constraint == "orders_version_check" && refused?.schema == "public",
                    "\(String(describing: refused))")
            #expect(try Self.calls(db, "tm_orders_row_broken_rule") == writes + 1)
        }
    }
}
