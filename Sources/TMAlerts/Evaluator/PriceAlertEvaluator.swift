import Foundation
import Logging
import TMCore
import TMFunctionRuntime
import TMMarketData
import TMNotify
import TMPostgres
import TMQueue
import TMRedis

/// Evaluates price ticks against every active price alert, fires the alerts they hit exactly once,
/// and writes each firing's notification through the outbox.
///
/// How (see `AlertIndex`): the alerts live in memory, per instrument in arrays sorted by threshold,
/// so a batch costs binary searches and no query unless it hits an alert or moves a cross alert's
/// side of its threshold. The index follows the table: when `CacheKeys.priceAlertsVersion` moves
/// (`tm alerts add|cancel`, the sweep) the rows changed since the last look (by `updated_at`, with a
/// margin for transactions that started earlier) are reloaded before the batch; every
/// `fullReloadInterval` the whole index is.
///
/// Guarantees:
/// - **Exactly once**: an alert fires only through one conditional update (`state = 'active'` and
///   not expired, `PriceAlertRules.firable`) that at most one transaction can win, whatever the
///   number of evaluators, concurrent batches or redeliveries; only the rows it returns get their
///   notification (`price_alert:<id>:<fire count>`), in the same transaction, announced after the commit
///   by an `OutboxAnnouncer` (at least once: a lost announcement is the notifier sweep's), which
///   does not hold the batch up: the evaluator is free for the next batch meanwhile.
/// - An expired alert never fires (the same update's guard); a repeat alert fires again only once
///   its cooldown has passed (re-armed by `PriceAlertRules.rearmable` in the same transaction).
/// - A batch that cannot be committed loses no cross: its instruments' cross alerts are judged
///   again from their stored last seen prices when the batch is retried.
public final class PriceAlertEvaluator: Sendable {
    public struct Settings: Sendable {
        /// The whole index is reloaded this often, whatever the version says.
        public var fullReloadInterval: Duration
        /// Rows changed up to this long before the last look are read again (a transaction's
        /// `updated_at` is its start, which may precede a watermark taken before it committed).
        public var watermarkMargin: Duration
        /// The counter that announces changes (tests give each evaluator one of its own).
        public var versionKey: String
        /// Where firings are announced (tests give each evaluator a queue of its own).
        public var notificationsQueue: String

        public init(fullReloadInterval: Duration = .seconds(300), watermarkMargin: Duration = .seconds(30),
                    versionKey: String = CacheKeys.priceAlertsVersion, notificationsQueue: String = NotificationOutbox.queue) {
            self.fullReloadInterval = fullReloadInterval
            self.watermarkMargin = watermarkMargin
            self.versionKey = versionKey
            self.notificationsQueue = notificationsQueue
        }
    }

    /// What one batch did.
    public struct Report: Sendable, Equatable {
        public var hit = 0
        public var fired = 0
        public var notifications: [UUID] = []
        /// Where the batch's time went, when `StageTrace` is on (Unix ms; 0: not reached or off).
        public var stages = Stages()
    }

    /// A batch's stamps for `StageTrace`: the alert-set version checked (and the index refreshed),
    /// the index evaluated, the firing transaction's body entered (a connection taken), its commit returned.
    public struct Stages: Sendable, Equatable {
        public var refreshed = 0.0
        public var indexed = 0.0
        public var transactionStarted = 0.0
        public var committed = 0.0
    }

    public let pool: PostgresPool
    public let redis: RedisClient
    public let producer: QueueProducer?
    /// Sends the committed notifications while the next batch is evaluated.
    let announcer: OutboxAnnouncer
    let clock: @Sendable () -> Date
    let settings: Settings
    let logger: Logger
    private let state = Locked(State())
    private let reloading = Locked<Task<Void, Error>?>(nil)

    private struct State {
        var index = AlertIndex()
        var loaded = false
        var version: String?
        var watermark: Date?
        var lastFullLoad = ContinuousClock.now
    }

    /// `producer` announces new notifications on `notifications` (nil: the notifier's sweep finds them).
    public init(pool: PostgresPool, redis: RedisClient, producer: QueueProducer?, settings: Settings = Settings(),
                clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "tm.alerts.price")) {
        self.pool = pool
        self.redis = redis
        self.producer = producer
        self.announcer = OutboxAnnouncer(producer: producer, queue: settings.notificationsQueue)
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    /// An evaluator on `TM_DATABASE_URL` and `TM_REDIS_URL`, announcing on the catalog's `notifications`.
    public static func open(environment: TMEnvironment = .current(), poolSize: Int = 4, settings: Settings = Settings()) async throws -> PriceAlertEvaluator {
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "alert-evaluator")
        // Announcements on a connection of their own: the next batch's version GET does not queue behind them.
        let announcing = try await RedisClient(configuration: redis.configuration, name: "alert-announcer")
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: poolSize)
        return PriceAlertEvaluator(pool: pool, redis: redis, producer: QueueProducer(redis: announcing, catalog: try QueueCatalog.load(environment: environment)),
                                   settings: settings)
    }

    /// The time as this evaluator sees it (injected in tests).
    public var now: Date { clock() }

    /// Alerts in memory now.
    public var alertCount: Int { state.withLock { $0.index.count } }

    /// The instruments that have alerts in memory.
    public var instruments: [(symbol: String, exchange: String)] {
        state.withLock { $0.index.instruments.map { (symbol: $0.symbol, exchange: $0.exchange) } }
    }

    // MARK: Evaluation

    /// Evaluates one batch of ticks (in queue order) and fires what they hit.
    @discardableResult
    public func evaluate(_ ticks: [PriceTick]) async throws -> Report {
        var stages = Stages()
        try await refreshIfNeeded()
        stages.refreshed = StageTrace.stamp()
        let now = clock()
        let plan = state.withLock { $0.index.evaluate(ticks, now: now) }
        stages.indexed = StageTrace.stamp()
        guard !plan.isEmpty else { return Report(stages: stages) }
        let fired: [FiredAlert]
        do {
            let committed = try await commit(plan, now: now)
            fired = committed.fired
            stages.transactionStarted = committed.started
            stages.committed = StageTrace.stamp()
        } catch {
            state.withLock { $0.index.forget(plan.instruments) }
            throw error
        }
        let won = Set(fired.map(\.id))
        state.withLock { s in
            s.index.committedLastSeen(plan.lastSeen)
            for hit in plan.hits where won.contains(hit.alert.id) { s.index.fired(hit.alert, at: now, price: hit.price) }
        }
        // Hit but not won: another evaluator fired it, or it is no longer firable (cancelled,
        // expired, cooling down after a firing elsewhere). Read those rows again, so this index
        // stops offering them.
        let lost = plan.hits.map(\.alert.id).filter { !won.contains($0) }
        if !lost.isEmpty {
            do { try await reload(ids: lost) } catch { logger.warning("could not re-read alerts hit but not fired", metadata: ["error": "\(error)"]) }
        }
        let notifications = fired.compactMap(\.notification)
        announcer.announce(notifications)
        if !fired.isEmpty {
            logger.info("price alerts fired", metadata: ["fired": "\(fired.count)", "hit": "\(plan.hits.count)"])
        }
        return Report(hit: plan.hits.count, fired: fired.count, notifications: notifications, stages: stages)
    }

    /// Waits until the notifications of every batch evaluated so far have been announced (or refused).
    public func announced() async { await announcer.settled() }

    struct FiredAlert: Sendable {
        let id: UUID
        let notification: UUID?
    }

    /// One transaction in ONE round trip: re-arm the due repeat alerts hit, fire the hit alerts that are
    /// still firable with their notifications (`PriceFiring.statement`: the rows returned are the
    /// winners), and the cross alerts' last seen prices — BEGIN, these and COMMIT in one pipeline, so
    /// the backend and this connection's thread are each woken once per firing, not once per statement
    /// (the firing's tail is their waits for a CPU: PROFILE.md, sessions 18-19). The firing's rows are
    /// read as they arrive and used only once the transaction has committed.
    /// Also returns when its body began (`StageTrace`).
    private func commit(_ plan: EvaluationPlan, now: Date) async throws -> (fired: [FiredAlert], started: Double) {
        // One per alert, sorted by id, so concurrent evaluators take the rows' locks in one order.
        let hits = Dictionary(plan.hits.map { ($0.alert.id, $0) }, uniquingKeysWith: { a, _ in a }).values
            .sorted { Self.lockOrder($0.alert.id, $1.alert.id) }
        let seen = plan.lastSeen.sorted { Self.lockOrder($0.key, $1.key) }
        let rearm = hits.filter { $0.alert.rearmAt != nil }.map(\.alert.id)
        // Prepared (their text never varies; every value is a bind): each connection parses them once.
        let firing = hits.isEmpty ? nil : PriceFiring.statement(hits, now: now).prepared
        let read = Locked<Result<[FiredAlert], Error>>(.success([]))
        let started = try await pool.transaction { db in
            let started = StageTrace.stamp()
            if !rearm.isEmpty { try db.send(PriceAlertRules.rearmStatement(ids: rearm, now: now)) }
            if let firing {
                try db.send(firing, reading: { result in
                    read.withLock { $0 = Result { try result.rows.map { FiredAlert(id: try $0.decode("id"), notification: try $0.decode("notification", as: UUID?.self)) } } }
                })
            }
            if !seen.isEmpty { try db.send(PriceFiring.lastSeen(seen).prepared) }
            return started
        }
        return (try read.withLock { $0 }.get(), started)
    }

    /// Postgres's order of uuids (bytewise; the same as their text's), compared without formatting
    /// them: a batch that first sees an instrument sorts its 30 cross alerts' ids per tick, and
    /// `uuidString` per comparison took most of the evaluator's time then (PROFILE.md).
    static func lockOrder(_ a: UUID, _ b: UUID) -> Bool {
        withUnsafeBytes(of: a.uuid) { x in withUnsafeBytes(of: b.uuid) { y in memcmp(x.baseAddress!, y.baseAddress!, 16) < 0 } }
    }

    // MARK: Following the table

    /// Reloads what changed when the version moved, everything when the index is old or not loaded.
    public func refreshIfNeeded() async throws {
        let version = try await PriceAlerts.version(redis, key: settings.versionKey)
        guard needs(version) != nil else { return }
        try await serialized {
            // Another caller may have done it while this one waited.
            switch self.needs(version) {
            case .all?: try await self.loadAll(version: version)
            case .changes?: try await self.loadChanges(version: version)
            case nil: break
            }
        }
    }

    private enum Reload { case all, changes }

    /// What the index must reload to match the table as of `version` (the counter's value).
    private func needs(_ version: String?) -> Reload? {
        state.withLock { s in
            if !s.loaded || ContinuousClock.now - s.lastFullLoad >= settings.fullReloadInterval { return .all }
            return s.version != version ? .changes : nil
        }
    }

    /// Loads every alert that can fire (now or after its cooldown).
    public func loadAll() async throws { try await serialized { try await self.loadAll(version: try await PriceAlerts.version(self.redis, key: self.settings.versionKey)) } }

    private func loadAll(version: String?) async throws {
        let (at, rows) = try await pool.withConnection { db -> (Date, [LoadedAlert]) in
            let at: Date = try db.query("SELECT now() AS at").rows[0].decode("at")
            let rows = try db.query("SELECT \(fragment: LoadedAlert.columns) FROM price_alerts a WHERE a.state = 'active' OR (a.state = 'triggered' AND a.repeat)")
                .rows.compactMap(LoadedAlert.init(row:))
            return (at, rows)
        }
        let now = clock()
        state.withLock { s in
            s.index.replaceAll(rows.filter { $0.isLive(now: now) }.map { ($0.alert, lastSeen: $0.lastSeen) })
            s.loaded = true
            s.version = version
            s.watermark = at
            s.lastFullLoad = .now
        }
        logger.debug("price alerts loaded", metadata: ["alerts": "\(rows.count)"])
    }

    private func loadChanges(version: String?) async throws {
        let since = state.withLock { $0.watermark } ?? .distantPast
        let margin = settings.watermarkMargin.seconds
        let (at, rows) = try await pool.withConnection { db -> (Date, [LoadedAlert]) in
            let at: Date = try db.query("SELECT now() AS at").rows[0].decode("at")
            let rows = try db.query("SELECT \(fragment: LoadedAlert.columns) FROM price_alerts a WHERE a.updated_at >= \(since.addingTimeInterval(-margin))")
                .rows.compactMap(LoadedAlert.init(row:))
            return (at, rows)
        }
        apply(rows)
        state.withLock { s in
            s.version = version
            s.watermark = at
        }
    }

    /// Re-reads these alerts' rows (hit but not fired here).
    private func reload(ids: [UUID]) async throws {
        let list = PostgresArrayText.uuids(ids)
        let rows = try await pool.withConnection { db in
            try db.query("SELECT \(fragment: LoadedAlert.columns) FROM price_alerts a WHERE a.id = ANY(\(list)::uuid[])").rows.compactMap(LoadedAlert.init(row:))
        }
        let found = Set(rows.map(\.alert.id))
        apply(rows)
        state.withLock { $0.index.remove(ids.filter { !found.contains($0) }) }
    }

    private func apply(_ rows: [LoadedAlert]) {
        let now = clock()
        state.withLock { s in
            for row in rows {
                if row.isLive(now: now) { s.index.upsert(row.alert, lastSeen: row.lastSeen) } else { s.index.remove([row.alert.id]) }
            }
        }
    }

    /// Runs `body` with no other reload running in this evaluator (concurrent callers wait for it).
    private func serialized(_ body: @escaping @Sendable () async throws -> Void) async throws {
        while true {
            let (task, mine) = reloading.withLock { current -> (Task<Void, Error>, Bool) in
                if let current { return (current, false) }
                let task = Task { try await body() }
                current = task
                return (task, true)
            }
            if mine {
                defer { reloading.withLock { $0 = nil } }
                return try await task.value
            }
            _ = try? await task.value
        }
    }
}

/// A `price_alerts` row as the evaluator reads it.
struct LoadedAlert: Sendable {
    let alert: IndexedAlert
    let lastSeen: FixedDecimal?
    let state: String
    let expiresAt: Date?

    static let columns: PostgresQuery = """
        a.id, a.user_id, a.symbol, a.exchange, a.condition, a.threshold::text AS threshold, a.last_seen_price::text AS last_seen_price,
        a.state, a.repeat, extract(epoch FROM a.cooldown)::float8 AS cooldown_s, a.triggered_at, a.expires_at, a.note
        """

    /// nil for a row the evaluator cannot hold (a threshold with more than nine places: `tm alerts add` refuses those).
    init?(row: PostgresRow) {
        guard let id: UUID = try? row.decode("id"), let userID: UUID = try? row.decode("user_id"),
              let symbol: String = try? row.decode("symbol"), let exchange: String = try? row.decode("exchange"),
              let conditionText: String = try? row.decode("condition"), let condition = PriceAlertCondition(rawValue: conditionText),
              let thresholdText: String = try? row.decode("threshold"), let threshold = FixedDecimal(thresholdText),
              let state: String = try? row.decode("state"), let repeats: Bool = try? row.decode("repeat") else { return nil }
        let cooldown: Double? = (try? row.decode("cooldown_s", as: Double?.self)) ?? nil
        let triggeredAt: Date? = (try? row.decode("triggered_at", as: Date?.self)) ?? nil
        var rearmAt: Date?
        if state == "triggered", let triggeredAt, let cooldown { rearmAt = triggeredAt.addingTimeInterval(cooldown) }
        alert = IndexedAlert(id: id, userID: userID, symbol: symbol, exchange: exchange, condition: condition, threshold: threshold,
                             repeats: repeats, cooldown: cooldown, rearmAt: rearmAt, note: (try? row.decode("note", as: String?.self)) ?? nil)
        lastSeen = ((try? row.decode("last_seen_price", as: String?.self)) ?? nil).flatMap(FixedDecimal.init)
        self.state = state
        expiresAt = (try? row.decode("expires_at", as: Date?.self)) ?? nil
    }

    /// Whether it can still fire, now or after its cooldown (expired rows the sweep has not marked yet cannot).
    func isLive(now: Date) -> Bool {
        guard state == "active" || (state == "triggered" && alert.repeats) else { return false }
        if let expiresAt, expiresAt <= now { return false }
        return true
    }
}
