import Foundation
import TMPostgres
import TMRedis

/// What a run asks of the recomputation: replace these users' analytics (rows tagged with
/// `runID`, cache keys invalidated). `AnalyticsPipeline` is the one implementation the functions
/// and the CLI use; tests count calls through their own.
public protocol AnalyticsRecomputing: Sendable {
    /// Recomputes `users` (all of them, or throws) and returns what it did.
    func recompute(users: [UUID], runID: UUID?) async throws -> AnalyticsRecomputeFigures
}

/// What one recomputation did, as a run counts it.
public struct AnalyticsRecomputeFigures: Sendable, Hashable {
    public var users: Int
    public var fills: Int
    public var rows: Int

    public init(users: Int, fills: Int, rows: Int) {
        self.users = users
        self.fills = fills
        self.rows = rows
    }
}

extension AnalyticsBatchServices {
    /// The recomputation the function and `tm analytics recompute` use: the one place that picks it.
    public static func standardRecomputer(pool: PostgresPool, redis: RedisClient) throws -> any AnalyticsRecomputing {
        AnalyticsPipelinePending()
    }
}
