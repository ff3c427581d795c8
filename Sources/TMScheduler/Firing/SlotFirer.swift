import Foundation
import TMQueue
import TMRedis

/// Fires one slot: reserve its row, enqueue its message under the slot's idempotency key, mark it
/// enqueued. Used by the leader, `tm schedules fire` and `tm schedules backfill` alike.
///
/// Guarantees: a slot's message is enqueued at most once whatever races (two leaders, a leader and
/// an operator, a retry after a crash): the unique row decides who fires, and a second enqueue
/// under the same key returns the first message. A row left `pending` by a crash is completed by
/// `complete`, enqueueing again under the same key (a no-op when the first enqueue had landed).
/// Nothing is written for a target that cannot be resolved.
public struct SlotFirer: Sendable {
    public let store: FiringStore
    public let redis: RedisClient
    public let resolver: any ScheduleTargetResolving

    public init(store: FiringStore, redis: RedisClient, resolver: any ScheduleTargetResolving) {
        self.store = store
        self.redis = redis
        self.resolver = resolver
    }

    /// What `fire` did.
    public enum Outcome: Sendable, Equatable {
        /// This call enqueued the slot's message.
        case fired(messageID: String)
        /// The slot had been reserved but not confirmed (a crash); this call completed it.
        case completed(messageID: String)
        /// Another writer was firing the slot at the same moment: its message is the slot's.
        case firedByAnother(messageID: String)
        /// The slot was already handled (fired, skipped or buffered) by someone else.
        case alreadyHandled(Firing)
    }

    public func fire(
        _ schedule: ScheduleManifest, at instant: Date, trigger: Firing.Trigger, by authority: @Sendable () throws -> FiringAuthority
    ) async throws -> Outcome {
        let queue = try resolver.queue(for: schedule.target)
        let slot = schedule.slot(instant)
        switch try await store.reserve(slot, state: .pending, trigger: trigger, queue: queue.name, by: try authority()) {
        case .created:
            return .fired(messageID: try await complete(schedule, slot: slot, queue: queue, jitter: trigger.isScheduled, by: authority).id)
        case .existing(let firing) where firing.state == .pending:
            // Interrupted, or still being fired by someone else: enqueueing under the slot's key
            // again tells which (a duplicate means the message was already there).
            let result = try await complete(schedule, slot: slot, queue: queue, jitter: trigger.isScheduled, by: authority)
            return result.duplicate ? .firedByAnother(messageID: result.id) : .completed(messageID: result.id)
        case .existing(let firing):
            return .alreadyHandled(firing)
        }
    }

    /// Enqueues a reserved (pending or buffered) slot and marks it enqueued. The result is a
    /// duplicate when the slot's message had been enqueued already. `jitter` delays the message by
    /// the schedule's jitter (scheduled slots; an operator's fire or backfill goes at once).
    @discardableResult
    public func complete(
        _ schedule: ScheduleManifest, slot: Slot, queue: QueueManifest, jitter: Bool = true,
        by authority: @Sendable () throws -> FiringAuthority
    ) async throws -> EnqueueResult {
        // Checked before the enqueue too: a leader that knows it is deposed sends nothing.
        _ = try authority()
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog([queue]))
        let result = try await producer.enqueue(queue.name, OutgoingMessage(
            payload: schedule.message(for: slot.instant), key: slot.key, delay: jitter ? delay(schedule, slot) : nil, shardKey: slot.key))
        try await store.markEnqueued(slot, queue: queue.name, messageID: result.id, by: try authority())
        return result
    }

    /// Records a slot that does not fire now (skipped, or buffered to fire later).
    @discardableResult
    public func record(
        _ schedule: ScheduleManifest, at instant: Date, _ state: Firing.State, trigger: Firing.Trigger, queue: String?,
        detail: String, by authority: FiringAuthority
    ) async throws -> FiringStore.Reservation {
        try await store.reserve(schedule.slot(instant), state: state, trigger: trigger, queue: queue, detail: detail, by: authority)
    }

    /// The jitter, counted from the slot: a slot fired late waits only for what is left of it.
    func delay(_ schedule: ScheduleManifest, _ slot: Slot) -> Duration? {
        let jitter = slot.jitter(maximum: schedule.jitter)
        guard jitter > .zero else { return nil }
        let elapsed = Date().timeIntervalSince(slot.instant)
        let remaining = jitter - .milliseconds(Int64(elapsed * 1000))
        return remaining > .zero ? remaining : nil
    }
}

extension Firing.Trigger {
    /// Fired by the schedule itself (on time, or catching up), as opposed to by an operator.
    var isScheduled: Bool { self == .schedule || self == .catchUp }
}

extension ScheduleManifest {
    /// Slot `instant` of this schedule.
    public func slot(_ instant: Date) -> Slot { Slot(schedule: name, instant: instant, timeZone: times.timeZone) }
}
