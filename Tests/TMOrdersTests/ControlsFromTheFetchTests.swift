import Foundation
import Testing
import TestSupport
import TMCore
import TMOrders
import TMQueue
import TMRedis
import TMRisk

/// A trading-state change is effective from the next message (`ResidentState`'s rule) when the
/// order-worker takes the announced version from its fetch: a message fetched after the command
/// returned is refused without a Redis read of its own; one that waited behind its account's
/// earlier message reads the announcement itself; a missing watched key falls back to the read.
/// The limits poll is off (an hour), so only the per-message check can apply a change here.
@Suite(.serialized) struct ControlsFromTheFetchTests {
    /// A worker over a scratch `orders`-shaped queue whose resident state counts its reads of the
    /// announcement (`GET tm:{trading-controls}:announced`).
    struct Worker {
        let manifest: QueueManifest
        let producer: QueueProducer
        let reads = Locked(0)
        let loaded = Locked<Set<Int>>([])
        let worker: OrderWorker
        let running: Task<Void, any Error>
        let redis: RedisClient

        init(_ h: PlacementHarness) async throws {
            let manifest = try ResidentWorkerTests.ordersManifest()
            var counted = h.redis.configuration
            let reads = self.reads
            counted.roundTripObserver = { commands in
                let gets = commands.filter { command in
                    let words = command.arguments.prefix(2).map { String(decoding: $0.bytes, as: UTF8.self) }
                    return words.count == 2 && words[0].uppercased() == "GET" && words[1] == TradingControls.announcementKey
                }.count
                if gets > 0 { reads.withLock { $0 += gets } }
            }
            redis = try await RedisClient(configuration: counted, name: "counted")
            let state = try ResidentState(pool: h.pool, redis: redis)
            var settings = OrderWorker.Settings()
            settings.refreshInterval = .seconds(3600)
            let loaded = self.loaded
            worker = OrderWorker(manifest: manifest, redis: try RedisConfiguration(url: try TestServers.redisURL),
                                 placer: h.placer(routes: state.routes, risk: state.risk), outbox: nil, settings: settings,
                                 prepare: { shards in
                                     try await state.load(shards: shards, of: manifest)
                                     loaded.withLock { $0.formUnion(shards) }
                                 }, refresh: { await state.refresh() }, beforeMessage: { await state.beforeMessage() })
            self.manifest = manifest
            producer = QueueProducer(redis: h.redis, catalog: try QueueCatalog([manifest]))
            let worker = self.worker
            running = Task { try await worker.run() }
        }

        func enqueue(_ payload: [UInt8], key: String) async throws {
            _ = try await producer.enqueue(manifest.name, OutgoingMessage(payload: payload, key: key))
        }

        /// `tm orders halt|reduce|resume` for this worker's queue: committed, then announced.
        func set(_ h: PlacementHarness, _ state: TradingState) async throws {
            _ = try TradingControls.set(h.db, scope: .global, state: state, reason: "test", by: "test")
            try await TradingControls.announce(h.redis, shards: manifest.shards, queue: manifest.name)
        }

        /// Entries still on the shards' streams (a settled message is deleted).
        func unsettled(_ h: PlacementHarness) async throws -> Int {
            var total = 0
            for shard in 0..<manifest.shards { total += Int(try await h.redis.send("XLEN", QueueKeys(queue: manifest.name, shard: shard).stream).int ?? 0) }
            return total
        }

        /// Entries fetched by the worker and not settled.
        func pending(_ h: PlacementHarness) async throws -> Int {
            var total = 0
            for shard in 0..<manifest.shards {
                let reply = try await h.redis.send("XPENDING", QueueKeys(queue: manifest.name, shard: shard).stream, QueueConsumer.group)
                total += Int(reply.array?.first?.int ?? 0)
            }
            return total
        }

        /// Every shard loaded and a first order placed and settled: nothing in flight, no lane busy.
        func warmUp(_ h: PlacementHarness) async throws {
            try await eventually("every shard loaded", within: .seconds(60)) { loaded.withLock { $0.count } == manifest.shards }
            try await enqueue(h.place(.kite, key: "warm-up", price: "1380"), key: "warm-up")
            try await eventually("the warm-up order accepted", within: .seconds(60)) { (try? h.state(key: "warm-up")) == "ACCEPTED" }
            try await eventually("the warm-up order settled", within: .seconds(30)) { (try? await unsettled(h)) == 0 }
        }

        func stop() {
            worker.stop()
            running.cancel()
        }
    }

    /// Runs `body` with a fresh harness and a worker whose warm-up order is settled.
    func withWarmWorker(_ body: (PlacementHarness, Worker) async throws -> Void) async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        let w = try await Worker(h)
        defer { w.stop() }
        try await w.warmUp(h)
        try await body(h, w)
    }

    func refused(_ h: PlacementHarness, key: String) async throws {
        try await eventually("\(key) to be refused", within: .seconds(60)) { (try? h.state(key: key)) == "RISK_REJECTED" }
        #expect(try h.row(key: key).decode("reject_code", as: String?.self) == "TRADING_HALTED")
    }

    func accepted(_ h: PlacementHarness, key: String) async throws {
        try await eventually("\(key) to be decided", within: .seconds(60)) { ((try? h.state(key: key)) ?? "SUBMITTING") != "SUBMITTING" }
        let code = try h.row(key: key).decode("reject_code", as: String?.self)
        #expect(try h.state(key: key) == "ACCEPTED", "\(code ?? "-")")
    }

    /// (a) A halt that returned before the message's fetch refuses it, the version taken from the
    /// fetch (no read of the announcement); (d) a resume is applied the same way. Before any
    /// announcement on this queue, the worker's own seeding of the watched keys spares the read too.
    @Test func aChangeReturnedBeforeTheFetchAppliesWithoutAReadOfItsOwn() async throws {
        try await withWarmWorker { h, w in
            w.reads.withLock { $0 = 0 }
            try await w.enqueue(h.place(.kite, key: "before-any-change", price: "1379"), key: "before-any-change")
            try await accepted(h, key: "before-any-change")
            try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }
            try await w.set(h, .halted)
            try await w.enqueue(h.place(.kite, key: "after-halt", price: "1381"), key: "after-halt")
            try await refused(h, key: "after-halt")
            try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }

            try await w.set(h, .active)
            try await w.enqueue(h.place(.kite, key: "after-resume", price: "1382"), key: "after-resume")
            try await accepted(h, key: "after-resume")
            #expect(w.reads.current == 0, "the fetch's watched value stood in for the announcement's read")
        }
    }

    /// (b) A message fetched before the halt returned, which then waited behind its account's
    /// earlier (slow) order, is refused: its fetch's value is stale, so it reads the announcement.
    @Test func aMessageThatWaitedBehindItsAccountAfterAHaltIsRefused() async throws {
        try await withWarmWorker { h, w in
            // (Within the placer's 2 s broker timeout: the first order is accepted, after 1.5 s.)
            try h.fault(#"{"broker":"kite","endpoint":"POST /orders/regular","latency_ms":1500,"count":1}"#)
            try await w.enqueue(h.place(.kite, key: "slow", price: "1383"), key: "slow")
            try await w.enqueue(h.place(.kite, key: "behind", price: "1384"), key: "behind")
            // Both fetched (pending for the worker) while the first one is at the broker.
            try await eventually("both fetched", within: .seconds(30)) { (try? await w.pending(h)) == 2 }
            try await w.set(h, .halted)
            try await refused(h, key: "behind")
            try await accepted(h, key: "slow")
            try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }
            #expect(w.reads.current > 0)
        }
    }

    /// (c) The watched keys gone (Redis restarted, never announced): the message reads the
    /// announcement itself and is refused all the same.
    @Test func aMissingWatchedKeyFallsBackToTheAnnouncementsRead() async throws {
        try await withWarmWorker { h, w in
            w.reads.withLock { $0 = 0 }
            try await w.set(h, .halted)
            for shard in 0..<w.manifest.shards { try await h.redis.send("DEL", QueueKeys(queue: w.manifest.name, shard: shard).watched) }
            try await w.enqueue(h.place(.kite, key: "no-watched-key", price: "1385"), key: "no-watched-key")
            try await refused(h, key: "no-watched-key")
            #expect(w.reads.current > 0)
        }
    }
}
