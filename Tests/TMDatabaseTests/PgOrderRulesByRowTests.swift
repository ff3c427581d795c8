import Foundation
import Testing
import TestSupport
import TMPostgres

/// The order rules' one check takes the row whole (migration 0048): Postgres rebuilds a CHECK from its
/// stored node text at the first row of every statement, so that text is kept small — one whole-row
/// value, not the 24 columns 0037 passed one by one (~3.2 kB, ~78k instructions a statement). What the
/// rules refuse, and how, is `PgOrderRulesTests`' (against the old CHECKs of 0036).
///
/// For whoever changes `orders`: a whole-row CHECK depends on the table, not on the columns the rules
/// read, so Postgres lets a migration rename, drop or retype such a column — and then every write of
/// `orders` fails (`record "r" has no field …`), or a retyped value goes unchecked. A migration that
/// renames, drops or retypes a column the rules read must `CREATE OR REPLACE` the function in the
/// same transaction (and validate the check again after a retype); `everyColumnTheRulesReadExists`
/// catches the first half.
@Suite(.serialized) struct PgOrderRulesByRowTests {
    @Test func everyColumnTheRulesReadExists() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_rules_cols")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let (read, missing) = try WholeRowCheckColumns.read(by: "tm_orders_row_rules", of: "orders", db)
        #expect(read.count >= 20, "the rules' columns were found in the function's text: \(read.sorted())")
        #expect(missing.isEmpty, "the rules read columns `orders` no longer has: \(missing.sorted())")
        // The CASE naming the first broken rule (0059: a function of its own) reads them too.
        let (named, gone) = try WholeRowCheckColumns.read(by: "tm_orders_row_broken_rule", of: "orders", db)
        #expect(named.count >= 20 && gone.isEmpty, "the CASE reads \(named.sorted()), missing \(gone.sorted())")
    }

    /// A session whose search_path does not find the table (pg_restore's is '') gets the same refusal
    /// (0053): the schema named is the row's own, not the session's — 0048's refusal failed there
    /// with 22004 instead, its rule unnamed.
    @Test func aRefusalNamesTheRowsSchemaWhateverTheSearchPath() throws {
        let (database, db) = try PgOrderRulesTests.database()
        defer { db.close(); database.drop() }
        try PgOrderRulesTests.insert(db, [:])
        func described(_ error: PostgresError?) -> String {
            error.map { "\($0.sqlState ?? "?") \($0.constraint ?? "?") \($0.table ?? "?") \($0.schema ?? "?") \($0.message)" } ?? "accepted"
        }
        let plain = described(try PgOrderRulesTests.refusal(db) { try $0.execute("UPDATE orders SET version = -1") })
        #expect(plain == #"23514 orders_version_check orders public new row for relation "orders" violates check constraint "orders_version_check""#, "\(plain)")
        try db.execute("SET search_path = ''")
        let emptyPath = described(try PgOrderRulesTests.refusal(db) { try $0.execute("UPDATE public.orders SET version = -1") })
        #expect(emptyPath == plain)
    }

    @Test func theOneCheckIsACallOnTheWholeRowWithSmallNodeText() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_rules_row")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let checks = try db.query("""
            SELECT conname, pg_get_constraintdef(oid) AS definition, length(conbin) AS node_text
            FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'c'
            """).rows.map {
                (try $0.decode("conname", as: String.self), try $0.decode("definition", as: String.self),
                 try $0.decode("node_text", as: Int.self))
            }
        #expect(checks.count == 1 && checks.first?.0 == "orders_rules", "\(checks)")
        #expect(checks.first?.1 == "CHECK (tm_orders_row_rules(orders.*))", "\(checks)")
        // 0037's call was ~3,150 bytes; a call on the whole row ~270.
        #expect((checks.first?.2 ?? .max) < 1_000, "\(checks)")
        // 0037's function is gone: no second copy of the rules to drift.
        #expect(try db.query("SELECT count(*) AS n FROM pg_proc WHERE proname = 'tm_orders_rules'").rows[0].decode("n", as: Int.self) == 0)
    }
}
