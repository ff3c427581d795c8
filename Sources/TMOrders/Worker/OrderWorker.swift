import Foundation
import Logging
import TMCore
import TMLocks
import TMQueue
import TMRedis
import TMSync

/// The resident order-worker: leases shards of the `orders` queue (one owner per shard), keeps the
/// risk state of their accounts in memory, and places their orders through `OrderPlacer`.
///
/// Usually built from the environment with `OrderWorker.resident(services:queue:)`.
///
/// Guarantees:
/// - one owner per shard: a shard is consumed only under its lease (`DistributedLock`, renewed by
///   the one lease keeper `hold`); every write carries the lease's fencing token besides the
///   message's epoch, and every broker call first checks the lease, so a worker that lost a shard
///   stops before another takes it and cannot write after it did;
/// - per-account order: a shard's messages run one at a time per account, in stream order
///   (`orderingKey`), and a new owner first takes over every message the previous owner left
///   pending (`takeOverPending`) before it reads newer ones;
/// - fair shares: workers heartbeat in a registry and each holds about `shards / workers` shards,
///   taking free shards (a dead worker's, once its leases expire) and handing back extras;
/// - the placements of different accounts share their transactions (`GroupCommit`): the writes of
///   all the handlers that wait while one batch commits go in the next, merged into a few
///   statements; each message is still fenced by its own delivery and its shard's lease, and a
///   batch that fails falls back to one transaction per message; a write with none other in flight
///   (a lone order) runs at once from its handler's task (`OrderCommits`);
/// - UNKNOWN orders of owned shards are looked up with backoff (`sweepUnknown`), and the
///   `trade-events` outbox is relayed, while the worker runs.
public final class OrderWorker: Sendable {
    public struct Settings: Sendable {
        /// The shard lease; renewed every third of it. A dead worker's shards move after at most this.
        public var leaseTTL: Duration = .seconds(9)
        public var rebalanceInterval: Duration = .seconds(1)
        /// A worker silent this long is not counted in the fair share.
        public var workerTTL: Duration = .seconds(10)
        public var refreshInterval: Duration = .milliseconds(250)
        public var sweepInterval: Duration = .seconds(1)
        public var relayInterval: Duration = .milliseconds(200)
        /// Handlers running at once per shard (different accounts; one account is always serial).
        public var concurrencyPerShard = 16
        /// Group commit (`GroupCommit`): concurrent placements share their transactions.
        public var groupCommit = true
        /// A write with none other in flight runs at once from its handler's task (`OrderCommits`);
        /// false sends it through the group like the others (for the benchmark's A/B).
        public var loneWritesAtOnce = true
        /// How long a shard being handed back lets its in-flight orders finish.
        public var shutdownGrace: Duration = .seconds(2)
        /// Where the shards' tasks run between hops: `ResumingThreadExecutor` runs a handler on the
        /// Postgres, broker or Redis thread that just answered it (one wake-up per hop, not two);
        /// nil: Swift's global pool (for the benchmark's A/B).
        public var taskExecutor: (any TaskExecutor)? = ResumingThreadExecutor.shared
        /// The owned shards' consumers share one control connection and settler (`QueueSettler`):
        /// settles of different shards that meet go out in one round trip; false: a connection
        /// and settler per shard (for the benchmark's A/B).
        public var sharedSettler = true
        public init() {}
    }

    public let identity: String
    let manifest: QueueManifest
    let redisConfiguration: RedisConfiguration
    let placer: OrderPlacer
    let outbox: TradeEventOutbox?
    let settings: Settings
    /// Loads the resident state of the accounts in these shards (called when the set grows).
    let prepare: @Sendable (Set<Int>) async throws -> Void
    /// Keeps it current: limits, trading states (called every `refreshInterval`).
    let refresh: @Sendable () async -> Void
    /// Runs before each message (a trading-state change announced since applies to it).
    let beforeMessage: @Sendable () async throws -> Void
    let logger: Logger
    /// The writes of every owned shard's handlers merge here (`GroupCommit`): one transaction of a
    /// few statements for all the writers waiting while the previous one commits.
    private let commits: OrderCommits?
    private let owned = Locked<[Int: Owned]>([:])
    private let stopping = Locked(false)
    /// The settler `run()` shares among its shards' consumers (kept for `sharedSettleRoundTrips`).
    private let sharedSettler = Locked<QueueSettler?>(nil)

    private struct Owned: Sendable {
        let task: Task<Void, Never>
        let consumer: Locked<QueueConsumer?>
        let held: Locked<HeldLease?>
    }

    public init(manifest: QueueManifest, redis: RedisConfiguration, placer: OrderPlacer, outbox: TradeEventOutbox?, settings: Settings = Settings(),
                prepare: @escaping @Sendable (Set<Int>) async throws -> Void = { _ in }, refresh: @escaping @Sendable () async -> Void = {},
                beforeMessage: @escaping @Sendable () async throws -> Void = {}, logger: Logger = Logger(label: "tm.order-worker")) {
        self.beforeMessage = beforeMessage
        self.manifest = manifest
        self.redisConfiguration = redis
        self.placer = placer
        self.outbox = outbox
        self.settings = settings
        commits = settings.groupCommit ? OrderCommits(pool: placer.pool, maxBatch: manifest.shards * settings.concurrencyPerShard,
                                                                loneWritesAtOnce: settings.loneWritesAtOnce) : nil
        self.prepare = prepare
        self.refresh = refresh
        identity = "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        var logger = logger
        logger[metadataKey: "worker"] = .string(identity)
        self.logger = logger
    }

    /// How the group commit's batches went so far (nil: group commit off).
    public var commitCounts: GroupCommitCounts? { commits?.counts }
    /// Writes that ran at once, alone, outside the group's batches (nil: group commit off).
    public var writesAtOnce: Int? { commits?.writesAtOnce }
    /// Round trips the shards' shared settler has sent so far (nil: not running, or no shared settler).
    public var sharedSettleRoundTrips: Int? { sharedSettler.withLock { $0 }?.roundTrips.all }

    /// The shards this worker holds now.
    public var ownedShards: [Int] { owned.withLock { $0.keys.sorted() } }

    public func stop() { stopping.withLock { $0 = true } }
    private var isStopping: Bool { stopping.withLock { $0 } || Task.isCancelled }

    /// Runs until `stop()` or cancellation; hands every shard back on the way out.
    public func run() async throws {
        let redis = try await RedisClient(configuration: redisConfiguration, name: "order-worker")
        defer { redis.close() }
        let lock = DistributedLock(redis: redis)
        // Closed below, after every shard's consumer has stopped.
        let settler = settings.sharedSettler ? try await QueueSettler(redis: redisConfiguration) : nil
        sharedSettler.withLock { $0 = settler }
        defer { settler?.close() }
        logger.info("order-worker starting", metadata: ["queue": "\(manifest.name)", "shards": "\(manifest.shards)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.every(self.settings.refreshInterval) { await self.refresh() } }
            group.addTask { await self.every(self.settings.sweepInterval) { await self.sweep() } }
            if let outbox {
                group.addTask { await self.every(self.settings.relayInterval) { _ = await outbox.relay(limit: 1000, logger: self.logger) } }
            }
            while !isStopping {
                do {
                    try await rebalance(redis: redis, lock: lock, settler: settler)
                } catch {
                    logger.warning("rebalancing failed; retrying", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: settings.rebalanceInterval)
            }
            group.cancelAll()
        }
        for shard in ownedShards { await handBack(shard) }
        _ = try? await redis.send("ZREM", QueueKeys.shardWorkers(queue: manifest.name), identity)
        logger.info("order-worker stopped")
    }

    // MARK: Shares

    /// Heartbeats, then takes free shards up to the fair share or hands back extras.
    private func rebalance(redis: RedisClient, lock: DistributedLock, settler: QueueSettler?) async throws {
        let registry = QueueKeys.shardWorkers(queue: manifest.name)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try await redis.send("ZADD", registry, now, identity)
        _ = try await redis.send("ZREMRANGEBYSCORE", registry, "-inf", now - settings.workerTTL.milliseconds)
        let workers = max(1, Int(try await redis.send("ZCARD", registry).int ?? 1))
        let share = (manifest.shards + workers - 1) / workers
        let mine = ownedShards
        if mine.count > share {
            for shard in mine.suffix(mine.count - share) { await handBack(shard) }
            return
        }
        // Start from a different shard per worker, so two workers do not race for the same ones.
        let offset = Int(UInt(bitPattern: identity.hashValue) % UInt(manifest.shards))
        var taken = mine.count
        for step in 0..<manifest.shards where taken < share {
            let shard = (offset + step) % manifest.shards
            guard !mine.contains(shard) else { continue }
            let keys = QueueKeys(queue: manifest.name, shard: shard)
            guard let lease = try await lock.tryAcquire(keys.leaseResource, ttl: settings.leaseTTL) else { continue }
            taken += 1
            start(shard, lease: lease, lock: lock, settler: settler)
        }
    }

    private func start(_ shard: Int, lease: LockLease, lock: DistributedLock, settler: QueueSettler?) {
        let consumer = Locked<QueueConsumer?>(nil)
        let held = Locked<HeldLease?>(nil)
        let task = Task {
            let log = { () -> Logger in
                var log = self.logger
                log[metadataKey: "shard"] = .string("\(shard)")
                return log
            }()
            do {
                try await lock.hold(lease) { lease in
                    held.withLock { $0 = lease }
                    try await self.prepare(Set(self.ownedShards).union([shard]))
                    let running = self.consumer(shard, lease: lease, settler: settler)
                    consumer.withLock { $0 = running }
                    log.info("shard taken", metadata: ["fencing_token": "\(lease.lease.fencingToken)"])
                    try await withTaskCancellationHandler {
                        try await running.run()
                    } onCancel: {
                        running.stop()
                    }
                }
            } catch {
                log.warning("shard stopped", metadata: ["reason": "\(error)"])
            }
            _ = try? await lock.release(lease)
            self.owned.withLock { _ = $0.removeValue(forKey: shard) }
        }
        owned.withLock { $0[shard] = Owned(task: task, consumer: consumer, held: held) }
    }

    /// Stops a shard's consumer (in-flight orders get the grace period), then releases its lease.
    private func handBack(_ shard: Int) async {
        guard let entry = owned.withLock({ $0[shard] }) else { return }
        entry.consumer.withLock { $0 }?.stop()
        entry.task.cancel()
        await entry.task.value
        logger.info("shard handed back", metadata: ["shard": "\(shard)"])
    }

    private func consumer(_ shard: Int, lease held: HeldLease, settler: QueueSettler?) -> QueueConsumer {
        var options = QueueConsumer.Options()
        options.consumerName = "\(identity)-s\(shard)-\(held.lease.fencingToken)"
        options.shards = [shard]
        options.concurrency = settings.concurrencyPerShard
        options.shutdownGrace = settings.shutdownGrace
        options.takeOverPending = true
        options.taskExecutor = settings.taskExecutor
        options.settler = settler
        // The announced trading-state version comes with each fetch (`ResidentState.checkBeforeMessage`).
        options.readsWatchedKey = true
        let parsed = ParsedCommands()
        options.orderingKey = { delivery in parsed.key(of: delivery) }
        let (placer, beforeMessage, commits) = (self.placer, self.beforeMessage, self.commits)
        return QueueConsumer(manifest: manifest, redis: redisConfiguration, options: options) { delivery in
            try held.check()
            try await ResidentState.$handling.withValue(delivery) { try await beforeMessage() }
            let fences = PlacementFences(
                fences: [MessageFence(queue: delivery.queue, messageID: delivery.id, epoch: delivery.epoch), held.lease],
                shardToken: held.lease.fencingToken, ownership: { try held.check() }, commits: commits,
                firstDelivery: delivery.isFirstDelivery)
            return try await placer.handle(parsed.take(delivery), fences: fences).text
        }
    }

    /// The account a message is for (its ordering key); nil for a message too broken to say, which
    /// the placer dead-letters.
    static func account(of payload: [UInt8]) -> String? {
        (try? JSONValue.parse(payload))?["account_id"]?.stringValue?.lowercased()
    }

    // MARK: Background duties

    /// One sweep over the owned shards: each order is fenced by its shard's lease.
    private func sweep() async {
        let shards = manifest.shards
        var fences: [Int: PlacementFences] = [:]
        for (shard, entry) in owned.withLock({ $0 }) {
            guard let lease = entry.held.withLock({ $0 }), lease.isValid else { continue }
            fences[shard] = PlacementFences(fences: [lease.lease], shardToken: lease.lease.fencingToken, ownership: { try lease.check() })
        }
        guard !fences.isEmpty else { return }
        let owned = fences
        _ = await placer.sweepUnknown { owned[QueueKeys.shard(for: $0.uuidString.lowercased(), shards: shards)] }
    }

    private func every(_ interval: Duration, _ body: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            await body()
            try? await Task.sleep(for: interval)
        }
    }
}

extension OrderWorker {
    /// The worker as `tm order-worker` runs it: the services from the environment, the resident
    /// risk book and route source loaded for the owned shards and kept current, the outbox relayed.
    public static func resident(services: OrderServices, queue: String = "orders", settings: Settings = Settings(),
                                logger: Logger = Logger(label: "tm.order-worker")) throws -> OrderWorker {
        let manifest = try services.catalog.manifest(queue)
        let state = try ResidentState(pool: services.pool, redis: services.redis, environment: services.environment, logger: logger)
        return OrderWorker(manifest: manifest, redis: services.redisConfiguration, placer: services.placer(risk: state.risk, routes: state.routes, logger: logger),
                           outbox: services.outbox, settings: settings,
                           prepare: { shards in try await state.load(shards: shards, of: manifest) },
                           refresh: { await state.refresh() }, beforeMessage: { try await state.checkBeforeMessage() }, logger: logger)
    }
}
