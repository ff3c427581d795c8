import Foundation
import Testing
import TestSupport
import TMCore

/// `CoalescedReads`: readers that ask while a fetch is in flight are served together by the next
/// fetch, which starts after they asked — so nothing written before a read is missed.
@Suite struct CoalescedReadsTests {
    /// A store whose fetches can be held at a gate, counting fetches and their keys.
    final class Store: Sendable {
        let values = Locked<[String: Int]>([:])
        let fetches = Locked<[[String]]>([])
        let held = Locked(false)
        let holding = Locked(0)

        func fetch(_ keys: [String]) async throws -> [String: Int] {
            let snapshot = values.withLock { $0 }
            fetches.withLock { $0.append(keys) }
            holding.withLock { $0 += 1 }
            while held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(2)) }
            holding.withLock { $0 -= 1 }
            if keys.contains("broken") { throw CancellationError() }
            return snapshot.filter { keys.contains($0.key) }
        }
    }

    @Test func readersWaitingTogetherShareOneFetchThatStartedAfterThemAndSeeTheirOwnKeys() async throws {
        let store = Store()
        let reads = CoalescedReads<String, Int> { try await store.fetch($0) }
        store.values.withLock { $0 = ["a": 1, "b": 2] }
        store.held.withLock { $0 = true }
        let first = Task { try await reads.read("a") }
        try await eventually("the first fetch in flight") { store.holding.withLock { $0 } == 1 }
        // Written while the first fetch is in flight (after it read the store): later readers see it.
        store.values.withLock { $0 = ["a": 10, "b": 20, "c": 30] }
        let later = ["a", "b", "c", "a", "missing"].map { key in Task { try await reads.read(key) } }
        // The later readers queue: they cannot start a fetch of their own while one runs.
        try await eventually("the later readers waiting") { reads.waiting == later.count }
        store.held.withLock { $0 = false }
        #expect(try await first.value == 1, "the first reader's fetch read the store before the write")
        var values: [Int?] = []
        for task in later { values.append(try await task.value) }
        #expect(values == [10, 20, 30, 10, nil], "each later reader sees the write, for its own key; a missing key is nil")
        let fetches = store.fetches.withLock { $0 }
        #expect(fetches.count == 2, "one fetch for the first reader, one for all the later ones: \(fetches)")
        #expect(fetches.last.map(Set.init) == ["a", "b", "c", "missing"], "each key once")
    }

    @Test func aFailedFetchFailsItsWaveOnlyAndTheNextReaderFetchesAgain() async throws {
        let store = Store()
        let reads = CoalescedReads<String, Int> { try await store.fetch($0) }
        store.values.withLock { $0 = ["a": 1] }
        await #expect(throws: CancellationError.self) { try await reads.read("broken") }
        #expect(try await reads.read("a") == 1)
        #expect(store.fetches.withLock { $0.count } == 2)
    }
}
