import Foundation
import Testing
import TestSupport
import TMDatabase
import TMPostgres

/// What the database stamps on an order row, whoever writes it (migration 0036's `tm_orders_stamp`,
/// one trigger call per row written where there were up to three): `updated_at` on every update; the
/// first acceptance, the fill and the slippage on an update AND on an insert that arrives accepted,
/// filled or with a fill (sync imports such orders); nothing on the order path's new rows.
@Suite(.serialized) struct OrderStampTests {
    static let user = UUID(uuidString: "00000000-0000-0000-0000-000000000001")!, account = UUID(uuidString: "00000000-0000-0000-0000-00000000000a")!

    struct Stamps: Equatable {
        var accepted: Bool
        var filled: Bool
        var slippage: String?
    }

    static func seed(_ db: PostgresConnection) throws {
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'stamp@example.com')")
        try db.execute("INSERT INTO broker_accounts (id, user_id, broker, label) VALUES (\(account), \(user), 'manual', 'stamp')")
    }

    /// Inserts an order in `state` (a broker-origin row: no keys needed) bought at a requested 100.
    static func insert(_ db: PostgresConnection, state: String, filled: Decimal = 0, average: Decimal? = nil) throws -> UUID {
        try db.query("""
            INSERT INTO orders (user_id, account_id, origin, broker_order_id, symbol, exchange, side, order_type, quantity, state,
                                requested_price, filled_quantity, average_price)
            VALUES (\(user), \(account), 'broker', \(UUID().uuidString), 'INFY', 'NSE', 'buy', 'market', 10, \(state),
                    100, \(filled), \(average))
            RETURNING id
            """).rows[0].decode("id")
    }

    static func stamps(_ db: PostgresConnection, _ id: UUID) throws -> Stamps {
        let row = try db.query("""
            SELECT accepted_at IS NOT NULL AS accepted, filled_at IS NOT NULL AS filled, slippage_bps::text AS slippage FROM orders WHERE id = \(id)
            """).rows[0]
        return Stamps(accepted: try row.decode("accepted"), filled: try row.decode("filled"), slippage: try row.decode("slippage"))
    }

    /// The row's updated_at is its last writing transaction's time (not an older value it was given).
    static func touched(_ db: PostgresConnection, _ id: UUID) throws -> Bool {
        try db.query("SELECT updated_at > '2000-01-02T00:00:00Z' AND updated_at <= now() AS touched FROM orders WHERE id = \(id)").rows[0].decode("touched")
    }

    @Test func anInsertIsStampedExactlyWhenItArrivesAcceptedOrWithAFill() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_stamp")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        try Self.seed(db)
        // The order path's new rows: nothing to stamp.
        for state in ["RECEIVED", "ROUTED", "SUBMITTING"] {
            let id = try Self.insert(db, state: state)
            #expect(try Self.stamps(db, id) == Stamps(accepted: false, filled: false, slippage: nil), "\(state)")
        }
        // Found at the broker already accepted, part-filled, filled.
        #expect(try Self.stamps(db, Self.insert(db, state: "ACCEPTED")) == Stamps(accepted: true, filled: false, slippage: nil))
        #expect(try Self.stamps(db, Self.insert(db, state: "PARTIALLY_FILLED", filled: 4, average: 101))
            == Stamps(accepted: true, filled: false, slippage: "100.00"))
        #expect(try Self.stamps(db, Self.insert(db, state: "FILLED", filled: 10, average: 99.5))
            == Stamps(accepted: true, filled: true, slippage: "-50.00"))
        // Cancelled after a part fill: not accepted by this rule, but its fill has a slippage.
        #expect(try Self.stamps(db, Self.insert(db, state: "CANCELLED", filled: 2, average: 102))
            == Stamps(accepted: false, filled: false, slippage: "200.00"))
    }

    @Test func everyUpdateTouchesTheRowAndStampsTheExecutionQuality() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_stamp")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        try Self.seed(db)
        let id = try Self.insert(db, state: "SUBMITTING")
        // Each update also sets an old updated_at: the trigger's now() must replace it.
        func update(_ set: PostgresQuery) throws -> Stamps {
            try db.execute("UPDATE orders SET updated_at = '2000-01-01T00:00:00Z', \(fragment: set) WHERE id = \(id)")
            #expect(try Self.touched(db, id), "updated_at stamped by \(set.sql)")
            return try Self.stamps(db, id)
        }
        #expect(try update("version = version + 1") == Stamps(accepted: false, filled: false, slippage: nil))
        #expect(try update("state = 'ACCEPTED'") == Stamps(accepted: true, filled: false, slippage: nil))
        #expect(try update("state = 'PARTIALLY_FILLED', filled_quantity = 5, average_price = 100.5")
            == Stamps(accepted: true, filled: false, slippage: "50.00"))
        #expect(try update("state = 'FILLED', filled_quantity = 10, average_price = 101") == Stamps(accepted: true, filled: true, slippage: "100.00"))
    }

    /// Rows written under 0035's triggers are stamped by 0036's on their next update, and the swap
    /// leaves the row's earlier stamps as they were.
    @Test func rowsWrittenBeforeMigration0036AreStampedOnTheirNextUpdate() throws {
        let database = try TestDatabase(migrated: false, prefix: "tm_stamp36")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let all = try MigrationCatalog.bundled()
        try Migrator(connection: db, migrations: all.filter { $0.version <= 35 }).migrate()
        try Self.seed(db)
        let submitting = try Self.insert(db, state: "SUBMITTING")
        let accepted = try Self.insert(db, state: "ACCEPTED")
        let acceptedAt: String = try db.query("SELECT accepted_at::text AS at FROM orders WHERE id = \(accepted)").rows[0].decode("at")
        try Migrator(connection: db, migrations: all).migrate()

        try db.execute("UPDATE orders SET state = 'ACCEPTED', updated_at = '2000-01-01T00:00:00Z' WHERE id = \(submitting)")
        #expect(try Self.touched(db, submitting))
        #expect(try Self.stamps(db, submitting) == Stamps(accepted: true, filled: false, slippage: nil))
        try db.execute("UPDATE orders SET state = 'FILLED', filled_quantity = 10, average_price = 100 WHERE id = \(accepted)")
        #expect(try Self.stamps(db, accepted) == Stamps(accepted: true, filled: true, slippage: "0.00"))
        #expect(try db.query("SELECT accepted_at::text AS at FROM orders WHERE id = \(accepted)").rows[0].decode("at") == acceptedAt,
                "the first acceptance is kept")
        let triggers: [String] = try db.query("""
            SELECT tgname FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal AND tgtype & 2 = 2 ORDER BY tgname
            """).rows.map { try $0.decode("tgname") }
        #expect(triggers == ["orders_stamp", "orders_stamp_inserted"], "one BEFORE trigger per kind of write")
    }
}
