import Foundation
import Testing
import TestSupport
import TMPostgres

/// The outbox's account index holds the rows of an account only (migration 0058): the order path's
/// rows (a NULL account, one a transaction) are no entry of it — two B-tree inserts and their WAL
/// records a lone order fewer — and the look-ups by account it serves still use it.
@Suite(.serialized) struct PgOutboxAccountIndexTests {
    @Test func theAccountIndexLeavesOutRowsWithoutAnAccountAndServesTheAccountsLookUps() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_outbox_account_idx")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let definition = try db.query("SELECT pg_get_indexdef('trade_event_outbox_account_idx'::regclass) AS d").rows[0].decode("d", as: String.self)
        #expect(definition.hasSuffix("USING btree (account_id, id) WHERE (account_id IS NOT NULL)"), "\(definition)")
        // A generic plan of `account_id = $1` (as the account FK's actions run it, and the pending
        // events' EXISTS per account) proves the index's predicate from the `=`.
        try db.execute("SET enable_seqscan = off")
        try db.execute("SET plan_cache_mode = force_generic_plan")
        try db.execute("PREPARE by_account (uuid) AS SELECT id FROM trade_event_outbox WHERE account_id = $1 ORDER BY id")
        let plan = try db.query("EXPLAIN (COSTS OFF) EXECUTE by_account('00000000-0000-0000-0000-00000000000a')").rows
            .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
        #expect(plan.contains("trade_event_outbox_account_idx"), "\(plan)")
    }
}
