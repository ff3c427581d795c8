import Foundation
import TMCore
import TMPostgres
import TMRedis

extension AnalyticsRefreshFunction {
    /// The function as analytics-refresh runs it, from the environment a function process gets
    /// (TM_DATABASE_URL, TM_REDIS_URL, TM_ANALYTICS_RISK_FREE_RATE): each user it holds is
    /// recomputed by the bulk pipeline (`AnalyticsPipeline.recompute(users:runID: nil)`, which
    /// replaces the rows and deletes the cached copies).
    public static func open(environment: TMEnvironment = .current(), poolSize: Int = 4) async throws -> AnalyticsRefreshFunction {
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "analytics-refresh")
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: poolSize)
        let pipeline = try AnalyticsPipeline(pool: pool, redis: redis, environment: environment)
        let refresher = AnalyticsRefresher(coordinator: RefreshCoordinator(redis: redis)) { users in
            _ = try await pipeline.recompute(users: users, runID: nil)
        }
        return AnalyticsRefreshFunction(pool: pool, refresher: refresher)
    }
}
