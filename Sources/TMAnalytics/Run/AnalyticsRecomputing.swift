import Foundation
import TMCore
import TMPostgres
import TMRedis

/// What a run asks of the recomputation: replace these users' analytics (rows tagged with
/// `runID`, cache keys invalidated), all of them or throw. `AnalyticsPipeline` is the one
/// implementation the function and the CLI use; tests count calls through their own.
public protocol AnalyticsRecomputing: Sendable {
    func recompute(users: [UUID], runID: UUID?) async throws -> RecomputeSummary
}

extension AnalyticsPipeline: AnalyticsRecomputing {}

extension AnalyticsBatchServices {
    /// The recomputation the function and `tm analytics recompute` use: the one place that picks it.
    public static func standardRecomputer(pool: PostgresPool, redis: RedisClient, environment: TMEnvironment) throws -> any AnalyticsRecomputing {
        try AnalyticsPipeline(pool: pool, redis: redis, environment: environment)
    }
}
