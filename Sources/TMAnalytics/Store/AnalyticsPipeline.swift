import Foundation
import TMCore
import TMMarketData
import TMPostgres
import TMRedis
import TMRisk

/// What one `recompute` did, with the time of each phase (for `tm analytics status`, the batch's
/// progress and the benchmark).
public struct RecomputeSummary: Sendable, Equatable {
    /// Users asked for (those with no fills included: their rows are removed).
    public var users = 0
    /// User × currency groups computed.
    public var groups = 0
    public var fills = 0
    /// Rows written (new or changed).
    public var rowsWritten = 0
    /// Rows computed but already stored as they are (not rewritten).
    public var rowsUnchanged = 0
    /// COPY out of Postgres and parsing into fills (on the connection's thread).
    public var read: Duration = .zero
    /// Latest prices of the open instruments from the price cache.
    public var prices: Duration = .zero
    /// Matching and aggregation (`AnalyticsEngine`).
    public var engine: Duration = .zero
    /// The transaction that replaces the rows (encoding, COPY in, delete/upsert, commit).
    public var write: Duration = .zero
    /// Dropping the cached copies.
    public var cache: Duration = .zero

    public init() {}

    /// Adds another summary's counts and times (a run's totals over its chunks).
    public static func += (lhs: inout RecomputeSummary, rhs: RecomputeSummary) {
        lhs.users += rhs.users
        lhs.groups += rhs.groups
        lhs.fills += rhs.fills
        lhs.rowsWritten += rhs.rowsWritten
        lhs.rowsUnchanged += rhs.rowsUnchanged
        lhs.read += rhs.read
        lhs.prices += rhs.prices
        lhs.engine += rhs.engine
        lhs.write += rhs.write
        lhs.cache += rhs.cache
    }
}

/// Recomputes users' analytics end to end: their whole history of fills (`FillReader`, one COPY),
/// the latest prices of what they still hold (`PriceCache`), `AnalyticsEngine`, then their rows
/// of `analytics` replaced (`ReportWriter`, one transaction) and their cached copies dropped.
///
/// Guarantees: after `recompute(users:)` returns, each of the users has exactly the rows the engine
/// computed from the fills read (those it changed stamped with `runID`; stale periods and currencies
/// removed; a user with no fills has none) and no cached copy older than them; when it throws, their rows are
/// those of before. Callers chunk users (a few hundred per call keeps each COPY and transaction
/// short); the nightly batch and the refresh after a trade both come here.
public struct AnalyticsPipeline: Sendable {
    public let pool: PostgresPool
    public let redis: RedisClient
    public let riskFreeAnnual: Double
    public let writer: ReportWriter
    /// The evaluation instant (µs since the epoch), read once per `recompute`.
    public let nowMicros: @Sendable () -> Int64

    public init(pool: PostgresPool, redis: RedisClient, riskFreeAnnual: Double = 0.05,
                writeStrategy: ReportWriter.Strategy = .deleteAndCopy,
                nowMicros: @escaping @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }) {
        self.pool = pool
        self.redis = redis
        self.riskFreeAnnual = riskFreeAnnual
        self.writer = ReportWriter(strategy: writeStrategy)
        self.nowMicros = nowMicros
    }

    /// The pipeline with the risk-free rate of `TM_ANALYTICS_RISK_FREE_RATE` (default 0.05).
    public init(pool: PostgresPool, redis: RedisClient, environment: TMEnvironment) throws {
        self.init(pool: pool, redis: redis, riskFreeAnnual: try AnalyticsContext.riskFreeRate(environment: environment))
    }

    public func recompute(users: [UUID], runID: UUID?) async throws -> RecomputeSummary {
        var summary = RecomputeSummary()
        let users = Array(Set(users))
        summary.users = users.count
        guard !users.isEmpty else { return summary }
        let clock = ContinuousClock()

        var started = clock.now
        let batch = try await pool.withConnection { try FillReader().read(users: users, on: $0) }
        summary.read = clock.now - started
        summary.groups = batch.users.count
        summary.fills = batch.fillCount

        started = clock.now
        let now = nowMicros()
        var latest: [InstrumentKey: FixedDecimal] = [:]
        if !batch.openInstruments.isEmpty {
            let cached = try await PriceCache(redis: redis).read(batch.openInstruments.map { ($0.symbol, $0.exchange) }, nowMs: now / 1000)
            for (instrument, price) in zip(batch.openInstruments, cached) {
                if let price, let exact = FixedDecimal(exactly: price.tick.price) { latest[instrument] = exact }
            }
        }
        summary.prices = clock.now - started

        started = clock.now
        let context = AnalyticsContext(asOfMicros: now, riskFreeAnnual: riskFreeAnnual, latestPrices: latest)
        let engine = AnalyticsEngine()
        var reports: [AnalyticsReport] = []
        // No breakdowns for the periods whose rows store none (days): they are never written.
        for user in batch.users { reports += engine.reports(for: user, context: context, detailed: ReportWriter.storesReport) }
        summary.engine = clock.now - started

        started = clock.now
        let writer = writer
        let finalReports = reports
        summary.rowsWritten = try await pool.withConnection { try writer.replace(users: users, reports: finalReports, runID: runID, on: $0) }
        summary.rowsUnchanged = finalReports.count - summary.rowsWritten
        summary.write = clock.now - started

        started = clock.now
        try await ReportWriter.invalidateCache(users: users, redis: redis)
        summary.cache = clock.now - started
        return summary
    }
}
