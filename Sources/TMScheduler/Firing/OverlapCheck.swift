import Foundation
import TMQueue
import TMRedis

/// Tells whether the run before a slot is still going, by asking its queue: the previous fired
/// slot's idempotency record says `queued` while its message waits, is retried or runs.
///
/// Guarantees: a previous slot still `pending` (being enqueued) counts as running; a record that
/// expired (past the queue's retention) or a previous run on a different queue (the target was
/// changed) counts as finished — there is nothing left there to overlap with.
struct OverlapCheck: Sendable {
    let store: FiringStore
    let redis: RedisClient

    func previousRunIsActive(_ schedule: ScheduleManifest, before slot: Date, queue: QueueManifest) async throws -> Bool {
        guard let previous = try await store.previousRun(of: schedule.name, before: slot) else { return false }
        if previous.state == .pending { return true }
        guard previous.queue == queue.name else { return false }
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog([queue]))
        let record = try await producer.record(queue: queue.name, key: previous.key, shardKey: previous.key)
        return record.map { !$0.isFinished } ?? false
    }
}
