import Foundation
import Testing
import TestSupport
import TMDatabase
import TMPostgres

/// The order path's outbox batches (`trade_event_outbox.batch`) are moved out of line raw when a row is
/// too long to stay in line, never compressed (0035's storage, again after 0043's lz4: migration 0044 —
/// compression cost more Postgres CPU at 1,000 orders/s than the TOAST chunks it saved), and read back
/// byte for byte. A lone order's batch (under ~2 kB) stays in line.
@Suite(.serialized) struct PgOutboxBatchStorageTests {
    /// `count` messages as the order path writes them into one batch (OrderStore.eventWrites): a line
    /// each, `<event_key>\t<payload>`, with a fresh order, account and user id per order.
    private func batch(messages count: Int) -> String {
        var lines: [String] = []
        var order = UUID(), account = UUID(), user = UUID()
        for n in 0..<count {
            if n % 3 == 0 { (order, account, user) = (UUID(), UUID(), UUID()) }
            let id = { (uuid: UUID) in uuid.uuidString.lowercased() }
            lines.append("order:\(id(order)):\(1_000_000 + n)\t{\"event\":\"order.state\",\"order_id\":\"\(id(order))\",\"account_id\":\"\(id(account))\","
                         + "\"user_id\":\"\(id(user))\",\"idempotency_key\":\"bench-\(n)-\(id(UUID()).prefix(8))\",\"client_order_id\":\"C\(id(UUID()).prefix(20))\","
                         + "\"symbol\":\"INFY\",\"exchange\":\"NSE\",\"side\":\"buy\",\"filled_quantity\":\"0\",\"average_price\":null,\"from\":\"ROUTED\",\"to\":\"SUBMITTING\"}")
        }
        return lines.joined(separator: "\n")
    }

    /// Writes a batch of `messages` as an order-path outbox row in a fresh migrated database; returns
    /// how it is stored and whether it reads back the same.
    private func written(messages: Int) throws -> (method: String?, size: Int, length: Int, text: String, same: Bool) {
        let database = try TestDatabase(migrated: true, prefix: "tm_outboxraw")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let text = batch(messages: messages)
        let id: Int64 = try db.query("""
            INSERT INTO trade_event_outbox (account_id, event_key, batch, messages)
            VALUES (NULL, \("order-events:test-\(UUID().uuidString.lowercased())"), \(text), \(messages)) RETURNING id
            """).rows[0].decode("id")
        let read = try db.query("""
            SELECT pg_column_compression(batch) AS method, pg_column_size(batch) AS size, octet_length(batch) AS length, batch = \(text) AS same
            FROM trade_event_outbox WHERE id = \(id)
            """).rows[0]
        return (try read.decode("method"), try read.decode("size"), try read.decode("length"), text, try read.decode("same"))
    }

    @Test func aGroupBatchIsStoredOutOfLineUncompressedAndReadsBackTheSame() throws {
        let row = try written(messages: 90)
        #expect(row.method == nil, "compressed with \(row.method ?? "-")")
        #expect(row.length == row.text.utf8.count)
        #expect(row.size >= row.length, "stored \(row.size) bytes of \(row.length)")
        #expect(row.same)
    }

    @Test func aLoneOrdersBatchStaysInLineUncompressed() throws {
        let row = try written(messages: 3)
        #expect(row.method == nil)
        #expect(row.same)
    }
}
