import Foundation
import Logging
import TMCore
import TMMarketData
import TMPostgres
import TMRisk
import TMRedis

/// Values users' portfolios and keeps `portfolio:<user>` current: on fills (`portfolio-valuer` on
/// `trade-events`), on price moves (`revalue(holdersOf:)`, called from the market-data service's
/// `onMoved` hook) and daily into `portfolio_snapshots` (`snapshot(day:)`).
///
/// Guarantees: each call revalues a user at most once, however many of their events or ticks it
/// was given; a valuation is stamped with the time it began reading, and the cache keeps the newest
/// (`PortfolioCache`); one user's failure does not stop the others (it is reported with the user).
/// The arithmetic and the definition of day P&L are `PortfolioArithmetic`'s.
public struct PortfolioValuer: Sendable {
    public let pool: PostgresPool
    public let cache: PortfolioCache
    public let prices: PriceCache
    /// Now; injectable so tests pin the day and the stamps.
    public let clock: @Sendable () -> Date
    /// Users valued at once by one call (each holds a pooled connection while it reads).
    public var concurrency = 4

    public init(pool: PostgresPool, redis: RedisClient, ttl: Duration = PortfolioCache.defaultTTL,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.pool = pool
        cache = PortfolioCache(redis: redis, ttl: ttl)
        prices = PriceCache(redis: redis)
        self.clock = clock
    }

    /// From the environment a function process gets (TM_DATABASE_URL, TM_REDIS_URL).
    public static func open(environment: TMEnvironment = .current(), poolSize: Int = 4) async throws -> PortfolioValuer {
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "portfolio")
        return PortfolioValuer(pool: PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: poolSize), redis: redis)
    }

    /// What a batch of revaluations did.
    public struct Report: Sendable {
        public var revalued: [UUID] = []
        /// Users whose valuation failed, with the error.
        public var failed: [UUID: String] = [:]
    }

    /// Values `user` as of now (today's UTC fills), without storing it.
    public func valuation(user: UUID, day: String? = nil) async throws -> PortfolioValuation {
        let now = clock()
        let nowMs = now.millisecondsSince1970
        let day = day ?? PortfolioRows.day(of: now)
        let inputs = try await pool.withConnection { try PortfolioRows.read($0, user: user, day: day) }
        let instruments = inputs.instruments
        let cached = try await prices.read(instruments.map { (symbol: $0.symbol, exchange: $0.exchange) }, nowMs: nowMs)
        var byInstrument: [InstrumentKey: CachedPrice] = [:]
        for (instrument, price) in zip(instruments, cached) { byInstrument[instrument] = price }
        return PortfolioArithmetic.value(inputs, prices: byInstrument, computedAtMs: nowMs)
    }

    /// Values `user` now and stores it in the cache (unless a newer valuation is there).
    @discardableResult
    public func revalue(user: UUID) async throws -> PortfolioValuation {
        let valuation = try await valuation(user: user)
        try await cache.store(valuation)
        return valuation
    }

    /// Revalues each distinct user of `users` once.
    @discardableResult
    public func revalue(users: [UUID]) async -> Report {
        await forEach(distinct: users) { try await revalue(user: $0) }
    }

    /// The users holding any instrument of `ticks`, each revalued once (no one else is touched):
    /// what the market-data service calls with the ticks of a price move.
    @discardableResult
    public func revalue(holdersOf ticks: [PriceTick]) async throws -> Report {
        let instruments = Array(Set(ticks.map { InstrumentKey(symbol: $0.symbol, exchange: $0.exchange) }))
        let holders = try await pool.withConnection { try PortfolioRows.holders($0, of: instruments) }
        return await revalue(users: holders)
    }

    /// The cached valuation of `user`, else one computed now and stored; `cached` says which.
    public func current(user: UUID) async throws -> (valuation: PortfolioValuation, cached: Bool) {
        if let cached = try await cache.read(user: user) { return (cached, true) }
        return (try await revalue(user: user), false)
    }

    /// Writes the `portfolio_snapshots` rows of the UTC `day` (default today) for every user with an
    /// account; today's valuations also refresh the cache. A later day than today is refused.
    public func snapshot(day: String? = nil) async throws -> (report: Report, rows: Int) {
        let today = PortfolioRows.day(of: clock())
        let day = day ?? today
        _ = try PortfolioRows.window(day: day)
        guard day <= today else { throw PortfolioError.futureDate(day) }
        let users = try await pool.withConnection { try PortfolioRows.usersWithAccounts($0) }
        let rows = Locked(0)
        let report = await forEach(distinct: users) { user in
            let valuation = try await valuation(user: user, day: day)
            let written = try await pool.withConnection { try PortfolioSnapshots.write($0, valuation) }
            rows.withLock { $0 += written }
            if day == today { try await cache.store(valuation) }
        }
        return (report, rows.withLock { $0 })
    }

    /// Runs `body` once per distinct user, `concurrency` at a time; collects who failed.
    private func forEach(distinct users: [UUID], _ body: @escaping @Sendable (UUID) async throws -> Void) async -> Report {
        var seen = Set<UUID>()
        let unique = users.filter { seen.insert($0).inserted }
        var report = Report()
        await withTaskGroup(of: (UUID, String?).self) { group in
            var pending = unique.makeIterator()
            func startNext() -> Bool {
                guard let user = pending.next() else { return false }
                group.addTask {
                    do { try await body(user); return (user, nil) } catch { return (user, "\(error)") }
                }
                return true
            }
            for _ in 0..<max(1, concurrency) where !startNext() { break }
            while let (user, error) = await group.next() {
                if let error { report.failed[user] = error } else { report.revalued.append(user) }
                _ = startNext()
            }
        }
        report.revalued.sort { $0.uuidString < $1.uuidString }
        return report
    }
}

extension Date {
    var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
}
