import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// Writes fenced by a message's delivery epoch (what a function does with `record.fence`), and the
/// retention of message fences.
@Suite struct MessageFenceTests {
    @Test func aWriteFencedByAnOlderEpochIsRefusedAndRollsBack() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_msgfence")
        let pool = PostgresPool(configuration: database.configuration, size: 2)
        try await pool.execute("CREATE TABLE effects (message text PRIMARY KEY, epoch bigint NOT NULL)")
        let message = TestServers.uniqueName("m")
        let paused = MessageFence(queue: "orders", messageID: message, epoch: 1)
        let redelivered = MessageFence(queue: "orders", messageID: message, epoch: 2)
        #expect(paused.resource == "message:orders/\(message)")
        @Sendable func upsert(_ fence: MessageFence) async throws {
            try await pool.transaction(fencedBy: fence) { db in
                // An upsert, not first-writer-wins: without the fence the older delivery would win last.
                try db.execute("""
                    INSERT INTO effects (message, epoch) VALUES (\(fence.messageID), \(fence.epoch))
                    ON CONFLICT (message) DO UPDATE SET epoch = EXCLUDED.epoch
                    """)
            }
        }
        // The redelivery (epoch 2) writes; then the paused first delivery (epoch 1) wakes up and tries.
        try await upsert(redelivered)
        await #expect(throws: LockError.staleFencingToken(resource: paused.resource, token: 1)) { try await upsert(paused) }
        #expect(try await pool.query("SELECT epoch FROM effects WHERE message = \(message)").scalar(as: Int64.self) == 2,
                "the newer delivery's effect stands")
        // Written first and checked after, in one transaction: the write rolls back with it.
        await #expect(throws: LockError.self) {
            try await pool.transaction { db in
                try db.execute("UPDATE effects SET epoch = 1 WHERE message = \(message)")
                try FencingGuard.advance(db, fence: paused)
            }
        }
        #expect(try await pool.query("SELECT epoch FROM effects WHERE message = \(message)").scalar(as: Int64.self) == 2)
        // The same delivery may write again (a retried transaction), and a later one after it.
        try await upsert(redelivered)
        try await upsert(MessageFence(queue: "orders", messageID: message, epoch: 3))
        #expect(try await pool.query("SELECT token FROM lock_fences WHERE resource = \(paused.resource)").scalar(as: Int64.self) == 3)
        await pool.shutdown()
        database.drop()
    }

    @Test func oldMessageFencesArePurgedAndLockFencesKept() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_msgfence")
        let conn = try database.connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO lock_fences (resource, token, updated_at) VALUES
              ('message:orders/old', 4, now() - interval '8 days'),
              ('message:orders/recent', 2, now() - interval '1 day'),
              ('sync:account:old', 9, now() - interval '30 days')
            """)
        #expect(try FencingGuard.purgeMessageFences(conn, olderThan: .seconds(7 * 86_400)) == 1)
        let left = try conn.query("SELECT resource FROM lock_fences ORDER BY resource").rows.map { try $0.decode("resource", as: String.self) }
        #expect(left == ["message:orders/recent", "sync:account:old"])
        database.drop()
    }
}
