import Foundation
import TMCore
import TMFunctionRuntime
import TMQueue

/// Gathers deliveries into batches of up to `size`, waiting at most `window` after the first one,
/// then hands each batch to `flush` and answers every delivery with its own outcome.
///
/// Deliveries come in groups (the messages of one queue read, or one alone); a group may be split
/// across two batches, and its caller is resumed once, when all of its deliveries are answered.
///
/// Guarantees: every submitted delivery is answered exactly once — by the batch's outcome, or with
/// `CancellationError` if its caller is cancelled before the batch ran (the consumer then leaves
/// the message pending for reclaim); a batch never holds more than `size` deliveries; a redelivered
/// message (`Delivery.isRedelivery`) is a batch of its own, at once.
final class BatchCollector: Sendable {
    typealias Answer = Result<String?, any Error>

    /// The deliveries of one `submit`, waiting for their answers.
    final class Group: Sendable {
        private struct State {
            var answers: [Answer?]
            var remaining: Int
            var continuation: CheckedContinuation<[Answer], Never>?
        }
        private let state: Locked<State>
        /// When the group was submitted (Unix ms), for a stage trace (`StageTrace`; 0 when it is off).
        let submittedAt: Double

        init(count: Int, _ continuation: CheckedContinuation<[Answer], Never>) {
            state = Locked(State(answers: Array(repeating: nil, count: count), remaining: count, continuation: continuation))
            submittedAt = StageTrace.stamp()
        }

        /// Answers one delivery once; later answers (a cancellation racing the batch) are ignored.
        func answer(_ index: Int, _ answer: Answer) {
            let done = state.withLock { state -> (CheckedContinuation<[Answer], Never>, [Answer])? in
                guard state.answers[index] == nil else { return nil }
                state.answers[index] = answer
                state.remaining -= 1
                guard state.remaining == 0, let continuation = state.continuation else { return nil }
                state.continuation = nil
                return (continuation, state.answers.map { $0! })
            }
            if let (continuation, answers) = done { continuation.resume(returning: answers) }
        }

        func isAnswered(_ index: Int) -> Bool { state.withLock { $0.answers[index] != nil } }

        /// Cancellation: every delivery not yet answered gets `CancellationError`.
        func cancel() {
            let count = state.withLock { $0.answers.count }
            for index in 0..<count { answer(index, .failure(CancellationError())) }
        }
    }

    /// One delivery waiting for its batch's outcome.
    struct Pending: Sendable {
        let delivery: Delivery
        let group: Group
        let index: Int

        func answer(_ answer: Answer) { group.answer(index, answer) }
        var isAnswered: Bool { group.isAnswered(index) }
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

    /// Answers each delivery, in order (`CancellationError` for those cancelled before they ran).
    func submit(_ deliveries: [Delivery]) async -> [Answer] {
        guard !deliveries.isEmpty else { return [] }
        let holder = Locked<Group?>(nil)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let group = Group(count: deliveries.count, continuation)
                holder.withLock { $0 = group }
                if Task.isCancelled { group.cancel() }
                enqueue(deliveries.enumerated().map { Pending(delivery: $1, group: group, index: $0) })
            }
        } onCancel: {
            holder.withLock { $0 }?.cancel()
        }
    }

    private func enqueue(_ arriving: [Pending]) {
        // A redelivered message (its batch's process may have crashed on a batch-mate) runs alone.
        let runsAlone: (Pending) -> Bool = { $0.delivery.isRedelivery }
        for pending in arriving where runsAlone(pending) { Task { await run([pending]) } }
        let (full, startTimer, generation) = state.withLock { state -> ([[Pending]], Bool, Int) in
            let wasEmpty = state.pending.isEmpty
            state.pending += arriving.filter { !runsAlone($0) }
            var full: [[Pending]] = []
            while state.pending.count >= size || (window == .zero && !state.pending.isEmpty) {
                let cut = min(size, state.pending.count)
                full.append(Array(state.pending[..<cut]))
                state.pending.removeFirst(cut)
                state.generation += 1
            }
            // A timer for what is left, if it is new (a cut retires the previous timer).
            return (full, !state.pending.isEmpty && (wasEmpty || !full.isEmpty), state.generation)
        }
        for batch in full { Task { await run(batch) } }
        if startTimer {
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
