import Foundation
import Testing
import TestSupport
import TMDatabase
import TMPostgres

/// The rules of an order row (the 30 CHECKs of `orders` in one check calling a PL/pgSQL function,
/// which Postgres does not rebuild for every statement: 0037's `tm_orders_rules` of 24 columns, since
/// 0048 `tm_orders_row_rules` of the row whole). Every
/// rule still refuses a bad row — on INSERT and on UPDATE — with the refusal the old CHECK gave:
/// SQLSTATE 23514, the old constraint's name, the same message, table and schema; a row breaking
/// several is refused naming the first by name, as Postgres did; a rule that is unknown (NULL) passes.
/// Each case runs against a database migrated up to 0036 (the old CHECKs) and one fully migrated.
@Suite(.serialized) struct PgOrderRulesTests {
    static let user = UUID(uuidString: "00000000-0000-0000-0000-000000000001")!, account = UUID(uuidString: "00000000-0000-0000-0000-00000000000a")!

    /// A valid platform market order, SUBMITTING: every column a rule reads, as SQL literals.
    static let valid: [String: String] = [
        "origin": "'platform'", "idempotency_key": "'k'", "client_order_id": "'c-1'", "broker_order_id": "NULL",
        "side": "'buy'", "order_type": "'market'", "time_in_force": "'day'", "product": "'delivery'",
        "quantity": "10", "price": "NULL", "trigger_price": "NULL", "filled_quantity": "0", "average_price": "NULL",
        "remaining_quantity": "NULL", "requested_price": "NULL", "state": "'SUBMITTING'", "reject_code": "NULL",
        "unknown_reason": "NULL", "risk_decision": "NULL", "route": "NULL", "fencing_token": "NULL",
        "version": "0", "submit_attempts": "0", "lookup_attempts": "0",
    ]

    /// Each rule, and a change of the valid row that breaks it (and no rule named before it).
    static let broken: [(rule: String, change: [String: String])] = [
        ("orders_average_price_check", ["average_price": "0"]),
        ("orders_client_order_id_check", ["client_order_id": "'a b'"]),
        ("orders_client_order_id_check", ["client_order_id": "'\(String(repeating: "x", count: 129))'"]),
        ("orders_fencing_token_check", ["fencing_token": "-1"]),
        ("orders_fill_bounds", ["filled_quantity": "11", "average_price": "1"]),
        ("orders_fill_has_price", ["filled_quantity": "1"]),
        ("orders_filled_is_complete", ["state": "'FILLED'", "filled_quantity": "5", "average_price": "1"]),
        ("orders_filled_quantity_check", ["filled_quantity": "-1", "average_price": "1"]),
        ("orders_idempotency_key_check", ["idempotency_key": "''"]),
        ("orders_idempotency_key_check", ["idempotency_key": "'\(String(repeating: "k", count: 256))'"]),
        ("orders_lookup_attempts_check", ["lookup_attempts": "-1"]),
        ("orders_order_type_check", ["order_type": "'iceberg'"]),
        // Priced, so it breaks no other rule (`orders_price_by_type` holds): only the type's own rule refuses it.
        ("orders_order_type_check", ["order_type": "'iceberg'", "price": "5"]),
        ("orders_origin_check", ["origin": "'exchange'"]),
        ("orders_origin_keys", ["origin": "'broker'"]),
        ("orders_origin_keys", ["client_order_id": "NULL"]),
        ("orders_origin_keys", ["idempotency_key": "NULL"]),
        ("orders_partial_is_partial", ["state": "'PARTIALLY_FILLED'", "filled_quantity": "10", "average_price": "1"]),
        ("orders_partial_is_partial", ["state": "'PARTIALLY_FILLED'"]),
        ("orders_price_by_type", ["order_type": "'limit'"]),
        ("orders_price_by_type", ["price": "5"]),
        ("orders_price_check", ["order_type": "'limit'", "price": "0"]),
        ("orders_product_check", ["product": "'MIS'"]),
        ("orders_quantity_check", ["quantity": "0"]),
        ("orders_remaining_quantity_check", ["remaining_quantity": "-1"]),
        ("orders_requested_price_check", ["requested_price": "0"]),
        ("orders_risk_decision_check", ["risk_decision": "'[]'"]),
        ("orders_risk_rejected_has_code", ["state": "'RISK_REJECTED'"]),
        ("orders_route_check", ["route": "'1'"]),
        ("orders_side_check", ["side": "'hold'"]),
        ("orders_state_check", ["state": "'PENDING'"]),
        ("orders_submit_attempts_check", ["submit_attempts": "-1"]),
        ("orders_time_in_force_check", ["time_in_force": "'gtd'"]),
        ("orders_trigger_by_type", ["order_type": "'stop'"]),
        ("orders_trigger_by_type", ["trigger_price": "5"]),
        ("orders_trigger_price_check", ["order_type": "'stop'", "trigger_price": "0"]),
        ("orders_unknown_has_reason", ["state": "'UNKNOWN'"]),
        ("orders_version_check", ["version": "-1"]),
        // Several broken: the first by name is named.
        ("orders_quantity_check", ["quantity": "0", "side": "'hold'", "version": "-1"]),
        ("orders_filled_is_complete", ["state": "'FILLED'", "side": "'hold'"]),
    ]

    /// Rows every rule accepts, unknown (NULL) values among them.
    static let accepted: [[String: String]] = [
        [:],
        ["origin": "'broker'", "broker_order_id": "'B-1'", "idempotency_key": "NULL", "client_order_id": "NULL"],
        ["order_type": "'stop_limit'", "price": "101.5", "trigger_price": "100", "time_in_force": "'gtc'", "product": "'margin'"],
        ["state": "'PARTIALLY_FILLED'", "filled_quantity": "4", "average_price": "99.95", "remaining_quantity": "6"],
        ["state": "'FILLED'", "filled_quantity": "10", "average_price": "100", "remaining_quantity": "0"],
        ["state": "'RISK_REJECTED'", "reject_code": "'MAX_QTY'", "risk_decision": "'{\"ok\":false}'"],
        ["state": "'UNKNOWN'", "unknown_reason": "'timeout'", "route": "'{\"broker\":\"kite\"}'", "fencing_token": "7"],
        ["side": "'sell'", "requested_price": "1520.05", "product": "NULL", "version": "3", "submit_attempts": "2", "lookup_attempts": "1"],
    ]

    static func seed(_ db: PostgresConnection) throws {
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'rules@example.com')")
        try db.execute("INSERT INTO broker_accounts (id, user_id, broker, label) VALUES (\(account), \(user), 'manual', 'rules')")
    }

    static func insert(_ db: PostgresConnection, _ change: [String: String]) throws {
        let row = valid.merging(change) { $1 }
        let columns = row.keys.sorted()
        try db.execute(PostgresQuery(unsafeSQL: """
            INSERT INTO orders (user_id, account_id, symbol, exchange, \(columns.joined(separator: ", ")))
            VALUES ('\(user.uuidString)', '\(account.uuidString)', 'INFY', 'NSE', \(columns.map { row[$0]! }.joined(separator: ", ")))
            """))
    }

    /// Moves the valid row (inserted with key `key`) to `change`, in one UPDATE.
    static func update(_ db: PostgresConnection, key: String, _ change: [String: String]) throws {
        let sets = change.keys.sorted().map { "\($0) = \(change[$0]!)" }
        try db.execute(PostgresQuery(unsafeSQL: "UPDATE orders SET \(sets.joined(separator: ", ")) WHERE idempotency_key = '\(key)'"))
    }

    /// The refusal of `write`, nil when it was accepted (rolled back either way).
    static func refusal(_ db: PostgresConnection, _ write: (PostgresConnection) throws -> Void) throws -> PostgresError? {
        struct Undo: Error {}
        do {
            try db.transaction { db in
                try write(db)
                throw Undo()
            }
        } catch is Undo {
            return nil
        } catch let error as PostgresError where error.kind == .server {
            return error
        }
        return nil
    }

    /// A database migrated up to `through` (every migration when nil), seeded.
    static func database(through version: Int? = nil) throws -> (TestDatabase, PostgresConnection) {
        let database = try TestDatabase(prefix: "tm_rules")
        let db = try database.connect()
        let all = try MigrationCatalog.bundled()
        try Migrator(connection: db, migrations: all.filter { version == nil || $0.version <= version! }).migrate()
        try seed(db)
        return (database, db)
    }

    @Test func everyRuleRefusesABadRowNamingItAsTheOldCheckDid() throws {
        let (oldDatabase, old) = try Self.database(through: 36)
        defer { old.close(); oldDatabase.drop() }
        let (newDatabase, new) = try Self.database()
        defer { new.close(); newDatabase.drop() }
        // The valid row, written once, is the one each UPDATE moves.
        for db in [old, new] { try Self.insert(db, ["idempotency_key": "'kept'", "client_order_id": "'c-kept'"]) }
        for (rule, change) in Self.broken {
            for (writing, write) in [("INSERT", { (db: PostgresConnection) in try Self.insert(db, change) }),
                                     ("UPDATE", { (db: PostgresConnection) in try Self.update(db, key: "kept", change) })] {
                let was = try Self.refusal(old, write), now = try Self.refusal(new, write)
                #expect(was?.constraint == rule, "0036, \(writing) \(change): \(String(describing: was))")
                #expect(now?.sqlState == "23514" && now?.constraint == rule, "\(writing) \(change): \(String(describing: now))")
                #expect(now?.message == was?.message && now?.table == "orders" && now?.schema == was?.schema,
                        "\(writing) \(change): \(String(describing: now)) vs \(String(describing: was))")
                #expect(now.map(\.description) == was.map(\.description))
            }
        }
        for change in Self.accepted {
            #expect(try Self.refusal(new, { try Self.insert($0, change) }) == nil, "\(change)")
            #expect(try Self.refusal(old, { try Self.insert($0, change) }) == nil, "0036: \(change)")
        }
    }

    @Test func appliedOverExistingRowsTheRulesBecomeOneValidatedCheck() throws {
        let (database, db) = try Self.database(through: 36)
        defer { db.close(); database.drop() }
        for (index, change) in Self.accepted.enumerated() {
            // Keys of its own (unique), unless the row has none (a broker's order).
            let keys = ["idempotency_key": "'old-\(index)'", "client_order_id": "'c-old-\(index)'"].filter { change[$0.key] != "NULL" }
            try Self.insert(db, change.merging(keys) { $1 })
        }
        try Migrator(connection: db, migrations: try MigrationCatalog.bundled()).migrate()
        let checks = try db.query("""
            SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'c'
            """).rows.map { (try $0.decode("conname", as: String.self), try $0.decode("convalidated", as: Bool.self)) }
        #expect(checks.count == 1 && checks.first?.0 == "orders_rules" && checks.first?.1 == true, "\(checks)")
        #expect(try db.query("SELECT count(*) AS n FROM orders").rows[0].decode("n", as: Int.self) == Self.accepted.count)
        // The old rows still move, and a bad move is still refused.
        #expect(try Self.refusal(db, { try $0.execute("UPDATE orders SET version = version + 1") }) == nil)
        #expect(try Self.refusal(db, { try $0.execute("UPDATE orders SET quantity = 0") })?.constraint == "orders_quantity_check")
    }
}
