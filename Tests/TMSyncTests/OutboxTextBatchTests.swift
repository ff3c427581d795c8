import Foundation
import Logging
import Testing
import TestSupport
import TMDatabase
import TMPostgres
import TMQueue
import TMRedis
@testable import TMSync

/// The outbox's text batch rows (migration 0035): the order path's messages of one transaction as
/// lines `<key>\t<payload>` in `batch`, sent as stored; rows of the older forms (a single event, a
/// jsonb batch) are relayed as before, in id order with the text rows.
@Suite(.serialized, .timeLimit(.minutes(2))) struct OutboxTextBatchTests {
    /// The payload of message `key` in a text batch: JSON naming the fixture's account.
    private static func payload(_ f: SyncFixture, _ key: String) -> String {
        #"{"event":"order.state","account_id":"\#(f.account.uuidString.lowercased())","n":"\#(key)","note":"a\ttab\nand a line"}"#
    }

    private func insertText(_ db: PostgresConnection, _ f: SyncFixture, _ keys: [String], age: String = "0 seconds") throws {
        let batch = keys.map { "\($0)\t\(Self.payload(f, $0))" }.joined(separator: "\n")
        try db.execute("""
            INSERT INTO trade_event_outbox (account_id, event_key, batch, messages, created_at)
            VALUES (NULL, \("order-events:" + keys.joined(separator: ",")), \(batch), \(Int32(keys.count)), now() - \(age)::interval)
            """)
    }

    private func insertJSONBatch(_ db: PostgresConnection, _ f: SyncFixture, _ keys: [String]) throws {
        let pairs = keys.map { "[\"\($0)\", {\"event\": \"order.state\", \"account_id\": \"\(f.account.uuidString.lowercased())\"}]" }
        try db.execute("""
            INSERT INTO trade_event_outbox (account_id, event_key, payload, messages)
            VALUES (NULL, \("batch:" + keys.joined(separator: ",")), \("[" + pairs.joined(separator: ",") + "]")::jsonb, \(Int32(keys.count)))
            """)
    }

    private func insertSingle(_ db: PostgresConnection, _ f: SyncFixture, _ key: String) throws {
        try db.execute("INSERT INTO trade_event_outbox (account_id, event_key, payload) VALUES (\(f.account), \(key), '{\"event\":\"trade.created\"}')")
    }

    @Test func textRowsGoOutAsStoredInOrderWithTheRowsAroundThem() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        try insertSingle(db, f, "trade:t:1")
        try insertJSONBatch(db, f, ["order:t:2", "order:t:3"])
        try insertText(db, f, ["order:t:4", "order:t:5", "order:t:6"])
        try insertText(db, f, ["order:t:7"])
        try insertSingle(db, f, "trade:t:8")
        let keys = ["trade:t:1", "order:t:2", "order:t:3", "order:t:4", "order:t:5", "order:t:6", "order:t:7", "trade:t:8"]
        let viewed: [String] = try db.query("SELECT event_key FROM trade_event_messages ORDER BY outbox_id, n").rows.map { try $0.decode("event_key") }
        #expect(viewed == keys)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_messages WHERE account_id = '\(f.account)'") == 8, "each message names its account")
        #expect(try TradeEventOutbox.status(db).waiting == 8)

        // Passes of 2: rows are read whole, so a text row goes out whole too.
        let report = await (try f.consumer().outbox).relay(limit: 2, logger: Logger(label: "test"))
        #expect(report.published == 8 && report.kept == 0 && report.refusal == nil, "\(report)")
        let published = try await f.publishedMessages()
        #expect(published.map(\.key) == keys)
        #expect(published.filter { $0.key.hasPrefix("order:t:") && $0.key >= "order:t:4" }.map(\.payload)
            == ["order:t:4", "order:t:5", "order:t:6", "order:t:7"].map { Self.payload(f, $0) }, "byte for byte as stored")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0, "what was sent is deleted")
    }

    /// A crash between the send and the delete leaves the text row: sent again, enqueued once.
    @Test func aTextRowSentAgainIsPublishedOnce() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        try insertText(db, f, ["order:o:1", "order:o:2"])
        let row = try db.query("SELECT id, event_key, batch FROM trade_event_outbox").rows[0]
        let outbox = try f.consumer().outbox
        #expect(await outbox.relay(logger: Logger(label: "test")).published == 2)
        try db.execute("""
            INSERT INTO trade_event_outbox (id, account_id, event_key, batch, messages) OVERRIDING SYSTEM VALUE
            VALUES (\(try row.decode("id", as: Int64.self)), NULL, \(try row.decode("event_key", as: String.self)), \(try row.decode("batch", as: String.self)), 2)
            """)
        let again = await outbox.relay(logger: Logger(label: "test"))
        #expect(again.published == 2 && again.refusal == nil, "\(again)")
        #expect(try await f.publishedMessages().map(\.key) == ["order:o:1", "order:o:2"], "each message is on trade-events once")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
    }

    /// Past the retention a text row is dropped, and counted per message and account.
    @Test func aTextRowDroppedAfterTheRetentionCountsEachMessage() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        try insertText(db, f, ["order:d:1", "order:d:2", "order:d:3"], age: "4 days")
        #expect(try await f.consumer().outbox.expire(logger: Logger(label: "test")) == 3)
        #expect(try f.count("SELECT coalesce(sum(dropped), 0)::int FROM trade_event_outbox_drops WHERE account_id = '\(f.account)'") == 3)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
    }

    /// A text row that is not in the form (a line without its key) is set aside whole (quarantined),
    /// not sent half-read.
    @Test func aMalformedTextRowIsKeptNotSent() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        let row: Int64 = try db.query("""
            INSERT INTO trade_event_outbox (account_id, event_key, batch, messages)
            VALUES (NULL, 'order-events:bad', \("order:b:1\t{}\n{\"no\":\"key\"}"), 2) RETURNING id
            """).rows[0].decode("id")
        let report = await (try f.consumer().outbox).relay(logger: Logger(label: "test"))
        #expect(report.published == 0 && report.refusal == nil && report.quarantined == 1 && report.setAside == 2, "\(report)")
        // The reason names the row and the line, for the operator who finds it in the quarantine.
        #expect(try TradeEventOutbox.quarantined(db).map(\.reason).first?.contains("trade_event_outbox row \(row): line 2") == true)
        #expect(try await f.publishedMessages().isEmpty)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox_quarantine WHERE id = \(row) AND messages = 2") == 1)
    }

    /// A row holds its messages in exactly one form, and a text batch names no single account.
    @Test func aRowHoldsOneForm() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        let refused: [PostgresQuery] = [
            "INSERT INTO trade_event_outbox (account_id, event_key, payload, batch) VALUES (NULL, 'both', '[]', \("k\t{}"))",
            "INSERT INTO trade_event_outbox (account_id, event_key) VALUES (\(f.account), 'neither')",
            "INSERT INTO trade_event_outbox (account_id, event_key, batch) VALUES (\(f.account), 'text-with-account', \("k\t{}"))",
        ]
        for statement in refused {
            #expect(throws: PostgresError.self, "\(statement.sql)") { try db.execute(statement) }
        }
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
    }

    /// A database migrated before 0035 with rows waiting in the older forms: after the upgrade they
    /// go out first, then the text rows written since, in order.
    @Test func rowsWaitingBeforeTheUpgradeArePublishedAfterIt() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let database = try TestDatabase(prefix: "tm_outbox_text")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let all = try MigrationCatalog.bundled()
        try Migrator(connection: db, migrations: all.filter { $0.version < 35 }).migrate()
        try db.execute("INSERT INTO users (id, email) VALUES (\(f.user), 'text-upgrade@example.com')")
        try db.execute("INSERT INTO broker_accounts (id, user_id, broker, label) VALUES (\(f.account), \(f.user), 'kite', 'upgrade')")
        try insertSingle(db, f, "trade:u:1")
        try insertJSONBatch(db, f, ["order:u:2", "order:u:3"])

        try Migrator(connection: db, migrations: all).migrate()
        try insertText(db, f, ["order:u:4", "order:u:5"])
        #expect(try TradeEventOutbox.status(db).waiting == 5)

        let pool = PostgresPool(configuration: database.configuration, size: 2)
        var outbox = TradeEventOutbox(pool: pool, producer: try f.producer)
        outbox.queue = f.tradeEvents
        let report = await outbox.relay(logger: Logger(label: "test"))
        await pool.shutdown()
        #expect(report.published == 5 && report.refusal == nil, "\(report)")
        #expect(try await f.publishedMessages().map(\.key) == ["trade:u:1", "order:u:2", "order:u:3", "order:u:4", "order:u:5"])
        #expect(try TradeEventOutbox.status(db).waiting == 0)
    }
}

extension SyncFixture {
    /// The messages on trade-events (key, payload), in stream order.
    func publishedMessages() async throws -> [(key: String, payload: String)] {
        let reply = try await redis.send("XRANGE", QueueKeys(queue: tradeEvents, shard: 0).stream, "-", "+")
        return (reply.array ?? []).map { entry in
            let flat = (entry.array ?? [])[1].array ?? []
            func field(_ name: String) -> String { stride(from: 0, to: flat.count - 1, by: 2).first { flat[$0].string == name }.flatMap { flat[$0 + 1].string } ?? "" }
            return (field("key"), field("payload"))
        }
    }
}
