import Foundation
import TMCore
import TMPostgres
import TMQueue
import TMRedis

/// Read-through cache of a user's analytics for the current period (`CacheKeys.analytics`, 15
/// minutes): the `report` JSON of every currency's row for the period that holds today (`today`), as
/// one JSON array ordered by currency. Recomputes delete the keys (`ReportWriter.invalidateCache`,
/// called by `AnalyticsPipeline.recompute`).
///
/// Guarantees: a reader never stores a copy older than a recompute that deleted the key — a reader
/// first puts a fill token in the key, reads Postgres, and stores only if its token is still there
/// (a delete in between removes the token, so the stale copy is dropped); a copy for an earlier
/// period (the day turned) is never served as the current one; the copy expires after `ttl`.
public struct AnalyticsCache: Sendable {
    public static let defaultTTL: Duration = .seconds(15 * 60)

    public let pool: PostgresPool
    public let redis: RedisClient
    public let ttl: Duration
    /// The annual risk-free rate a day's report is computed with (`TM_ANALYTICS_RISK_FREE_RATE`).
    public let riskFreeAnnual: Double
    /// How long a reader's fill token lives (a reader that died leaves no lasting token).
    public var fillTimeout: Duration = .seconds(10)

    public init(pool: PostgresPool, redis: RedisClient, ttl: Duration = AnalyticsCache.defaultTTL, riskFreeAnnual: Double = 0.05) {
        self.pool = pool
        self.redis = redis
        self.ttl = ttl
        self.riskFreeAnnual = riskFreeAnnual
    }

    static func key(_ user: UUID, _ period: AnalyticsPeriod) -> String {
        CacheKeys.analytics(user: user.uuidString.lowercased(), period: period.rawValue)
    }

    /// A cached copy is `<period_start>\n<json>`; a fill token is `~<token>`. Returns the copy on a
    /// hit, `~` when the caller now fills the key, `` when another reader fills it.
    private static let beginScript = RedisScript("""
        local v = redis.call('GET', KEYS[1])
        if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '\\n' then return v end
        if v and string.sub(v, 1, 1) == '~' then return '' end
        redis.call('SET', KEYS[1], '~' .. ARGV[2], 'PX', ARGV[3])
        return '~'
        """)

    /// Stores the copy only while the caller's fill token is still there.
    private static let storeScript = RedisScript("""
        if redis.call('GET', KEYS[1]) == '~' .. ARGV[1] then
            redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
            return 1
        end
        return 0
        """)

    /// What `current` answered: the reports (one per currency, the `report` JSON) and whether they came from Redis.
    public struct Reports: Sendable {
        public var periodStart: String
        public var reports: [JSONValue]
        public var cached: Bool
    }

    /// The user's reports for the `period` holding today (`today`, unless given): from the cache,
    /// else from `analytics` (then cached).
    public func current(user: UUID, period: AnalyticsPeriod, now: Date = Date(), today: AnalyticsDay? = nil) async throws -> Reports {
        var day = today
        if day == nil { day = try await self.today(user: user, now: now) }
        let start = AnalyticsPeriodStart.start(of: period, on: day!)
        let key = Self.key(user, period)
        let token = UUID().uuidString
        let begun = try await begin(key: key, start: start, token: token)
        if case .hit(let copy) = begun {
            return Reports(periodStart: start, reports: try JSONValue.parse(copy).arrayValue ?? [], cached: true)
        }
        let reports = try await Self.rows(pool, user: user, period: period, start: start, riskFreeAnnual: riskFreeAnnual, now: now)
        if begun == .fill { try await store(key: key, start: start, token: token, reports: reports) }
        return Reports(periodStart: start, reports: reports, cached: false)
    }

    enum Begun: Equatable {
        /// The cached reports' JSON.
        case hit(String)
        /// The key now holds the caller's fill token: read Postgres, then `store`.
        case fill
        /// Another reader is filling the key: read Postgres, store nothing.
        case bypass
    }

    func begin(key: String, start: String, token: String) async throws -> Begun {
        let reply = try await redis.withConnection { [fillTimeout] conn in
            try conn.run(Self.beginScript, keys: [key], arguments: [start, token, String(max(1, fillTimeout.milliseconds))])
        }
        guard let text = reply.string else { throw RedisError.unexpectedReply(command: "analytics cache begin", reply: reply.description) }
        if text.hasPrefix(start + "\n") { return .hit(String(text.dropFirst(start.count + 1))) }
        return text == "~" ? .fill : .bypass
    }

    /// Stores the reports unless the fill token is gone (a recompute deleted the key meanwhile). Returns whether it stored.
    @discardableResult
    func store(key: String, start: String, token: String, reports: [JSONValue]) async throws -> Bool {
        let copy = start + "\n" + JSONValue.array(reports).text
        let reply = try await redis.withConnection { [ttl] conn in
            try conn.run(Self.storeScript, keys: [key], arguments: [token, copy, String(max(1, ttl.milliseconds))])
        }
        return reply.int == 1
    }

    /// The report JSON of the user's rows for the period starting `start` (`yyyy-MM-dd`), by currency:
    /// the stored `report`, and for a row stored without one (a day, migration 0025) the day's report
    /// computed from the user's fills now, as a recompute would (every field; the price cache is not
    /// needed: a day has no unrealized P&L). Only the fills up to the end of the period are read: a
    /// period's report depends on no later fill (the positions carried into it and the realized P&L
    /// before it, the returns' baseline, come from the earlier ones).
    public static func rows(_ pool: PostgresPool, user: UUID, period: AnalyticsPeriod, start: String,
                            riskFreeAnnual: Double = 0.05, now: Date = Date()) async throws -> [JSONValue] {
        let stored: [(currency: String, report: String?)] = try await pool.query("""
            SELECT currency, report::text AS report FROM analytics
            WHERE user_id = \(user) AND period = \(period.rawValue) AND period_start = \(start)::date ORDER BY currency
            """).rows.map { (try $0.decode("currency"), try $0.decode("report")) }
        guard stored.contains(where: { $0.report == nil }) else { return try stored.map { try JSONValue.parse($0.report!) } }
        guard let day = AnalyticsDay(start) else { throw PostgresError(kind: .decoding, message: "period_start '\(start)' is not a day") }
        let fills = try await Self.fills(pool, user: user, period: period, containing: day)
        let context = AnalyticsContext(asOfMicros: Int64((now.timeIntervalSince1970 * 1_000_000).rounded()), riskFreeAnnual: riskFreeAnnual)
        return try stored.map { row in
            if let report = row.report { return try JSONValue.parse(report) }
            // The user's fills in this currency are gone (a correction the refresh has not caught up
            // with yet): the period has no fills now.
            guard let group = fills.users.first(where: { $0.currency == row.currency }) else {
                return AnalyticsEngine.json(AnalyticsReport(userID: user, currency: row.currency, period: period, periodStart: start))
            }
            return AnalyticsEngine.json(AnalyticsEngine().report(for: group, period: period, containing: day, context: context))
        }
    }
}

extension AnalyticsCache {
    /// The user's fills the report of the `period` holding `day` is computed from: those up to the
    /// period's end in every zone (`ExchangeZones.firstUTCDayAfterEveryZone`; a few hours' more
    /// are read and ignored), never the later ones — one range of each account's
    /// `(account_id, traded_at)` index. All of them for `.all`.
    static func fills(_ pool: PostgresPool, user: UUID, period: AnalyticsPeriod, containing day: AnalyticsDay) async throws -> FillBatch {
        let lastDay = AnalyticsDay(daysSinceEpoch: CivilCalendar.range(of: period, containing: day.daysSinceEpoch).end - 1)
        let bound = period == .all ? nil : ExchangeZones.firstUTCDayAfterEveryZone(lastDay)
        return try await pool.withConnection { try FillReader().read(users: [user], tradedBefore: bound, on: $0) }
    }
}

/// First days of periods, as `analytics.period_start` holds them (the engine's calendar).
public enum AnalyticsPeriodStart {
    /// `yyyy-MM-dd` of the first day of the `period` holding `day` (all: 1970-01-01).
    public static func start(of period: AnalyticsPeriod, on day: AnalyticsDay) -> String {
        period == .all ? "1970-01-01" : AnalyticsDay(daysSinceEpoch: CivilCalendar.range(of: period, containing: day.daysSinceEpoch).start).description
    }
}

extension AnalyticsCache {
    /// The user's today, as the engine dates it: `now`'s date in the zone of the user's main
    /// exchange (most fills up to `now`, over all currencies; `ExchangeZones.mainExchange`) — IST
    /// for an NSE trader, New York for a US one — and UTC for a user without fills.
    public func today(user: UUID, now: Date = Date()) async throws -> AnalyticsDay {
        var fills: [String: Int] = [:]
        for row in try await pool.query("""
            SELECT t.exchange, count(*)::int AS fills FROM broker_accounts a JOIN trades t ON t.account_id = a.id
            WHERE a.user_id = \(user) AND t.traded_at <= \(now) GROUP BY t.exchange
            """).rows {
            fills[try row.decode("exchange")] = try row.decode("fills", as: Int.self)
        }
        let micros = Int64((now.timeIntervalSince1970 * 1_000_000).rounded(.down))
        return ExchangeZones.localDay(micros: micros, exchange: ExchangeZones.mainExchange(fillsPerExchange: fills) ?? "UTC")
    }

    /// What `tm analytics show` prints: the user's reports for the `period` holding `day` (default
    /// today, `today`) — through the cache for the current period, from `analytics` for another — and,
    /// when the period has no row yet, the engine's empty report (zeros, undefined ratios) in each
    /// currency the user has analytics in (else the capital's currency).
    public func show(user: UUID, period: AnalyticsPeriod, day: AnalyticsDay? = nil, now: Date = Date()) async throws -> Reports {
        let today = try await self.today(user: user, now: now)
        let start = AnalyticsPeriodStart.start(of: period, on: day ?? today)
        var found = start == AnalyticsPeriodStart.start(of: period, on: today)
            ? try await current(user: user, period: period, now: now, today: today)
            : Reports(periodStart: start, reports: try await Self.rows(pool, user: user, period: period, start: start,
                                                                   riskFreeAnnual: riskFreeAnnual, now: now), cached: false)
        if found.reports.isEmpty {
            let currencies = try await pool.query("""
                SELECT DISTINCT currency FROM analytics WHERE user_id = \(user)
                UNION SELECT capital_currency FROM users WHERE id = \(user) AND capital_currency IS NOT NULL
                ORDER BY 1
                """).rows.map { try $0.decode("currency", as: String.self) }
            found.reports = currencies.map { AnalyticsEngine.json(AnalyticsReport(userID: user, currency: $0, period: period, periodStart: start)) }
        }
        return found
    }
}
