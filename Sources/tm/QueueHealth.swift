import Foundation
import TMCore
import TMPostgres
import TMQueue
import TMSync

/// What `tm queues` and `tm doctor` both flag: queues filling with nobody draining them
/// (`QueueAlert`), and a trade-events outbox whose events wait too long or were dropped.
enum QueueHealth {
    /// The outbox's status from Postgres, or the reason it could not be read.
    static func outbox(_ environment: TMEnvironment) -> Result<TradeEventOutbox.Status, any Error> {
        Result {
            var configuration = try PostgresConfiguration.fromEnvironment(environment)
            configuration.connectTimeout = min(configuration.connectTimeout, .seconds(3))
            let connection = try PostgresConnection(configuration: configuration)
            defer { connection.close() }
            return try TradeEventOutbox.status(connection)
        }
    }

    /// The outbox's problem as an alert on the trade-events queue, or nil when it is healthy.
    static func outboxAlert(_ status: TradeEventOutbox.Status) -> QueueAlert? {
        status.problem(threshold: TradeEventOutbox.staleAfter).map { QueueAlert(kind: .outboxWaiting, message: $0) }
    }

    /// The statuses with the outbox's alert added to trade-events (when listed and the outbox could
    /// be read; an unreadable outbox is left out, not guessed).
    static func withOutbox(_ statuses: [QueueStatus], _ outbox: Result<TradeEventOutbox.Status, any Error>) -> [QueueStatus] {
        guard case .success(let status) = outbox, let alert = outboxAlert(status) else { return statuses }
        return statuses.map { queue in
            var queue = queue
            if queue.queue == "trade-events" { queue.alerts.append(alert) }
            return queue
        }
    }
}
