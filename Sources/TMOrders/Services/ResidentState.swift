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
/// - `beforeMessage` applies a trading-state change (`tm orders halt|reduce|resume`) to the very
///   next message after the command returned: the command bumps a Redis counter after its commit,
///   and a message whose check sees a new value re-reads the limits first;
/// - `refresh` (every 250 ms in the worker) re-reads limits whose version moved — a changed limit
///   applies within a second — and every `reloadInterval` rebuilds the accounts from rows, so the
///   fills and positions sync brought (the `trade-events`) and the funds are current, without
///   forgetting orders in flight or the throttle (`AccountRisk.carryOver`);
/// - circuits are re-read every `refresh`, so a broker whose circuit opened is left out of routes.
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

    public init(pool: PostgresPool, redis: RedisClient, environment: TMEnvironment = .current(), reloadInterval: Duration = .seconds(10),
                logger: Logger = Logger(label: "tm.orders.state")) throws {
        self.pool = pool
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

    /// Before each message: re-reads the limits when a trading-state change was announced since
    /// the last look (one Redis read, shared by the messages that ask at the same time).
    public func beforeMessage() async {
        guard let announced = try? await announcements.read("trading-controls") else { return }
        guard controlsSeen.withLock({ $0 }) != announced else { return }
        let risk = self.risk
        if (try? await pool.withConnection({ db in try risk.refreshLimits(db, now: Date()) })) != nil {
            controlsSeen.withLock { $0 = announced }
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
