import Foundation
import TMQueue
import TMRedis

/// Fires one slot: reserve its row, enqueue its message under the slot's idempotency key, mark it
/// enqueued. Used by the leader, `tm schedules fire` and `tm schedules backfill` alike.
///
/// Guarantees: a slot's message is enqueued at most once whatever races (two leaders, a leader and
/// an operator, a retry after a crash): the unique row decides who fires, and a second enqueue
/// under the same key returns the first message. A row left `pending` by a crash is completed by
/// `complete`, enqueueing again under the same key — but only while the first send's idempotency
/// record must still exist (`FiringStore.clearToSend`); later the row becomes `unconfirmed` and
/// nothing is sent. Exactly one caller reports a slot `fired`/`completed`: the one whose write
/// confirmed the row; every other concurrent caller reports `firedByAnother`, whatever the timing.
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

    /// What `fire` or `complete` did.
    public enum Outcome: Sendable, Equatable {
        /// This call reserved the slot, enqueued its message and confirmed it.
        case fired(messageID: String)
        /// The slot had been reserved before (a crash, a buffered slot, a concurrent caller); this call confirmed it.
        case completed(messageID: String)
        /// Another writer confirmed the slot: its message is the slot's.
        case firedByAnother(messageID: String)
        /// The slot was already handled (skipped or buffered) by someone else.
        case alreadyHandled(Firing)
        /// The slot's first enqueue was never confirmed and can no longer be told apart from no
        /// enqueue at all: it is not sent again (see `Firing.State.unconfirmed`).
        case unconfirmed(Firing)

        /// The message id, when the slot is enqueued.
        public var messageID: String? {
            switch self {
            case .fired(let id), .completed(let id), .firedByAnother(let id): return id
            case .alreadyHandled(let firing), .unconfirmed(let firing): return firing.messageID
            }
        }
    }

    public func fire(
        _ schedule: ScheduleManifest, at instant: Date, trigger: Firing.Trigger, by authority: @Sendable () throws -> FiringAuthority
    ) async throws -> Outcome {
        let queue = try resolver.queue(for: schedule.target)
        let slot = schedule.slot(instant)
        switch try await store.reserve(slot, state: .pending, trigger: trigger, queue: queue.name, by: try authority()) {
        case .created:
            let outcome = try await complete(schedule, slot: slot, queue: queue, jitter: trigger.isScheduled, by: authority)
            if case .completed(let id) = outcome { return .fired(messageID: id) }
            return outcome
        case .existing(let firing) where firing.state == .pending:
            // Interrupted, or still being fired by someone else: whoever confirms the row first fired it.
            return try await complete(schedule, slot: slot, queue: queue, jitter: trigger.isScheduled, by: authority)
        case .existing(let firing):
            return .alreadyHandled(firing)
        }
    }

    /// Enqueues a reserved (pending or buffered) slot and marks it enqueued: `.completed` when this
    /// call's write confirmed the row, `.firedByAnother` when another writer's did. `jitter` delays
    /// the message by the schedule's jitter (scheduled slots; an operator's fire or backfill goes at once).
    @discardableResult
    public func complete(
        _ schedule: ScheduleManifest, slot: Slot, queue: QueueManifest, jitter: Bool = true,
        by authority: @Sendable () throws -> FiringAuthority
    ) async throws -> Outcome {
        // Checked before the enqueue too: a leader that knows it is deposed sends nothing.
        _ = try authority()
        switch try await store.clearToSend(slot, window: Self.resendWindow(queue), by: try authority()) {
        case .send: break
        case .settled(let firing) where firing.state == .enqueued: return .firedByAnother(messageID: firing.messageID ?? "")
        case .settled(let firing): return .alreadyHandled(firing)
        case .unconfirmed(let firing): return .unconfirmed(firing)
        }
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog([queue]))
        let result = try await producer.enqueue(queue.name, OutgoingMessage(
            payload: schedule.message(for: slot.instant), key: slot.key, delay: jitter ? delay(schedule, slot) : nil, shardKey: slot.key))
        if try await store.markEnqueued(slot, queue: queue.name, messageID: result.id, by: try authority()) {
            return .completed(messageID: result.id)
        }
        // Someone else confirmed the row between our clearance and our mark (same key: same message).
        let firing = try await store.firing(slot)
        guard let firing, firing.state != .enqueued else { return .firedByAnother(messageID: firing?.messageID ?? result.id) }
        return .alreadyHandled(firing)
    }

    /// How long after a slot's first send it may be sent again under its key: while the key's
    /// record must still exist (the queue keeps it `retention.completed` from the enqueue), less a
    /// margin for the clocks of Postgres and Redis disagreeing.
    static func resendWindow(_ queue: QueueManifest) -> Duration {
        let retention = queue.retention.completed
        return retention - min(retention / 10, .seconds(60))
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
