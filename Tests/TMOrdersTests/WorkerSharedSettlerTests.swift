import Foundation
import Testing
import TestSupport
import TMCore
import TMOrders
import TMQueue
import TMRedis

/// The order-worker's shards settle through its one shared settler (`QueueSettler`), and that
/// settler outlives them: it is closed only after every shard has been handed back, so an order
/// still in flight when the worker stops is settled, not left pending for another worker's reclaim.
@Suite(.serialized, .timeLimit(.minutes(3))) struct WorkerSharedSettlerTests {
    @Test func anOrderInFlightWhenTheWorkerStopsIsSettledThroughTheSharedSettler() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        let manifest = try ResidentWorkerTests.ordersManifest()
        let state = try ResidentState(pool: h.pool, redis: h.redis)
        var settings = OrderWorker.Settings()
        settings.shutdownGrace = .seconds(60)
        #expect(settings.sharedSettler)
        let loaded = Locked<Set<Int>>([])
        // The worker's refresh loop is cancelled when its run loop ends, right before the hand-back:
        // the gated order goes on only then, so it is still in flight while the shards are handed back.
        let runLoopEnded = Locked(false)
        let entered = Locked(0)
        let worker = OrderWorker(manifest: manifest, redis: try RedisConfiguration(url: try TestServers.redisURL),
                                 placer: h.placer(routes: state.routes, risk: state.risk), outbox: nil, settings: settings,
                                 prepare: { shards in
                                     try await state.load(shards: shards, of: manifest)
                                     loaded.withLock { $0.formUnion(shards) }
                                 },
                                 refresh: {
                                     try? await Task.sleep(for: .seconds(3600))
                                     runLoopEnded.withLock { $0 = true }
                                 },
                                 beforeMessage: {
                                     try await state.checkBeforeMessage()
                                     entered.withLock { $0 += 1 }
                                     while !runLoopEnded.current { try await Task.sleep(for: .milliseconds(5)) }
                                 })
        let running = Task { try await worker.run() }
        defer { worker.stop(); running.cancel() }
        try await eventually("the worker to load every shard", within: .seconds(60)) { loaded.current.count == manifest.shards }

        let producer = QueueProducer(redis: h.redis, catalog: try QueueCatalog([manifest]))
        let key = "settled-at-stop-\(UUID().uuidString)"
        _ = try await producer.enqueue(manifest.name, OutgoingMessage(payload: h.place(.kite, key: key), key: key))
        try await eventually("the order to reach its handler", within: .seconds(60)) { entered.current == 1 }
        worker.stop()
        try await running.value

        #expect(try h.state(key: key) == "ACCEPTED")
        #expect(try h.brokerOrders(.kite, clientOrderID: try h.row(key: key).decode("client_order_id")) == 1)
        var pending = 0
        for shard in 0..<manifest.shards {
            let reply = try await h.redis.send("XPENDING", QueueKeys(queue: manifest.name, shard: shard).stream, QueueConsumer.group)
            pending += Int(reply.array?.first?.int ?? 0)
        }
        #expect(pending == 0, "the order's message was settled before the worker's settler closed")
        #expect((worker.sharedSettleRoundTrips ?? 0) >= 1, "the shard's consumer settled through the worker's shared settler")
    }
}
