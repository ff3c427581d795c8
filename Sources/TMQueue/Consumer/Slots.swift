import TMCore

/// Counts free handler slots, so a consumer never fetches more messages than it can start at once.
///
/// Guarantees: `acquire` suspends (without blocking a thread) until at least one slot is free and
/// takes up to `max`; waiters are served in arrival order; `close()` wakes every waiter with 0.
final class Slots: Sendable {
    private struct State {
        var free: Int
        var closed = false
        var waiters: [(max: Int, continuation: CheckedContinuation<Int, Never>)] = []
    }
    private let state: Locked<State>
    let capacity: Int

    init(_ capacity: Int) {
        self.capacity = capacity
        state = Locked(State(free: capacity))
    }

    func acquire(max: Int) async -> Int {
        await withCheckedContinuation { continuation in
            let granted: Int? = state.withLock { state in
                if state.closed { return 0 }
                if state.free > 0 && state.waiters.isEmpty {
                    let n = min(max, state.free)
                    state.free -= n
                    return n
                }
                state.waiters.append((max, continuation))
                return nil
            }
            if let granted { continuation.resume(returning: granted) }
        }
    }

    func release(_ count: Int = 1) {
        guard count > 0 else { return }
        let wake: [(CheckedContinuation<Int, Never>, Int)] = state.withLock { state in
            state.free += count
            var wake: [(CheckedContinuation<Int, Never>, Int)] = []
            while state.free > 0, !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                let n = min(waiter.max, state.free)
                state.free -= n
                wake.append((waiter.continuation, n))
            }
            return wake
        }
        for (continuation, n) in wake { continuation.resume(returning: n) }
    }

    func close() {
        let waiters = state.withLock { state -> [CheckedContinuation<Int, Never>] in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(returning: 0) }
    }
}
