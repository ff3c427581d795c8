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
/// - circuits are re-read at every `refresh` at least `circuitRereadAfter` after the last read — every
///   other one of the worker's 250 ms refreshes, so at most ~500 ms stale (`CircuitWatch`'s documented
///   staleness) — so a broker whose circuit opened is left out of routes.
///
/// Effective from the next message. A change's command commits, then announces it
/// (`TradingControls.announce`): writes a new value into `TradingControls.announcementKey` and
/// raises the watched key of every `orders` shard to it, before it returns. The rule: a message is
/// checked against every change whose command returned before the worker fetched it, and — when
/// the message then waited behind another — before its handler started. (A command returning
/// between a fetch and the handler that starts at once raced that message, exactly as one
/// returning while the handler runs.) `checkBeforeMessage` takes an announced value read at that
/// point and re-reads the limits from Postgres when it differs from the one they were read at:
/// - the message's fetch read its shard's watched key atomically with the message (`Delivery.watched`);
///   when the message went from that fetch straight to its handler (`WatchedRead.standsInForAReadNow`:
///   the read's first entry, nothing awaited since the fetch, no earlier message of its account in
///   flight), that value is used and no Redis read is made — only for the queue announcers raise
///   (`announcedQueue`);
/// - a message that waited (a read's later entries, one handed out after a foreign entry's
///   dead-lettering, one held behind another of its account, a reclaimed message) reads
///   `announcementKey` at its start (one GET shared by the messages asking at the same time, each
///   answered by a read that began after it asked);
/// - a message whose fetch found no watched key (never announced, Redis lost its data) records
///   the worker's shard count and reads the announcement in one script
///   (`TradingControls.recordShards`: when nothing is announced, or only an old `tm`'s plain
///   counter, it announces a new unique value first), then seeds the key with that value only if
///   it is still missing (SET NX: a value an announcer wrote meanwhile is newer).
///   So every seeded shard is raised by every later announcement, even one whose own manifest
///   says fewer shards (a `tm` host's, or none: a limit sweep's) — the record is made again after a
///   data loss by the very seeding that recreates the keys (recording only at load would not be:
///   the record is lost with the data while the keys come back). The periodic reload records it
///   again too (a record lost alone).
/// - every announced value is unique ("<n>:<nonce>") and compared whole, so a value announced
///   after Redis lost the counter (or everything) never equals one a worker saw before; a watched
///   key is only raised (by n), so two announcements racing leave the later value; a value that
///   differs from the one seen (also a lower one) only costs a re-read.
///
/// A failed check never lets a message go ahead: when the announcement (or the record and read)
/// cannot be read, or the limits re-read that a changed announcement asks for cannot be made,
/// `checkBeforeMessage` tries again in place a few times (`checkRetryPauses`: the message keeps
/// its account's turn, so a blip does not reorder the account's messages), then throws
/// `TradingStateUnchecked` — nothing was sent, and the message is deferred (for
/// `deferralPause` at least) without using up a delivery attempt, so a Redis or Postgres blip
/// does not dead-letter orders (the queue's `max_deferral` still bounds it). The emergency limits (issue 11: "when
/// limits cannot be loaded") apply where nothing asked for a change: a `load` or the limits poll
/// (`refresh`) that cannot read the limits puts the book under them, and messages whose
/// announced value is the one already seen go ahead under them; a message whose announced value
/// changed waits (deferred) until the limits can be read.
///
/// Mixed versions (upgrades): an announcer of the previous version (`tm` before the watched keys)
/// only INCRs `announcementKey`; a worker of this version taking its value from the fetch would
/// not see that until its limits poll (within a second). So the key is kept in this version's
/// form: a worker's load, its periodic reload and every seeding (`recordShards`) replace a plain
/// counter (or a missing key) with a new "<n>:<nonce>" (also re-reading the limits, as for any new
/// value) — after which an old INCR fails and the old command says the workers "apply it within a
/// second", which the poll keeps. The rule, then: a halt from an old `tm` applies from the next
/// message only on workers of the previous version; on these, within a second (the limits poll),
/// and the old command says so, except in the window where the key was lost (or still holds the
/// old counter) and no load, reload (`reloadInterval`) or seeding has run since. Upgrade order for
/// the release note: every announcer (the `tm` CLI hosts, the limit-alert sweep) before the order
/// workers; announcers of this version work with workers of the previous one (they GET the same
/// key and compare whole values).
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
    /// When the circuits were last read (nil: never).
    private let lastCircuitRead = Locked<ContinuousClock.Instant?>(nil)
    private let controlsSeen = Locked<String?>(nil)
    /// The announced queue's shard count this worker consumes (set by its first `load(shards:of:)`).
    private let consumedShards = Locked<Int?>(nil)
    /// The announced trading-state version, one Redis read for all the messages that ask meanwhile
    /// (each still answered by a read that began after it asked).
    private let announcements: CoalescedReads<String, String>
    /// The queue whose watched keys announcers raise (`TradingControls.announce`'s queue): only
    /// its messages' fetched values are trusted; any other queue's are never raised, so they
    /// always read the announcement.
    let announcedQueue: String

    /// `checkRetryPauses`: the pauses between in-place tries of a failed check (`checkBeforeMessage`).
    public init(pool: PostgresPool, redis: RedisClient, environment: TMEnvironment = .current(), reloadInterval: Duration = .seconds(10),
                announcedQueue: String = TradingControls.ordersQueue, checkRetryPauses: [Duration] = ResidentState.checkRetryPauses,
                logger: Logger = Logger(label: "tm.orders.state")) throws {
        self.pool = pool
        self.retryPauses = checkRetryPauses
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
        if manifest.name == announcedQueue {
            consumedShards.withLock { $0 = manifest.shards }
            try await TradingControls.recordShards(redis, queue: manifest.name, shards: manifest.shards)
        }
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

    /// How long after a read of the circuits a `refresh` reads them again: under `CircuitWatch`'s
    /// 500 ms so that every other 250 ms refresh does (one a little early must not push the read to
    /// the third) — half the breaker reads of one per refresh, one script call per broker each.
    static let circuitRereadAfter = Duration.milliseconds(400)

    /// Whether a refresh at `now` reads the circuits, the last read at `lastRead` (nil: never).
    static func circuitsDue(lastRead: ContinuousClock.Instant?, now: ContinuousClock.Instant) -> Bool {
        guard let lastRead else { return true }
        return now - lastRead >= circuitRereadAfter
    }

    /// The message being handled, with what its fetch read of the shard's watched key
    /// (`Delivery.watched`): the order-worker's handler sets it around `checkBeforeMessage`, whose
    /// signature the callers share.
    @TaskLocal public static var handling: Delivery?

    /// Before each message: re-reads the limits when a trading-state change was announced since
    /// the last look (the rule is in the type's doc): with the fetch's watched value when it stands
    /// in for a read now (`fetched`), else one Redis read shared by the messages asking meanwhile.
    /// A failed check is tried again in place (`checkRetryPauses`) while the message still holds its
    /// account's turn — a deferral would let the account's next message go first —; when it still
    /// fails, throws `TradingStateUnchecked` (the message is deferred for `deferralPause` at least,
    /// nothing was sent): going ahead could miss a halt.
    /// `consuming`: the queue the caller consumes, for a caller that does not `load(shards:of:)`
    /// (the order bench): its shard count is what a missing key's seeding records.
    public func checkBeforeMessage(consuming manifest: QueueManifest? = nil) async throws {
        if let manifest, manifest.name == announcedQueue, consumedShards.withLock({ $0 == nil }) {
            consumedShards.withLock { $0 = manifest.shards }
        }
        var pauses = retryPauses[...]
        while true {
            do {
                return try await check()
            } catch {
                guard let pause = pauses.popFirst() else {
                    let reason = (error as? TradingStateUnchecked)?.reason ?? "the announced trading state could not be read: \(error)"
                    throw TradingStateUnchecked(reason: reason, retryNotBefore: Date().addingTimeInterval(Self.deferralPause))
                }
                try? await Task.sleep(for: pause)
            }
        }
    }

    /// Pauses between in-place tries of a failed check: a Redis or Postgres blip is ridden out
    /// without reordering the account's messages.
    public static let checkRetryPauses: [Duration] = [.milliseconds(20), .milliseconds(100), .milliseconds(400)]
    private let retryPauses: [Duration]
    /// The least wait of a message deferred by a failed check, in seconds: a lasting failure (limits
    /// that cannot be read) retries each message about once a second, not at the consumer's jitter.
    static let deferralPause: TimeInterval = 1

    private func check() async throws {
        let announced: String?
        // A fetched value only from a queue announcers raise (any other's is never raised), and only
        // when it stands in for a read now.
        let delivery = Self.handling.flatMap { $0.queue == announcedQueue ? $0 : nil }
        let fetched = delivery?.watched.flatMap { $0.standsInForAReadNow ? $0 : nil }
        let consumed = consumedShards.withLock { $0 }
        if let value = fetched?.value {
            announced = value
        } else if let delivery, fetched != nil, let consumed {
            // The shard's key is missing: record the shard count before reading what to seed.
            announced = try await TradingControls.recordShards(redis, queue: delivery.queue, shards: consumed)
            await seedWatched(of: delivery, version: announced)
        } else {
            // nil: nothing announced since Redis's data began — a change from a value seen before
            // (the limits are re-read once), the same as before otherwise.
            announced = try await announcements.read("trading-controls")
        }
        guard controlsSeen.withLock({ $0 }) != announced else { return }
        let risk = self.risk
        _ = try await pool.withConnection { db in try risk.refreshLimits(db, now: Date()) }
        // The read failed (the book is now under the emergency limits): the change is not known.
        guard !risk.underEmergencyLimits else { throw TradingStateUnchecked(reason: "the trading limits could not be read again") }
        controlsSeen.withLock { $0 = announced }
    }

    /// The message's fetch found no watched key: creates it with the value just read after the
    /// shard count was recorded, so the shard's next fetches bring one and its messages skip the read.
    private func seedWatched(of delivery: Delivery, version: String?) async {
        guard let version else { return }
        do {
            try await TradingControls.seedWatched(redis, version: version, shard: delivery.shard, queue: delivery.queue)
        } catch {
            logger.warning("could not seed the shard's watched key; its messages read the announcement meanwhile", metadata: ["error": "\(error)"])
        }
    }

    /// Limits (when their version moved), circuits (`circuitsDue`), and every `reloadInterval` the
    /// accounts from rows.
    public func refresh() async {
        let risk = self.risk
        _ = try? await pool.withConnection { db in try risk.refreshLimits(db, now: Date()) }
        let now = ContinuousClock.now
        // Stamped only after a read that worked: a failed one is tried again at the next refresh.
        if lastCircuitRead.withLock({ Self.circuitsDue(lastRead: $0, now: now) }), (try? await circuits.refresh()) != nil {
            lastCircuitRead.withLock { $0 = now }
        }
        guard lastReload.withLock({ ContinuousClock.now - $0 >= reloadInterval }) else { return }
        lastReload.withLock { $0 = .now }
        let accounts = served.withLock { $0 }
        guard !accounts.isEmpty else { return }
        let routes = self.routes
        if let consumed = consumedShards.withLock({ $0 }) {
            // Again, in case the record was lost alone (the seeding re-records after a data loss).
            _ = try? await TradingControls.recordShards(redis, queue: announcedQueue, shards: consumed)
        }
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
