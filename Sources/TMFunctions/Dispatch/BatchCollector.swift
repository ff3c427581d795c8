import Foundation
import TMCore
import TMQueue

/// Gathers deliveries into batches of up to `size`, waiting at most `window` after the first one,
/// then hands each batch to `flush` and answers every delivery's handler with its own outcome.
///
/// Guarantees: every submitted delivery is answered exactly once — by the batch's outcome, or with
/// `CancellationError` if its handler is cancelled before the batch ran (the consumer then leaves
/// the message pending for reclaim); a batch never holds more than `size` deliveries.
final class BatchCollector: Sendable {
    typealias Answer = Result<String?, any Error>

    /// One delivery waiting for its batch's outcome.
    final class Pending: Sendable {
        let delivery: Delivery
        private let continuation: Locked<CheckedContinuation<String?, any Error>?>

        init(_ delivery: Delivery, _ continuation: CheckedContinuation<String?, any Error>) {
            self.delivery = delivery
            self.continuation = Locked(continuation)
        }

        /// Answers once; later answers (a cancellation racing the batch) are ignored.
        func answer(_ answer: Answer) {
            continuation.withLock { stored in
                stored?.resume(with: answer)
                stored = nil
            }
        }

        var isAnswered: Bool { continuation.withLock { $0 == nil } }
    }

    private let size: Int
    private let window: Duration
    private let flush: @Sendable ([Pending]) async -> Void
    private let state = Locked(State())

    private struct State {
        var pending: [Pending] = []
        var generation = 0
    }

    init(size: Int, window: Duration, flush: @escaping @Sendable ([Pending]) async -> Void) {
        self.size = max(1, size)
        self.window = window
        self.flush = flush
    }

    func submit(_ delivery: Delivery) async throws -> String? {
        let holder = Locked<Pending?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let pending = Pending(delivery, continuation)
                holder.withLock { $0 = pending }
                if Task.isCancelled { pending.answer(.failure(CancellationError())) }
                enqueue(pending)
            }
        } onCancel: {
            holder.withLock { $0 }?.answer(.failure(CancellationError()))
        }
    }

    private func enqueue(_ pending: Pending) {
        let (full, startTimer, generation) = state.withLock { state -> ([Pending]?, Bool, Int) in
            state.pending.append(pending)
            if state.pending.count >= size || window == .zero {
                defer { state.pending.removeAll(); state.generation += 1 }
                return (state.pending, false, state.generation)
            }
            return (nil, state.pending.count == 1, state.generation)
        }
        if let full {
            Task { await run(full) }
        } else if startTimer {
            Task {
                try? await Task.sleep(for: window)
                let due = state.withLock { state -> [Pending]? in
                    guard state.generation == generation, !state.pending.isEmpty else { return nil }
                    defer { state.pending.removeAll(); state.generation += 1 }
                    return state.pending
                }
                if let due { await run(due) }
            }
        }
    }

    private func run(_ batch: [Pending]) async {
        // Handlers cancelled while waiting (shutdown past its grace) are left out of the batch.
        let live = batch.filter { !$0.isAnswered }
        if !live.isEmpty { await flush(live) }
    }
}
