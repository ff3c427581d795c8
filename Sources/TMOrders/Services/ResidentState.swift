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
/// - `watchControls` applies a trading-state change (`tm orders halt|reduce|resume`) to every
///   message enqueued after the command returned, with no Redis read per message: the command
///   announces the change after its commit and returns once every live watch confirmed it re-read
///   the limits (`TradingControlsWatch`);
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

    public init(pool: PostgresPool, redis: RedisClient, environment: TMEnvironment = .current(), reloadInterval: Duration = .seconds(10),
                logger: Logger = Logger(label: "tm.orders.state")) throws {
        self.pool = pool
        self.redis = redis
        self.logger = logger
        self.reloadInterval = reloadInterval
        circuits = CircuitWatch(redis: redis)
        routes = LiveRouteSource(inputs: RouteInputs(config: try RoutingConfig.standard(environment: environment), circuits: circuits))
        risk = RiskBook(logger: logger)
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
        // The rows as they are now, trading state included (a watch's re-read and a load are serial:
        // `RiskBook` reads one at a time, and the later one reads the version again).
        try await pool.withConnection { db in
            try risk.load(db, accounts: accounts, now: Date())
            try routes.load(db, accounts: accounts)
        }
        risk.unload(accounts: Array(dropped))
        served.withLock { $0 = accounts }
        lastReload.withLock { $0 = .now }
        try? await circuits.refresh()
        logger.info("resident state loaded", metadata: ["accounts": "\(accounts.count)"])
    }

    /// Runs until cancelled (the resident worker's life): blocks on the trading-state announcements,
    /// re-reads the limits when one comes and confirms the version as `watcher` (every `block`
    /// also when nothing comes: the heartbeat that makes the command wait for this watch).
    /// A version is confirmed only once the limits were read (not under the emergency limits).
    /// `ready` is called once the watch is registered (as having applied nothing yet): the worker
    /// loads no shard before, so a command that does not wait for this watch committed before the
    /// worker read any row.
    public func watchControls(as watcher: String, block: Duration = .seconds(1), ready: @Sendable () -> Void = {}) async {
        // Its own connection (blocked between announcements), for the confirmations too.
        var reader = try? await redis.makeBlockingClient(name: "tm-controls-watch")
        do {
            try await TradingControlsWatch.confirm(reader ?? redis, watcher: watcher, applied: 0)
        } catch {
            logger.warning("registering the trading-state watch failed", metadata: ["error": "\(error)"])
        }
        ready()
        var after = "0-0"  // first the announcements retained: a change made before this watch began
        var (announced, applied): (Int64, Int64) = (0, 0)
        let risk = self.risk
        while !Task.isCancelled {
            do {
                if reader == nil { reader = try await redis.makeBlockingClient(name: "tm-controls-watch") }
                let client = reader!
                if let (id, version) = try await TradingControlsWatch.next(client, after: after, block: block) {
                    after = id
                    announced = max(announced, version)
                }
                if announced > applied {
                    let read = (try? await pool.withConnection { db in try risk.refreshLimits(db, now: Date()) }) != nil
                    // Not read: tried again after the next announcement or `block`.
                    if read, !risk.underEmergencyLimits { applied = announced }
                }
                try await TradingControlsWatch.confirm(client, watcher: watcher, applied: applied)
            } catch {
                reader?.close()
                reader = nil
                logger.warning("watching the trading-state announcements failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        if let reader {
            try? await TradingControlsWatch.leave(reader, watcher: watcher)
            reader.close()
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
