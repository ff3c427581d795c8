import Foundation
import Testing
import TestSupport
import TMCore
import TMNotify
import TMPostgres

/// `NotificationOutbox.insertAll` (the price-alert evaluator's one statement per batch) writes what
/// `insert` writes, row for row, and keeps the dedup key's exactly-once: a key that exists, or comes
/// twice in one call, is inserted once and answered nil.
@Suite(.serialized) struct NotificationOutboxBatchTests {
    static let names = ["user_id", "kind", "title", "body", "priority", "severity", "payload", "action_url", "expires_at", "channels",
                        "recipient_role", "escalation_of", "escalation_step", "status"]
    /// Every column as text, so one comparison covers them all.
    static let columns = names.map { "\($0)::text AS \($0)" }.joined(separator: ", ")

    @Test func insertAllWritesWhatInsertWritesAndEachKeyOnce() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_outbox_batch")
        let db = try database.connect()
        defer { db.close() }
        let user: UUID = try db.query("INSERT INTO users (email) VALUES (\(TestServers.uniqueName("outbox") + "@example.com")) RETURNING id").rows[0].decode("id")
        // The notification an escalation step names must exist (a foreign key).
        let escalated = try #require(try NotificationOutbox.insert(db, NewNotification(userID: user, kind: "limit_breach", title: "t", body: "b", dedupKey: "batch:escalated")))
        func notification(_ key: String, _ n: Int) -> NewNotification {
            // Text that an array literal must escape: quotes, backslashes, commas, braces, NULL-like words.
            NewNotification(userID: user, kind: "price_alert", title: "S\(n) \"above\" {600}, NULL", body: "back\\slash, 'quote' \(n)",
                            priority: n % 2 == 0 ? .high : .urgent, severity: n == 1 ? .critical : nil,
                            payload: .object([("n", .number(String(n))), ("text", .string("a,b}"))]), dedupKey: key,
                            actionURL: n == 1 ? "https://tm.example/alerts?a=1,2" : nil, expiresAt: n == 1 ? Date(timeIntervalSince1970: 1_800_000_000) : nil,
                            channels: n == 1 ? [.inApp, .email] : nil, recipientRole: n == 1 ? "manager" : nil,
                            escalation: n == 1 ? (of: escalated, step: 2) : nil)
        }
        // Exists already: the batch must not insert it again.
        try #require(try NotificationOutbox.insert(db, notification("batch:taken", 9)) != nil)

        let batch = [notification("batch:0", 0), notification("batch:taken", 9), notification("batch:1", 1), notification("batch:0", 0)]
        let ids = try NotificationOutbox.insertAll(db, batch)
        #expect(ids.count == 4)
        #expect(ids[0] != nil && ids[2] != nil)
        #expect(ids[1] == nil, "a key that exists is not inserted again")
        #expect(ids[3] == nil, "a key repeated in one call is inserted once")
        let keys: [String] = try db.query("SELECT dedup_key FROM notifications WHERE dedup_key LIKE 'batch:%' ORDER BY dedup_key").rows.map { try $0.decode("dedup_key") }
        #expect(keys == ["batch:0", "batch:1", "batch:escalated", "batch:taken"])

        // Row for row what `insert` writes for the same notification.
        for (n, id) in [(0, ids[0]!), (1, ids[2]!)] {
            let single = try #require(try NotificationOutbox.insert(db, notification("single:\(n)", n)))
            let rows = try db.query("SELECT \(fragment: PostgresQuery(unsafeSQL: Self.columns)) FROM notifications WHERE id = ANY(\(PostgresArrayText.uuids([id, single]))::uuid[]) ORDER BY dedup_key LIKE 'single:%'").rows
            try #require(rows.count == 2)
            for column in Self.names {
                let batched: String? = try rows[0].decode(column, as: String?.self)
                let alone: String? = try rows[1].decode(column, as: String?.self)
                #expect(batched == alone, "\(column) of notification \(n)")
            }
        }
        #expect(try NotificationOutbox.insertAll(db, []) == [])
    }
}
