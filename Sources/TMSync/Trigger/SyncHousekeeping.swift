import Foundation
import Logging
import TMPostgres

/// What every sync-trigger pass does besides enqueueing syncs, so nothing the syncs leave behind
/// waits forever: sync runs that can no longer finish are closed, the trade-events outbox is
/// drained, and events past its retention are dropped and counted.
///
/// Guarantees: a `sync_logs` row open longer than `abandonRunsAfter` becomes `abandoned` with the
/// reason (no run lasts that long: sync-consumer is killed after its timeout and kill grace, 95 s);
/// up to `drainLimit` waiting events of any account are offered to trade-events, oldest first;
/// events older than the outbox's retention are dropped only with a `trade_event_outbox_drops` row.
public struct SyncHousekeeping: Sendable {
    public let pool: PostgresPool
    public let outbox: TradeEventOutbox
    /// Longer than any sync run can last (sync-consumer's timeout + kill grace, with a wide margin).
    public var abandonRunsAfter: Duration = .seconds(600)
    public var drainLimit = 5_000

    public init(pool: PostgresPool, outbox: TradeEventOutbox) {
        self.pool = pool
        self.outbox = outbox
    }

    public struct Report: Sendable, Equatable {
        public var abandonedRuns = 0
        public var published = 0
        public var droppedEvents = 0
    }

    public func run(logger: Logger) async throws -> Report {
        var report = Report()
        report.abandonedRuns = try await SyncLog.abandonStale(pool, after: abandonRunsAfter)
        if report.abandonedRuns > 0 { logger.warning("sync runs abandoned", metadata: ["count": "\(report.abandonedRuns)"]) }
        report.published = await outbox.publish(account: nil, limit: drainLimit, logger: logger).published
        report.droppedEvents = try await outbox.expire(logger: logger)
        return report
    }
}
