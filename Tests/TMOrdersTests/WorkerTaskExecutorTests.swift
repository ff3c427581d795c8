import Foundation
import Testing
import TestSupport
import TMCore
import TMOrders
import TMQueue
import TMRedis

/// The order-worker's handlers prefer `OrderWorker.Settings.taskExecutor` (by default
/// `ResumingThreadExecutor`, so after a hop they run on the thread that answered it) and place the
/// order as before; with nil they run on Swift's pool.
@Suite(.serialized, .timeLimit(.minutes(3))) struct WorkerTaskExecutorTests {
    func placeOne(_ executor: (any TaskExecutor)?, key: String) async throws -> [Bool] {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        let manifest = try ResidentWorkerTests.ordersManifest()
        let state = try ResidentState(pool: h.pool, redis: h.redis)
        var settings = OrderWorker.Settings()
        settings.taskExecutor = executor
        let seen = Locked<[Bool]>([])
        let worker = OrderWorker(manifest: manifest, redis: try RedisConfiguration(url: try TestServers.redisURL),
                                 placer: h.placer(routes: state.routes, risk: state.risk), outbox: nil, settings: settings,
                                 prepare: { try await state.load(shards: $0, of: manifest) }, refresh: { await state.refresh() },
                                 beforeMessage: {
                                     try await state.checkBeforeMessage()
                                     seen.withLock { $0.append(ResumingThreadExecutor.isPreferredByCurrentTask) }
                                 })
        let running = Task { try await worker.run() }
        defer { worker.stop(); running.cancel() }
        let producer = QueueProducer(redis: h.redis, catalog: try QueueCatalog([manifest]))
        _ = try await producer.enqueue(manifest.name, OutgoingMessage(payload: h.place(.kite, key: key), key: key))
        try await eventually("the order to be accepted", within: .seconds(60)) { (try? h.state(key: key)) == "ACCEPTED" }
        #expect(try h.brokerOrders(.kite, clientOrderID: try h.row(key: key).decode("client_order_id")) == 1)
        return seen.current
    }

    @Test func theWorkersHandlersRunOnTheThreadsThatAnswerThemByDefault() async throws {
        #expect(OrderWorker.Settings().taskExecutor is ResumingThreadExecutor)
        let seen = try await placeOne(OrderWorker.Settings().taskExecutor, key: "resume-on-thread")
        #expect(!seen.isEmpty && seen.allSatisfy { $0 })
    }

    @Test func withoutAnExecutorTheHandlersRunOnThePool() async throws {
        let seen = try await placeOne(nil, key: "resume-on-pool")
        #expect(!seen.isEmpty && !seen.contains(true))
    }
}
