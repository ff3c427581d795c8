import Foundation
import TMCore
import TMQueue

/// Announces committed notifications on `notifications` without holding up its caller: the ids
/// are handed over and the caller goes on (a price evaluator answers its batch), while one drain
/// task sends everything handed over so far in one round trip, then what arrived meanwhile.
///
/// Guarantees: every id handed over is sent (once per hand-over, the message keyed
/// `notification:<id>` so a repeat enqueues once) unless the process dies or Redis refuses first;
/// those rows stay `pending` and `NotificationSweep` announces them — the row is the truth, exactly
/// as for `NotificationOutbox.announce`. Hand ids over only after their rows committed.
public final class OutboxAnnouncer: Sendable {
    let producer: QueueProducer?
    let queue: String
    private let state = Locked(State())

    private struct State {
        var pending: [UUID] = []
        var drain: Task<Void, Never>?
    }

    /// `producer` nil: nothing is announced (the notifier's sweep finds the rows).
    public init(producer: QueueProducer?, queue: String = NotificationOutbox.queue) {
        self.producer = producer
        self.queue = queue
    }

    /// Hands committed notifications over; returns at once.
    public func announce(_ ids: [UUID]) {
        guard producer != nil, !ids.isEmpty else { return }
        state.withLock { s in
            s.pending.append(contentsOf: ids)
            if s.drain == nil { s.drain = Task { await self.drain() } }
        }
    }

    /// Waits until everything handed over so far has been sent (or refused).
    public func settled() async {
        var waited: Task<Void, Never>?
        while let drain = state.withLock({ $0.drain }), drain != waited {
            await drain.value
            waited = drain
        }
    }

    private func drain() async {
        while true {
            let ids = state.withLock { s -> [UUID] in
                let taken = s.pending
                s.pending.removeAll(keepingCapacity: true)
                if taken.isEmpty { s.drain = nil }
                return taken
            }
            if ids.isEmpty { return }
            await NotificationOutbox.announce(ids, producer: producer, queue: queue)
        }
    }
}
