import Foundation

/// Reads coalesced while one is in flight: callers that ask while a fetch is running wait for the
/// next fetch, which serves all of them in one call (one Redis pipeline, one query) — the read-side
/// twin of a group commit. Under load, N concurrent readers cost one round trip per "wave" instead
/// of N; a caller alone is fetched at once, from its own task (no drain task spawned: a lone read
/// costs the fetch's own hops and no more — two thread wake-ups fewer than through the drain).
///
/// Guarantees:
/// - fresh: every caller is answered by a fetch that STARTED AFTER it asked, so a value written
///   before the call is seen (no cache: nothing is kept between fetches);
/// - each caller gets the value of its own key (nil when the fetch found none), or the fetch's error;
/// - at most one fetch runs at a time, and at most `maxKeys` distinct keys go into one;
/// - a caller that finds no fetch running runs its own in its task (so that task's cancellation and
///   task-locals apply to it); callers that find one running are served by the next.
public final class CoalescedReads<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public typealias Fetch = @Sendable ([Key]) async throws -> [Key: Value]
    private let fetch: Fetch
    private let maxKeys: Int
    private let state = Locked(State())

    private struct State {
        var waiting: [(key: Key, done: CheckedContinuation<Value?, Error>)] = []
        var fetching = false
    }

    /// Readers waiting for the next fetch now (for tests).
    public var waiting: Int { state.withLock { $0.waiting.count } }

    public init(maxKeys: Int = 256, fetch: @escaping Fetch) {
        self.fetch = fetch
        self.maxKeys = max(1, maxKeys)
    }

    /// The value of `key` as a fetch started after this call finds it.
    public func read(_ key: Key) async throws -> Value? {
        if state.withLock({ state -> Bool in
            // Not fetching means no one waits: this caller is alone and fetches at once, itself.
            if state.fetching { return false }
            state.fetching = true
            return true
        }) {
            defer { finishLoneFetch() }
            return try await fetch([key])[key]
        }
        return try await withCheckedThrowingContinuation { (done: CheckedContinuation<Value?, Error>) in
            let lead = state.withLock { state -> Bool in
                state.waiting.append((key, done))
                if state.fetching { return false }
                state.fetching = true
                return true
            }
            if lead { Task { await self.drain() } }
        }
    }

    /// After a lone caller's own fetch: readers that asked meanwhile get a fetch of their own (that
    /// one began before them, so it cannot answer them).
    private func finishLoneFetch() {
        let waited = state.withLock { state -> Bool in
            if state.waiting.isEmpty { state.fetching = false }
            return !state.waiting.isEmpty
        }
        if waited { Task { await self.drain() } }
    }

    /// Fetches for whoever waits, wave after wave, until no one does.
    private func drain() async {
        while true {
            let wave = state.withLock { state -> [(key: Key, done: CheckedContinuation<Value?, Error>)] in
                var keys = Set<Key>()
                var taken = 0
                for entry in state.waiting {
                    if !keys.contains(entry.key) {
                        if keys.count == maxKeys { break }
                        keys.insert(entry.key)
                    }
                    taken += 1
                }
                let wave = Array(state.waiting.prefix(taken))
                state.waiting.removeFirst(taken)
                if wave.isEmpty { state.fetching = false }
                return wave
            }
            if wave.isEmpty { return }
            var keys: [Key] = []
            var seen = Set<Key>()
            for entry in wave where seen.insert(entry.key).inserted { keys.append(entry.key) }
            do {
                let values = try await fetch(keys)
                for entry in wave { entry.done.resume(returning: values[entry.key]) }
            } catch {
                for entry in wave { entry.done.resume(throwing: error) }
            }
        }
    }
}
