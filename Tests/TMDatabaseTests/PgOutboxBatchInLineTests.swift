import Foundation
import Testing
import TestSupport
import TMDatabase
import TMPostgres

/// An outbox row of up to ~8 kB — the batch of a group commit's INSERT of a few orders — stays whole in
/// its heap page, its batch never cut into TOAST chunks (migration 0047); a longer one is still moved
/// out of line raw (0044). Either reads back byte for byte.
@Suite(.serialized) struct PgOutboxBatchInLineTests {
    /// `orders` new orders' messages as the order path writes them into one batch: three lines each
    /// (RECEIVED, ROUTED with its route as detail, SUBMITTING), `<event_key>\t<payload>`.
    private func batch(orders: Int) -> String {
        var lines: [String] = []
        for n in 0..<orders {
            let (order, account, user) = (UUID(), UUID(), UUID())
            let id = { (uuid: UUID) in uuid.uuidString.lowercased() }
            let common = "{\"event\":\"order.state\",\"order_id\":\"\(id(order))\",\"account_id\":\"\(id(account))\",\"user_id\":\"\(id(user))\","
                + "\"idempotency_key\":\"open-\(n)-\(id(UUID()).prefix(8))\",\"client_order_id\":\"C\(id(UUID()).prefix(19))\",\"symbol\":\"INFY\","
                + "\"exchange\":\"NSE\",\"side\":\"buy\",\"filled_quantity\":\"0\",\"average_price\":null"
            let route = "{\"requested_account_id\":\"\(id(account))\",\"scores\":[{\"account_id\":\"\(id(account))\",\"broker\":\"kite\",\"speed\":1.0000,"
                + "\"cost\":1.0000,\"liquidity\":1.0000,\"reliability\":1.0000,\"total\":1.0000}],\"orders\":[{\"account_id\":\"\(id(account))\","
                + "\"broker\":\"kite\",\"quantity\":\"1\",\"client_order_id\":\"C\(n)\",\"idempotency_key\":\"open-\(n)\"}],\"split_reason\":null}"
            for (step, (from, to)) in [("null", "RECEIVED"), ("\"RECEIVED\"", "ROUTED"), ("\"ROUTED\"", "SUBMITTING")].enumerated() {
                let detail = to == "ROUTED" ? ",\"detail\":\(route)" : ""
                lines.append("order:\(id(order)):\(1_000_000 + 3 * n + step)\t\(common),\"from\":\(from),\"to\":\"\(to)\"\(detail)}")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Writes a batch of `orders` orders' messages as an order-path outbox row in a fresh migrated
    /// database; returns its length, the bytes the outbox's TOAST relation holds before and after,
    /// and whether it reads back the same.
    private func written(orders: Int) throws -> (length: Int, toastBefore: Int64, toastAfter: Int64, method: String?, same: Bool) {
        let database = try TestDatabase(migrated: true, prefix: "tm_outboxinline")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let toastBytes: PostgresQuery = "SELECT pg_relation_size(reltoastrelid) AS bytes FROM pg_class WHERE oid = 'trade_event_outbox'::regclass"
        let before: Int64 = try db.query(toastBytes).rows[0].decode("bytes")
        let text = batch(orders: orders)
        let id: Int64 = try db.query("""
            INSERT INTO trade_event_outbox (account_id, event_key, batch, messages)
            VALUES (NULL, \("order-events:test-\(UUID().uuidString.lowercased())"), \(text), \(Int32(3 * orders))) RETURNING id
            """).rows[0].decode("id")
        let after: Int64 = try db.query(toastBytes).rows[0].decode("bytes")
        let read = try db.query("""
            SELECT pg_column_compression(batch) AS method, batch = \(text) AS same FROM trade_event_outbox WHERE id = \(id)
            """).rows[0]
        return (text.utf8.count, before, after, try read.decode("method"), try read.decode("same"))
    }

    @Test func aFewOrdersBatchOfSevenKilobytesStaysInItsHeapPage() throws {
        let row = try written(orders: 4)
        #expect(row.length > 6_000 && row.length < 8_000, "the batch is \(row.length) bytes: not the case this test is about")
        #expect(row.toastBefore == 0)
        #expect(row.toastAfter == 0, "the batch was cut into TOAST chunks (\(row.toastAfter) bytes)")
        #expect(row.method == nil)
        #expect(row.same)
    }

    @Test func aBatchLongerThanAPageIsStillMovedOutOfLineRaw() throws {
        let row = try written(orders: 12)
        #expect(row.length > 16_000)
        #expect(row.toastBefore == 0)
        #expect(row.toastAfter > 0)
        #expect(row.method == nil, "compressed with \(row.method ?? "-")")
        #expect(row.same)
    }
}
