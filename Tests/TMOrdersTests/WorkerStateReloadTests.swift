import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMQueue
import TMRedis
import TMRisk

/// The running order-worker keeps its accounts current from what sync wrote (the rows behind
/// `trade-events`: positions, funds, last sync), without a restart: an account whose positions
/// were too old is denied `POSITIONS_STALE`, and once a sync lands the worker's periodic reload
/// lets the next order through.
@Suite(.serialized) struct WorkerStateReloadTests {
    @Test func aSyncThatLandsWhileTheWorkerRunsIsSeenWithoutARestart() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        try h.db.execute("UPDATE broker_accounts SET last_sync_at = now() - interval '20 minutes'")
        let kite = try #require(h.accounts[.kite])
        let manifest = try ResidentWorkerTests.ordersManifest()
        let state = try ResidentState(pool: h.pool, redis: h.redis, reloadInterval: .milliseconds(200))
        let worker = OrderWorker(manifest: manifest, redis: try RedisConfiguration(url: try TestServers.redisURL),
                                 placer: h.placer(routes: state.routes, risk: state.risk), outbox: nil, settings: OrderWorker.Settings(),
                                 prepare: { try await state.load(shards: $0, of: manifest) }, refresh: { await state.refresh() },
                                 beforeMessage: { await state.beforeMessage() })
        let running = Task { try await worker.run() }
        defer { worker.stop(); running.cancel() }
        let producer = QueueProducer(redis: h.redis, catalog: try QueueCatalog([manifest]))

        _ = try await producer.enqueue(manifest.name, OutgoingMessage(payload: h.place(.kite, key: "stale"), key: "stale"))
        try await eventually("the order on stale positions to be refused", within: .seconds(60)) { (try? h.state(key: "stale")) == "RISK_REJECTED" }
        #expect(try h.row(key: "stale").decode("reject_code", as: String?.self) == "POSITIONS_STALE")

        // A sync lands: the account's positions are as of now.
        let synced = Date()
        try h.db.execute("UPDATE broker_accounts SET last_sync_at = \(synced)")
        try await eventually("the running worker to reload the synced account", within: .seconds(60)) {
            (state.risk.accountRisk(kite)?.positionsAsOf).map { $0 >= synced.addingTimeInterval(-1) } ?? false
        }
        _ = try await producer.enqueue(manifest.name, OutgoingMessage(payload: h.place(.kite, key: "fresh", price: "1399"), key: "fresh"))
        try await eventually("the order after the sync to be accepted", within: .seconds(60)) { (try? h.state(key: "fresh")) == "ACCEPTED" }
    }
}
