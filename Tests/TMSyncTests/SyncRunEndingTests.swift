import Foundation
import Logging
import Testing
import TestSupport
import TMBrokers
import TMLocks
import TMPostgres
import TMQueue
@testable import TMSync

/// How a sync run ends whatever happens to it: the account lock renewed while it runs and its loss
/// cancelling the run, rows of killed runs closed, and a full trade-events neither failing a sync
/// nor growing the outbox without bound.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SyncRunEndingTests {
    /// What a run SIGKILLed mid-way leaves: its row, open.
    func openRun(_ f: SyncFixture, startedAgo: String) throws {
        let conn = try f.db.connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO sync_logs (account_id, message_id, started_at) VALUES (\(f.account), 'killed', now() - \(startedAgo)::interval)
            """)
    }

    @Test func aRunKilledMidwayIsClosedAsAbandonedByTheAccountsNextSync() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        try openRun(f, startedAgo: "5 seconds")
        guard case .synced = try await f.sync() else { Issue.record("not synced"); return }
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome IS NULL") == 0, "a run left without an outcome")
        #expect(try f.count("""
            SELECT count(*)::int FROM sync_logs WHERE message_id = 'killed' AND outcome = 'abandoned' AND finished_at IS NOT NULL
              AND error LIKE 'abandoned: %next sync%'
            """) == 1)
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome = 'ok'") == 1)
    }

    @Test func syncTriggerClosesRunsOpenLongerThanAnyRunCanLast() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        try openRun(f, startedAgo: "1 hour")
        try openRun(f, startedAgo: "10 seconds")  // may still be running: left alone
        let report = try await housekeeping(f).run(logger: Logger(label: "test"))
        #expect(report.abandonedRuns == 1)
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome = 'abandoned' AND started_at < now() - interval '30 minutes'") == 1)
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome IS NULL") == 1)
    }

    func housekeeping(_ f: SyncFixture, consumer: SyncConsumer? = nil) throws -> SyncHousekeeping {
        SyncHousekeeping(pool: f.pool, outbox: try (consumer ?? f.consumer()).outbox)
    }

    /// The lease (3 s) is renewed while the broker takes 7 s. A contender keeps trying to take the
    /// lock and, if it ever gets it, writes under it (raises the fence) as a newer sync would: then
    /// the first sync's writes would be refused. With renewal, the first sync commits.
    @Test func theAccountLockIsRenewedWhileTheSyncRuns() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        var consumer = try f.consumer()
        consumer.lockTTL = .seconds(3)
        f.broker.delay(.seconds(7))
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 1, price: 1)])
        let resource = SyncConsumer.lockResource(f.account)
        let sync = Task { try await f.sync(consumer: consumer) }
        try await eventually("the sync to start") { try f.count("SELECT count(*)::int FROM sync_logs") == 1 }
        let contender = DistributedLock(redis: f.redis)
        while try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome IS NULL") == 1 {
            if let taken = try await contender.tryAcquire(resource, ttl: .seconds(30)) {
                try await f.pool.transaction(fencedBy: taken) { _ in }
                try await contender.release(taken)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard case .synced = try await sync.value else { Issue.record("not synced"); return }
        #expect(try f.count("SELECT count(*)::int FROM trades") == 1)
    }

    /// The lease is lost mid-sync (its key expired during a pause and another consumer took it):
    /// the sync is cancelled at once, writes nothing, and its row says why.
    @Test func aLostLeaseCancelsTheSyncWhichWritesNothing() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        var consumer = try f.consumer()
        consumer.lockTTL = .seconds(3)
        f.broker.delay(.seconds(20))
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 1, price: 1)])
        let sync = Task { try await f.sync(consumer: consumer) }
        let resource = SyncConsumer.lockResource(f.account)
        try await eventually("the sync to start") { try f.count("SELECT count(*)::int FROM sync_logs") == 1 }
        try await f.redis.send("DEL", DistributedLock.ownerKey(resource))
        let other = try #require(try await DistributedLock(redis: f.redis).tryAcquire(resource, ttl: .seconds(30)))

        await #expect(throws: LockError.leaseLost(resource: resource)) { try await sync.value }
        #expect(try f.count("SELECT count(*)::int FROM trades") == 0)
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome = 'error' AND error LIKE 'cancelled:%lease was lost%'") == 1)
        #expect(try f.count("SELECT count(*)::int FROM broker_accounts WHERE last_sync_at IS NULL") == 1)
        try await DistributedLock(redis: f.redis).release(other)
    }

    /// trade-events full (max_length 2): the sync commits all the same, the refused events wait in
    /// the outbox, and past the outbox's retention they are dropped and counted, never silently.
    @Test func aFullTradeEventsQueueNeitherFailsASyncNorGrowsTheOutboxForever() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        var small = QueueManifest(name: f.tradeEvents)
        small.maxLength = 2
        var consumer = SyncConsumer(pool: f.pool, redis: f.redis, producer: QueueProducer(redis: f.redis, catalog: try QueueCatalog([small])),
                                    keyring: f.keyring) { [broker = f.broker] _ in broker }
        consumer.tradeEventsQueue = f.tradeEvents
        f.broker.set(trades: (1...5).map { SyncFixture.trade("T\($0)", order: "O\($0)", quantity: 1, price: 1) })

        guard case .synced(let report) = try await f.sync(consumer: consumer) else { Issue.record("not synced"); return }
        #expect(report.created == 5)
        #expect(try f.count("SELECT count(*)::int FROM trades") == 5, "the sync committed")
        #expect(try await f.streamLength(f.tradeEvents) == 2)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 3, "the refused events wait")

        // Still full at the next pass: kept, not dropped (they are within the retention).
        let keeper = try housekeeping(f, consumer: consumer)
        #expect(try await keeper.run(logger: Logger(label: "test")).droppedEvents == 0)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 3)

        // Past the retention: dropped, and every drop counted.
        let conn = try f.db.connect()
        defer { conn.close() }
        try conn.execute("UPDATE trade_event_outbox SET created_at = now() - interval '4 days'")
        let done = try await keeper.run(logger: Logger(label: "test"))
        #expect(done.droppedEvents == 3)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0, "the outbox is bounded")
        #expect(try f.count("SELECT coalesce(sum(dropped), 0)::int FROM trade_event_outbox_drops WHERE account_id = '\(f.account)'") == 3)
        let status = try TradeEventOutbox.status(conn)
        #expect(status.droppedRecently == 3 && status.waiting == 0)
        #expect(status.problem(threshold: TradeEventOutbox.staleAfter)?.contains("3 trade event(s) dropped") == true)
    }

    /// Once trade-events takes events again, the drain publishes what waits, for any account.
    @Test func theOutboxDrainsOnceTheQueueAcceptsAgain() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let conn = try f.db.connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO trade_event_outbox (account_id, event_key, payload, created_at)
            SELECT \(f.account), 'trade:waiting:' || g, '{"event":"trade.created"}', now() - interval '1 hour' FROM generate_series(1, 3) g
            """)
        #expect(try TradeEventOutbox.status(conn).problem(threshold: TradeEventOutbox.staleAfter)?.contains("3 trade event(s) waiting") == true)
        let report = try await housekeeping(f).run(logger: Logger(label: "test"))
        #expect(report.published == 3 && report.droppedEvents == 0)
        #expect(try await f.streamLength(f.tradeEvents) == 3)
        #expect(try TradeEventOutbox.status(conn) == TradeEventOutbox.Status(waiting: 0, oldestAgeSeconds: nil, droppedRecently: 0))
    }
}
