import Foundation
import TestSupport
import TMCore
import TMOrders
import TMQueue
import TMRedis

/// An order-worker running in this process over a scratch queue shaped like `orders`, with the real
/// resident state (risk book, live routes) over the harness's broker-sim: what `tm order-worker`
/// runs, for tests that watch it work. `stop()` ends it.
struct RunningWorker {
    let manifest: QueueManifest
    let state: ResidentState
    let producer: QueueProducer
    /// Shards whose accounts the worker has loaded (taking a shard loads every served account
    /// again, so a test that needs a change seen *only* by the running state waits for all of them).
    let loadedShards = Locked<Set<Int>>([])
    private let worker: OrderWorker
    private let running: Task<Void, any Error>

    init(_ h: PlacementHarness, reloadInterval: Duration = .seconds(10)) async throws {
        let manifest = try ResidentWorkerTests.ordersManifest()
        let state = try ResidentState(pool: h.pool, redis: h.redis, reloadInterval: reloadInterval)
        let loaded = loadedShards
        let worker = OrderWorker(manifest: manifest, redis: try RedisConfiguration(url: try TestServers.redisURL),
                                 placer: h.placer(routes: state.routes, risk: state.risk), outbox: nil, settings: OrderWorker.Settings(),
                                 prepare: { shards in
                                     try await state.load(shards: shards, of: manifest)
                                     loaded.withLock { $0.formUnion(shards) }
                                 }, refresh: { await state.refresh() },
                                 beforeMessage: { try await state.checkBeforeMessage() })
        self.manifest = manifest
        self.state = state
        self.worker = worker
        producer = QueueProducer(redis: h.redis, catalog: try QueueCatalog([manifest]))
        running = Task { try await worker.run() }
    }

    /// Waits until the worker holds and has loaded every shard (no later load will re-read the rows).
    func waitForEveryShard() async throws {
        try await eventually("the worker to load every shard", within: .seconds(60)) { loadedShards.withLock { $0.count } == manifest.shards }
    }

    /// Enqueues `payload` under `key` (on the shard of `shardKey` when given, else as the manifest shards it).
    func enqueue(_ payload: [UInt8], key: String, shardKey: String? = nil) async throws {
        _ = try await producer.enqueue(manifest.name, OutgoingMessage(payload: payload, key: key, shardKey: shardKey))
    }

    func stop() {
        worker.stop()
        running.cancel()
    }
}
