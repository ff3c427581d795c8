import Foundation

/// Stands in for `AnalyticsPipeline` until the bulk store lands: every recomputation fails, so a
/// run never records users as done that were not recomputed.
public struct AnalyticsPipelinePending: AnalyticsRecomputing {
    public init() {}
    public func recompute(users: [UUID], runID: UUID?) async throws -> AnalyticsRecomputeFigures {
        throw PipelinePendingError()
    }

    struct PipelinePendingError: Error, CustomStringConvertible {
        var description: String { "the analytics pipeline (AnalyticsPipeline) is not built yet" }
    }
}
