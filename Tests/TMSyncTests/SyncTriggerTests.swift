import Foundation
import Logging
import Testing
import TestSupport
import TMBrokers
import TMPostgres
import TMQueue
import TMSync

/// sync-trigger: due accounts get one keyed message each, once per slot, in one pipelined pass.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SyncTriggerTests {
    @Test func dueAccountsGetOneMessageEachOncePerSlotAndMoveOn() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let queue = TestServers.uniqueName("broker-sync").replacingOccurrences(of: "_", with: "-")
        let conn = try f.db.connect()
        defer { conn.close() }
        // 2,000 more accounts (due), one paused and one not yet due.
        try conn.execute("""
            INSERT INTO broker_accounts (user_id, broker, label, api_key_sealed, next_sync_at)
            SELECT \(f.user), 'kite', 'bulk-' || g, 'tmseal.v1.x.y', now() - interval '1 minute' FROM generate_series(1, 2000) g
            """)
        try conn.execute("INSERT INTO broker_accounts (user_id, broker, label, status) VALUES (\(f.user), 'alpaca', 'paused', 'paused')")
        try conn.execute("INSERT INTO broker_accounts (user_id, broker, label, next_sync_at) VALUES (\(f.user), 'alpaca', 'later', now() + interval '1 hour')")
        var trigger = SyncTrigger(pool: f.pool, producer: QueueProducer(redis: f.redis, catalog: try QueueCatalog([QueueManifest(name: queue)])))
        trigger.queue = queue
        let slot = Date()
        let started = ContinuousClock.now
        let first = try await trigger.run(slot: slot, logger: Logger(label: "test"))
        print("sync-trigger: \(first.due) due accounts enqueued in \(ContinuousClock.now - started)")
        #expect(first.due == 2001 && first.enqueued == 2001 && first.failed == 0)
        #expect(Int(try await f.redis.send("XLEN", QueueKeys(queue: queue, shard: 0).stream).int ?? 0) == 2001)
        #expect(try f.count("SELECT count(*)::int FROM broker_accounts WHERE next_sync_at > now()") == 2002, "due accounts moved on by their frequency")

        // The same slot again (a redelivered trigger): nothing due any more, nothing enqueued twice.
        try conn.execute("UPDATE broker_accounts SET next_sync_at = now() - interval '1 minute' WHERE label LIKE 'bulk-%'")
        let again = try await trigger.run(slot: slot, logger: Logger(label: "test"))
        #expect(again.enqueued == 0 && again.duplicates == 2000)
        #expect(Int(try await f.redis.send("XLEN", QueueKeys(queue: queue, shard: 0).stream).int ?? 0) == 2001)
        _ = try? await f.redis.send("DEL", QueueKeys(queue: queue, shard: 0).stream)
        if let keys = try? await f.redis.send("KEYS", QueueKeys(queue: queue, shard: 0).idempotency("*")).array, !keys.isEmpty {
            for key in keys.compactMap(\.string) { _ = try? await f.redis.send("DEL", key) }
        }
    }
}
