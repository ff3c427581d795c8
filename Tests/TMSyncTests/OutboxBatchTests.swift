import Foundation
import Logging
import Testing
import TestSupport
import TMDatabase
import TMPostgres
import TMQueue
@testable import TMSync

/// The outbox's batch rows (migration 0028): one row holds every `trade-events` message of one
/// order-path transaction, as [key, payload] pairs in commit order.
@Suite(.serialized, .timeLimit(.minutes(2))) struct OutboxBatchTests {
    /// A batch row of `keys`, each message naming the fixture's account.
    private func insertBatch(_ f: SyncFixture, _ keys: [String], age: String = "0 seconds") throws {
        let conn = try f.db.connect()
        defer { conn.close() }
        let pairs = keys.map { "[\"\($0)\", {\"event\": \"order.state\", \"account_id\": \"\(f.account.uuidString.lowercased())\", \"n\": \"\($0)\"}]" }
        try conn.execute("""
            INSERT INTO trade_event_outbox (account_id, event_key, payload, messages, created_at)
            VALUES (NULL, \("batch:" + keys.joined(separator: ",")), \("[" + pairs.joined(separator: ",") + "]")::jsonb, \(Int32(keys.count)),
                    now() - \(age)::interval)
            """)
    }

    private func insertSingle(_ f: SyncFixture, _ key: String) throws {
        let conn = try f.db.connect()
        defer { conn.close() }
        try conn.execute("INSERT INTO trade_event_outbox (account_id, event_key, payload) VALUES (\(f.account), \(key), '{\"event\":\"trade.created\"}')")
    }

    /// The keys on trade-events, in stream order.
    private func published(_ f: SyncFixture) async throws -> [String] { try await f.publishedKeys() }

    @Test func aBatchRowsMessagesGoOutInTheirOrderBetweenTheRowsAroundIt() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        try insertSingle(f, "trade:b:1")
        try insertBatch(f, ["order:b:2", "order:b:3", "order:b:4"])
        try insertSingle(f, "trade:b:5")
        let conn = try f.db.connect()
        defer { conn.close() }
        let messages: [String] = try conn.query("SELECT event_key FROM trade_event_messages ORDER BY outbox_id, n").rows.map { try $0.decode("event_key") }
        #expect(messages == ["trade:b:1", "order:b:2", "order:b:3", "order:b:4", "trade:b:5"])
        #expect(try f.count("SELECT count(*)::int FROM trade_event_messages WHERE account_id = '\(f.account)'") == 5, "each message names its account")

        // Passes of 2: a batch row is read whole (a pass may publish a row's worth more than asked).
        let outbox = try f.consumer().outbox
        let report = await outbox.relay(limit: 2, logger: Logger(label: "test"))
        #expect(report.published == 5 && report.kept == 0 && report.refusal == nil, "\(report)")
        #expect(try await published(f) == messages)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0, "what was sent is deleted")

        // An account's own pass (after its sync) takes the batch rows too: they may hold its events.
        try insertBatch(f, ["order:b:6", "order:b:7"])
        try insertSingle(f, "trade:b:8")
        let own = await outbox.publish(account: f.account, logger: Logger(label: "test"))
        #expect(own.published == 3 && own.kept == 0, "\(own)")
        #expect(try await published(f).suffix(3) == ["order:b:6", "order:b:7", "trade:b:8"])
    }

    /// trade-events full after two messages: the batch row of three stays whole (its taken messages
    /// are sent again later, the queue's key dedup drops them), counted as three waiting.
    @Test func aBatchRowPartlyRefusedStaysWholeAndGoesOutLater() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        var small = QueueManifest(name: f.tradeEvents)
        small.maxLength = 2
        var outbox = TradeEventOutbox(pool: f.pool, producer: QueueProducer(redis: f.redis, catalog: try QueueCatalog([small])))
        outbox.queue = f.tradeEvents
        try insertBatch(f, ["order:k:1", "order:k:2", "order:k:3"])

        let refused = await outbox.publish(account: nil, logger: Logger(label: "test"))
        #expect(refused.published == 0 && refused.kept == 3 && refused.refusal != nil, "\(refused)")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 1, "the row is kept until all its messages are taken")
        let conn = try f.db.connect()
        defer { conn.close() }
        #expect(try TradeEventOutbox.status(conn).waiting == 3)

        let open = try f.consumer().outbox
        let later = await open.relay(logger: Logger(label: "test"))
        #expect(later.published == 3 && later.refusal == nil, "\(later)")
        #expect(try await published(f) == ["order:k:1", "order:k:2", "order:k:3"], "at least once, enqueued once")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
    }

    /// Past the retention a batch row is dropped, and counted per message and account.
    @Test func aBatchRowDroppedAfterTheRetentionCountsEachMessage() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        try insertBatch(f, ["order:d:1", "order:d:2", "order:d:3"], age: "4 days")
        let dropped = try await f.consumer().outbox.expire(logger: Logger(label: "test"))
        #expect(dropped == 3)
        #expect(try f.count("SELECT coalesce(sum(dropped), 0)::int FROM trade_event_outbox_drops WHERE account_id = '\(f.account)'") == 3)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
    }

    /// A database migrated before 0028 with events not yet relayed (a row per event) and an order's
    /// events: the upgrade keeps them all, and the relay publishes the waiting ones in their order.
    @Test func eventsWaitingBeforeTheUpgradeArePublishedAfterIt() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let database = try TestDatabase(prefix: "tm_outbox_upgrade")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let all = try MigrationCatalog.bundled()
        try Migrator(connection: db, migrations: all.filter { $0.version < 28 }).migrate()
        let user = UUID(), account = UUID(), order = UUID()
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'upgrade@example.com')")
        try db.execute("INSERT INTO broker_accounts (id, user_id, broker, label) VALUES (\(account), \(user), 'kite', 'upgrade')")
        try db.execute("""
            INSERT INTO orders (id, user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, state)
            VALUES (\(order), \(user), \(account), 'upgrade-1', 'upgrade1', 'INFY', 'NSE', 'buy', 'market', 1, 'SUBMITTING')
            """)
        try db.execute("""
            INSERT INTO order_events (order_id, from_state, to_state) VALUES (\(order), NULL, 'RECEIVED'), (\(order), 'RECEIVED', 'ROUTED'),
                                                                            (\(order), 'ROUTED', 'SUBMITTING')
            """)
        try db.execute("""
            INSERT INTO trade_event_outbox (account_id, event_key, payload)
            SELECT \(account), 'order:upgrade:' || g, jsonb_build_object('event', 'order.state', 'n', g) FROM generate_series(1, 3) g
            """)

        try Migrator(connection: db, migrations: all).migrate()
        let steps: [String] = try db.query("SELECT to_state FROM order_event_details WHERE order_id = \(order) ORDER BY id").rows.map { try $0.decode("to_state") }
        #expect(steps == ["RECEIVED", "ROUTED", "SUBMITTING"])
        #expect(try TradeEventOutbox.status(db).waiting == 3)

        let pool = PostgresPool(configuration: database.configuration, size: 2)
        var outbox = TradeEventOutbox(pool: pool, producer: try f.producer)
        outbox.queue = f.tradeEvents
        let report = await outbox.relay(logger: Logger(label: "test"))
        await pool.shutdown()
        #expect(report.published == 3 && report.refusal == nil, "\(report)")
        #expect(try await published(f) == ["order:upgrade:1", "order:upgrade:2", "order:upgrade:3"])
    }
}
