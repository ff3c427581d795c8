import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMSync

/// sync-consumer's writes are fenced by the message's delivery epoch as well as the account lock:
/// an invocation paused while its message was redelivered cannot commit over the newer sync.
@Suite struct SyncFencingTests {
    @Test func aSyncOfAnOlderDeliveryOfTheMessageIsRefusedAndWritesNothing() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let message = UUID().uuidString
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 10, price: 1500)])
        let newer = MessageFence(queue: "broker-sync", messageID: message, epoch: 2)
        guard case .synced = try await f.sync(slot: "2026-11-22T10:00:00Z", delivery: newer) else { Issue.record("not synced"); return }

        // The paused first delivery of the same message resumes with what it fetched.
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 10, price: 1400), SyncFixture.trade("T2", order: "O2", quantity: 5, price: 10)])
        let stale = MessageFence(queue: "broker-sync", messageID: message, epoch: 1)
        await #expect(throws: LockError.staleFencingToken(resource: stale.resource, token: 1)) {
            // A later slot, so that only the fence (not "already synced") can stop it.
            _ = try await f.sync(slot: ISO8601DateFormatter().string(from: Date().addingTimeInterval(60)), delivery: stale)
        }
        #expect(try f.count("SELECT count(*)::int FROM trades") == 1, "the stale sync's new trade rolled back")
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE price = 1500") == 1, "the newer sync's trade stands")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox WHERE event_key LIKE '%T2%'") == 0)
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome = 'ok'") == 1)
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome = 'error' AND error LIKE '%is stale%'") == 1, "the stale run is logged")
        #expect(try f.count("SELECT count(*)::int FROM broker_accounts WHERE last_sync_outcome = 'ok' AND consecutive_failures = 0") == 1,
                "the account keeps the newer sync's outcome")
    }
}
