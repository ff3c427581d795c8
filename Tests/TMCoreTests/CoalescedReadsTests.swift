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

    /// A store whose n-th fetch (from 1) waits until `released >= n`, so a test holds any fetch.
    final class GatedStore: Sendable {
        let values = Locked<[String: Int]>([:])
        let fetches = Locked<[[String]]>([])
        let released = Locked(0)
        let holding = Locked(0)
        /// The task each fetch ran in.
        let tasks = Locked<[Int?]>([])

        func fetch(_ keys: [String]) async throws -> [String: Int] {
            let snapshot = values.withLock { $0 }
            let number = fetches.withLock { $0.append(keys); return $0.count }
            tasks.withLock { $0.append(withUnsafeCurrentTask { $0?.hashValue }) }
            holding.withLock { $0 += 1 }
            while released.withLock({ $0 }) < number { try await Task.sleep(for: .milliseconds(2)) }
            holding.withLock { $0 -= 1 }
            return snapshot.filter { keys.contains($0.key) }
        }
    }

    @Test func aLoneReaderFetchesFromItsOwnTaskAndSoDoesTheNextOne() async throws {
        let store = GatedStore()
        store.released.withLock { $0 = .max }
        store.values.withLock { $0 = ["a": 1] }
        let reads = CoalescedReads<String, Int> { try await store.fetch($0) }
        for expected in [1, 2] {
            store.values.withLock { $0 = ["a": expected] }
            let reader = withUnsafeCurrentTask { $0?.hashValue }
            #expect(try await reads.read("a") == expected, "a lone read sees what was written before it")
            #expect(store.tasks.withLock { $0.last ?? nil } == reader, "read \(expected): the fetch ran in the reader's own task, no drain task between")
        }
        #expect(store.fetches.withLock { $0.count } == 2)
        #expect(reads.waiting == 0)
    }

    @Test func readersArrivingDuringAnyFetchAreAnsweredByALaterFetchThatSeesWhatWasWrittenMeanwhile() async throws {
        let store = GatedStore()
        let reads = CoalescedReads<String, Int> { try await store.fetch($0) }
        store.values.withLock { $0 = ["a": 1] }
        // Fetch 1: a lone reader's own, held.
        let lone = Task { try await reads.read("a") }
        try await eventually("the lone fetch in flight") { store.holding.withLock { $0 } == 1 }
        store.values.withLock { $0 = ["a": 2, "b": 2] }
        let second = ["a", "b"].map { key in Task { try await reads.read(key) } }
        try await eventually("the second readers waiting") { reads.waiting == 2 }
        // Fetch 2: the wave of the second readers, begun after they asked; held in turn.
        store.released.withLock { $0 = 1 }
        #expect(try await lone.value == 1, "the lone read's own fetch began before the write")
        try await eventually("the second wave's fetch in flight") {
            store.fetches.withLock { $0.count } == 2 && store.holding.withLock { $0 } == 1
        }
        store.values.withLock { $0 = ["a": 3, "b": 3] }
        let third = ["b", "a"].map { key in Task { try await reads.read(key) } }
        try await eventually("the third readers waiting") { reads.waiting == 2 }
        store.released.withLock { $0 = .max }
        var seen: [Int?] = []
        for task in second + third { seen.append(try await task.value) }
        #expect(seen == [2, 2, 3, 3], "each wave sees what was written before its readers asked")
        #expect(store.fetches.withLock { $0.count } == 3, "a fetch per wave: lone, second, third")
        #expect(reads.waiting == 0)
    }
}
