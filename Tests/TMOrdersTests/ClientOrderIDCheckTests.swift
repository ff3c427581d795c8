import Foundation
import Testing
import TestSupport
import TMPostgres

/// The database's rule for a client order id (`orders_client_order_id_check`): 1 to 128 characters
/// of [A-Za-z0-9_-], or none. Migration 0033 rewrote it in a cheaper form (no counted regex); the
/// values it accepts are the same.
@Suite(.serialized) struct ClientOrderIDCheckTests {
    @Test func theCheckAcceptsExactlyOneTo128OfTheAllowedCharacters() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_coid")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        try db.simpleQuery("""
            INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'coid@example.com');
            INSERT INTO broker_accounts (id, user_id, broker, label) VALUES
                ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-000000000001', 'manual', 'coid');
            """)
        func accepted(_ id: String?) -> Bool {
            do {
                try db.execute("""
                    INSERT INTO orders (user_id, account_id, origin, idempotency_key, client_order_id, broker_order_id, symbol, exchange, side,
                                        order_type, quantity)
                    VALUES ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000000a', 'broker', NULL, \(id),
                            \(UUID().uuidString), 'INFY', 'NSE', 'buy', 'market', 1)
                    """)
                return true
            } catch let error as PostgresError {
                #expect(error.sqlState == "23514" && error.constraint == "orders_client_order_id_check", "\(error)")
                return false
            } catch {
                Issue.record("\(error)")
                return false
            }
        }
        #expect(accepted(nil))
        #expect(accepted("a"))
        #expect(accepted("Az09_-" + String(repeating: "x", count: 122)), "128 characters")
        #expect(!accepted(String(repeating: "x", count: 129)), "129 characters")
        #expect(!accepted(""))
        for bad in ["a b", "a.b", "a/b", "é", "a\nb", "ab\n"] { #expect(!accepted(bad), "\(bad.debugDescription)") }
    }
}
