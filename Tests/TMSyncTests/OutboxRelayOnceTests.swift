import Foundation
import Logging
import Testing
import TestSupport
import TMQueue
@testable import TMSync

/// The relay publishes each outbox row once even when it crashed between the publish and the
/// delete: the rows are still there at the next pass, and trade-events takes none of them again.
@Suite(.serialized, .timeLimit(.minutes(2))) struct OutboxRelayOnceTests {
    private func published(_ f: SyncFixture) async throws -> [String] { try await f.publishedKeys() }

    @Test func rowsPublishedBeforeACrashAreNotPublishedAgain() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let conn = try f.db.connect()
        defer { conn.close() }
        let account = f.account.uuidString.lowercased()
        // A sync's single event, an order transaction's batch row of three, another single event.
        try conn.execute("INSERT INTO trade_event_outbox (account_id, event_key, payload) VALUES (\(f.account), 'trade:once:1', '{\"event\":\"trade.created\"}')")
        try conn.execute("""
            INSERT INTO trade_event_outbox (account_id, event_key, payload, messages)
            VALUES (NULL, 'order-events:1-3', \("[" + (2...4).map { "[\"order:once:\($0)\", {\"event\": \"order.state\", \"account_id\": \"\(account)\"}]" }.joined(separator: ",") + "]")::jsonb, 3)
            """)
        try conn.execute("INSERT INTO trade_event_outbox (account_id, event_key, payload) VALUES (\(f.account), 'trade:once:5', '{\"event\":\"trade.updated\"}')")
        // What the rows hold, to put them back as a crash before the delete would have left them.
        let rows = try conn.query("SELECT id, account_id::text AS account, event_key, payload::text AS payload, messages FROM trade_event_outbox ORDER BY id").rows
        let outbox = try f.consumer().outbox

        let first = await outbox.relay(logger: Logger(label: "test"))
        #expect(first.published == 5 && first.refusal == nil, "\(first)")
        let keys = ["trade:once:1", "order:once:2", "order:once:3", "order:once:4", "trade:once:5"]
        #expect(try await published(f) == keys)

        for row in rows {
            try conn.execute("""
                INSERT INTO trade_event_outbox (id, account_id, event_key, payload, messages) OVERRIDING SYSTEM VALUE
                VALUES (\(try row.decode("id", as: Int64.self)), \(try row.decode("account", as: String?.self))::uuid, \(try row.decode("event_key", as: String.self)),
                        \(try row.decode("payload", as: String.self))::jsonb, \(try row.decode("messages", as: Int32.self)))
                """)
        }
        let again = await outbox.relay(logger: Logger(label: "test"))
        #expect(again.published == 5 && again.refusal == nil, "the rows count as sent and go: \(again)")
        #expect(try await published(f) == keys, "each message is on trade-events once")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
    }
}

extension SyncFixture {
    /// The message keys on trade-events, in stream order.
    func publishedKeys() async throws -> [String] {
        let reply = try await redis.send("XRANGE", QueueKeys(queue: tradeEvents, shard: 0).stream, "-", "+")
        return (reply.array ?? []).map { entry in
            let flat = (entry.array ?? [])[1].array ?? []
            return stride(from: 0, to: flat.count - 1, by: 2).first { flat[$0].string == "key" }.flatMap { flat[$0 + 1].string } ?? ""
        }
    }
}
