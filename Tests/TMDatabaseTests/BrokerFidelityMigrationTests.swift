import Foundation
import Testing
import TestSupport
import TMDatabase
import TMPostgres

/// Migration 0010 (broker fidelity): applied to a database that already holds trades, orders and
/// positions, the old rows stay valid (details NULL, multiplier 1) and exposure is computed for
/// them; the new columns refuse what no broker can mean.
@Suite struct BrokerFidelityMigrationTests {
    @Test func appliedOverExistingRowsThenCheckedAndComputed() throws {
        let database = try TestDatabase()
        let db = try database.connect()
        defer { db.close() }
        let all = try MigrationCatalog.bundled()
        let fidelity = try #require(all.first { $0.name == "broker_fidelity" })
        #expect(fidelity.version == 10)
        try Migrator(connection: db, migrations: all.filter { $0.version < fidelity.version }).migrate()

        let user: UUID = try db.query("INSERT INTO users (email) VALUES ('m@example.com') RETURNING id").rows[0].decode("id")
        let account: UUID = try db.query("INSERT INTO broker_accounts (user_id, broker, label) VALUES (\(user), 'kite', 'main') RETURNING id")
            .rows[0].decode("id")
        try db.execute("""
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, traded_at)
            VALUES (\(account), 'T-old', 'INFY', 'NSE', 'buy', 10, 1500.5, now())
            """)
        try db.execute("""
            INSERT INTO orders (user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, state)
            VALUES (\(user), \(account), 'k-old', 'c-old', 'INFY', 'NSE', 'buy', 'market', 10, 'ACCEPTED')
            """)
        try db.execute("""
            INSERT INTO positions (account_id, symbol, exchange, quantity, average_price, as_of)
            VALUES (\(account), 'INFY', 'NSE', -10, 1500.5, now())
            """)

        let report = try Migrator(connection: db, migrations: all).migrate()
        #expect(report.applied.map(\.version).contains(10))
        let old = try db.query("SELECT multiplier, last_price, unrealized_pnl, exposure FROM positions").rows[0]
        #expect(try old.decode("multiplier", as: Decimal.self) == 1)
        #expect(try old.decode("last_price", as: Decimal?.self) == nil)
        #expect(try old.decode("exposure", as: Decimal.self) == 15005, "|-10| x 1500.5 x 1")
        let trade = try db.query("SELECT product, is_maker, quote_quantity, order_remaining_quantity FROM trades").rows[0]
        #expect(try trade.decode("product", as: String?.self) == nil && trade.decode("is_maker", as: Bool?.self) == nil)
        #expect(try db.query("SELECT remaining_quantity FROM orders").rows[0].decode("remaining_quantity", as: Decimal?.self) == nil)

        // The exposure follows the row: last price before average, times the multiplier.
        try db.execute("UPDATE positions SET last_price = 1510, multiplier = 1000")
        #expect(try db.query("SELECT exposure FROM positions").rows[0].decode("exposure", as: Decimal.self) == 15_100_000)

        for (what, sql) in [
            ("an unknown product", "UPDATE trades SET product = 'CNC'"),
            ("a negative quote quantity", "UPDATE trades SET quote_quantity = -1"),
            ("a negative order remaining quantity", "UPDATE trades SET order_remaining_quantity = -1"),
            ("a negative remaining quantity", "UPDATE orders SET remaining_quantity = -0.5"),
            ("an unknown order product", "UPDATE orders SET product = 'MIS'"),
            ("a zero multiplier", "UPDATE positions SET multiplier = 0"),
        ] {
            do {
                try db.execute(PostgresQuery(unsafeSQL: sql))
                Issue.record("accepted \(what)")
            } catch let error as PostgresError {
                #expect(error.isCheckViolation, "\(what): \(error)")
            }
        }
        // Nobody writes the exposure: it has one definition.
        #expect(throws: PostgresError.self) { try db.execute("UPDATE positions SET exposure = 1") }
        try db.execute("UPDATE trades SET product = 'carry_forward', is_maker = false, quote_quantity = 0, order_remaining_quantity = 0")
        try db.execute("UPDATE orders SET product = 'margin', remaining_quantity = 0")
    }
}
