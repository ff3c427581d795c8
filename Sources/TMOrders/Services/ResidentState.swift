import Foundation
import Logging
import TMBrokers
import TMCore
import TMPostgres
import TMQueue
import TMRedis
import TMRouting

/// The order path's state in memory — the risk book and the route source — for the accounts a
/// process serves: the order-worker's owned shards (kept for the process's life), or one cold
/// invocation's accounts.
///
/// Guarantees:
/// - `load` reads every account it serves from rows (positions, funds, open orders, today's fills,
///   limits, routes), so a restarted or new owner starts from the truth;
/// - `checkBeforeMessage` applies a trading-state change (`tm orders halt|reduce|resume`, a limit
///   alert's REDUCING) from the next message: see "Effective from the next message" below;
/// - `refresh` (every 250 ms in the worker) re-reads limits whose version moved — a changed limit
///   applies within a second — and every `reloadInterval` rebuilds the accounts from rows, so the
///   fills and positions sync brought (the `trade-events`) and the funds are current, without
///   forgetting orders in flight or the throttle (`AccountRisk.carryOver`);
/// - circuits are re-read every `refresh`, so a broker whose circuit opened is left out of routes.
///
/// Effective from the next message. A change's command commits, then announces it
/// (`TradingControls.announce`): bumps `TradingControls.announcementKey` and raises the watched
/// key of every `orders` shard to the new value, before it returns. The rule: a message is
/// checked against every change whose command returned before the worker fetched it, and — when
/// the message then waited behind another — before its handler started. (A command returning
/// between a fetch and the handler that starts at once raced that message, exactly as one
/// returning while the handler runs.) `checkBeforeMessage` takes an announced version read at that
/// point and re-reads the limits from Postgres when it differs from the one they were read at:
/// - the message's fetch read its shard's watched key atomically with the message (`Delivery.watched`);
///   when the message went from that fetch straight to its handler (`WatchedRead.standsInForAReadNow`:
///   the read's first entry, no earlier message of its account in flight), that value is used and
///   no Redis read is made — only for the queue announcers raise (`announcedQueue`), whose workers
///   record their shard count (`TradingControls.recordShards`) as they load, so an announcer
///   raises every shard they consume whatever its own manifest says;
/// - a message that waited (a read's later entries, a message held behind another of its account,
///   a reclaimed message), or whose fetch found no watched key (never announced, Redis lost its
///   data), reads `announcementKey` at its start (one GET shared by the messages asking at the
///   same time, each answered by a read that began after it asked); a missing key is then seeded
///   with the value just read (`TradingControls.seedWatched`; none when the read found none), so
///   the shard's next fetches bring one; a failed read fails the message (retried, nothing sent);
/// - every announced value is unique ("<n>:<nonce>") and compared whole, so a value announced
///   after Redis lost the counter (or everything) never equals one a worker saw before; a watched
///   key is only raised (by n), so two announcements racing leave the later value; a value that
///   differs from the one seen (also a lower one) only costs a re-read.
public final class ResidentState: Sendable {
    public let risk: RiskBook
    public let routes: LiveRouteSource
    let circuits: CircuitWatch
    let pool: PostgresPool
    let redis: RedisClient
    let logger: Logger
    let reloadInterval: Duration
    private let served = Locked<[UUID]>([])
    private let shards = Locked<Set<Int>>([])
    /// Loads run one at a time: a later load always covers every shard added before it.
    private let loads = SerialLanes()
    private let lastReload = Locked(ContinuousClock.now)
    private let controlsSeen = Locked<String?>(nil)
    /// The announced trading-state version, one Redis read for all the messages that ask meanwhile
    /// (each still answered by a read that began after it asked).
    private let announcements: CoalescedReads<String, String>
    /// The queue whose watched keys announcers raise (`TradingControls.announce`'s queue): only
    /// its messages' fetched values are trusted; any other queue's are never raised, so they
    /// always read the announcement.
    let announcedQueue: String

    public init(pool: PostgresPool, redis: RedisClient, environment: TMEnvironment = .current(), reloadInterval: Duration = .seconds(10),
                announcedQueue: String = TradingControls.ordersQueue, logger: Logger = Logger(label: "tm.orders.state")) throws {
        self.pool = pool
        self.announcedQueue = announcedQueue
        self.redis = redis
        self.logger = logger
        self.reloadInterval = reloadInterval
        circuits = CircuitWatch(redis: redis)
        routes = LiveRouteSource(inputs: RouteInputs(config: try RoutingConfig.standard(environment: environment), circuits: circuits))
        risk = RiskBook(logger: logger)
        announcements = CoalescedReads { [redis] keys in
            guard let version = try await TradingControls.announcedVersion(redis) else { return [:] }
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, version) })
        }
    }

    /// Also serves the accounts whose `orders` messages travel `shards` (shards the worker took;
    /// those it held already stay served).
    public func load(shards added: Set<Int>, of manifest: QueueManifest) async throws {
        shards.withLock { $0.formUnion(added) }
        // Before any message of these shards: announcers raise every shard this worker consumes.
        if manifest.name == announcedQueue { try await TradingControls.recordShards(redis, queue: manifest.name, shards: manifest.shards) }
        try await loads.run(loads.admit("load")) {
            let wanted = shards.withLock { $0 }
            let all = try await pool.withConnection { db in try db.query("SELECT id FROM broker_accounts").rows.map { try $0.decode("id", as: UUID.self) } }
            try await load(accounts: all.filter { wanted.contains(QueueKeys.shard(for: $0.uuidString.lowercased(), shards: manifest.shards)) })
        }
    }

    /// Serves exactly `accounts`, read from rows now (others are forgotten).
    public func load(accounts: [UUID]) async throws {
        let dropped = Set(served.withLock { $0 }).subtracting(accounts)
        let (risk, routes) = (self.risk, self.routes)
        controlsSeen.withLock { $0 = nil }
        let seen = try? await TradingControls.announcedVersion(redis)
        try await pool.withConnection { db in
            try risk.load(db, accounts: accounts, now: Date())
            try routes.load(db, accounts: accounts)
        }
        controlsSeen.withLock { $0 = seen ?? nil }
        risk.unload(accounts: Array(dropped))
        served.withLock { $0 = accounts }
        lastReload.withLock { $0 = .now }
        try? await circuits.refresh()
        logger.info("resident state loaded", metadata: ["accounts": "\(accounts.count)"])
    }

    /// The message being handled, with what its fetch read of the shard's watched key
    /// (`Delivery.watched`): the order-worker's handler sets it around `checkBeforeMessage`, whose
    /// signature the callers share.
    @TaskLocal public static var handling: Delivery?

    /// Before each message: re-reads the limits when a trading-state change was announced since
    /// the last look (the rule is in the type's doc): with the fetch's watched value when it stands
    /// in for a read now (`fetched`), else one Redis read shared by the messages asking meanwhile.
    /// Throws (a retryable failure: the message is redelivered, nothing was sent) when the
    /// announcement could not be read or the limits re-read: going ahead could miss a halt.
    public func checkBeforeMessage() async throws {
        let announced: String
        // A fetched value only from a queue announcers raise (any other's is never raised).
        let delivery = Self.handling.map { $0.queue == announcedQueue ? $0 : $0.with(watched: nil) }
        if let fetched = delivery?.watched, fetched.standsInForAReadNow, let value = fetched.value {
            announced = value
        } else {
            let read = try await announcements.read("trading-controls")
            if let delivery, let fetched = delivery.watched, fetched.standsInForAReadNow, fetched.value == nil {
                await seedWatched(of: delivery, version: read)
            }
            guard let read else { return }
            announced = read
        }
        guard controlsSeen.withLock({ $0 }) != announced else { return }
        let risk = self.risk
        try await pool.withConnection { db in try risk.refreshLimits(db, now: Date()) }
        controlsSeen.withLock { $0 = announced }
    }

    /// `checkBeforeMessage` for a caller that cannot fail a message (the order bench's worker): a
    /// failure is logged and the message goes ahead with the limits already loaded.
    @available(*, deprecated, message: "use checkBeforeMessage: a failed read must fail the message")
    public func beforeMessage() async {
        do { try await checkBeforeMessage() } catch {
            logger.warning("could not check for trading-state changes; the message goes ahead", metadata: ["error": "\(error)"])
        }
    }

    /// The message's fetch found no watched key: gives it the value just read (never one seen
    /// earlier, which an announcement after a data loss could no longer raise past; nothing when
    /// the read found none), so the shard's next fetches bring one and its messages skip the read.
    private func seedWatched(of delivery: Delivery, version: String?) async {
        do {
            try await TradingControls.seedWatched(redis, version: version, shards: [delivery.shard], queue: delivery.queue)
        } catch {
            logger.warning("could not seed the shard's watched key; its messages read the announcement meanwhile", metadata: ["error": "\(error)"])
        }
    }

    /// Limits (when their version moved), circuits, and every `reloadInterval` the accounts from rows.
    public func refresh() async {
        let risk = self.risk
        _ = try? await pool.withConnection { db in try risk.refreshLimits(db, now: Date()) }
        try? await circuits.refresh()
        guard lastReload.withLock({ ContinuousClock.now - $0 >= reloadInterval }) else { return }
        lastReload.withLock { $0 = .now }
        let accounts = served.withLock { $0 }
        guard !accounts.isEmpty else { return }
        let routes = self.routes
        do {
            try await pool.withConnection { db in
                try risk.load(db, accounts: accounts, now: Date())
                try routes.reload(db)
            }
        } catch {
            logger.warning("reloading the accounts' risk state failed; the next refresh tries again", metadata: ["error": "\(error)"])
        }
    }
}
