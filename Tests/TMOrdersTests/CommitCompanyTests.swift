import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMPostgres

/// The group commit's wait for company against real Postgres and broker-sim: a write whose company is
/// known to be about to write (another handler has begun a message and not made its first write) waits
/// for it and they share one transaction; a write with no company coming runs at once without waiting,
/// also while other handlers that have written are still busy (in their broker calls); a handler that
/// never writes holds the others only until the cap (or until it ends). The cap is a gate the test
/// opens: no timing.
@Suite(.serialized) struct CommitCompanyTests {
    /// Opens once; everything waiting on it (and every later wait) then goes on.
    final class Gate: Sendable {
        private let state = Locked<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
        let waits = Locked(0)

        func wait() async {
            waits.withLock { $0 += 1 }
            await withCheckedContinuation { (resume: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiters.append(resume)
                    return false
                }
                if now { resume.resume() }
            }
        }

        func open() {
            for waiter in state.withLock({ state -> [CheckedContinuation<Void, Never>] in
                state.open = true
                defer { state.waiters = [] }
                return state.waiters
            }) { waiter.resume() }
        }
    }

    struct Setup {
        let h: PlacementHarness
        let placer: OrderPlacer
        let commits: OrderCommits
        let cap: Gate

        init() async throws {
            h = try await PlacementHarness()
            placer = h.placer()
            let cap = Gate()
            self.cap = cap
            commits = OrderCommits(pool: h.pool, maxBatch: 64, companyCap: { await cap.wait() })
        }

        /// A message's handler: counted as a writer to come from its start to its first write; `before`
        /// runs first, `after` once the order is placed (the handler still running).
        func handle(_ key: String, before: @escaping @Sendable () async -> Void = {},
                    after: @escaping @Sendable () async -> Void = {}) -> Task<PlacementResult, Error> {
            let (placer, commits, payload) = (placer, commits, h.place(.kite, key: key))
            let fences = PlacementFences(fences: [MessageFence(queue: "orders", messageID: UUID().uuidString, epoch: 1)], commits: commits,
                                         firstDelivery: true)
            return Task {
                try await commits.handling {
                    await before()
                    let result = try await placer.handle(payload, fences: fences)
                    await after()
                    return result
                }
            }
        }

        func expectPlaced(_ key: String) throws {
            #expect(try h.events(key: key) == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED"], "\(key)")
        }
    }

    static func key(_ name: String) -> String { "company-\(name)-\(UUID().uuidString.prefix(6))" }

    /// The task's value once it has ended; a task held forever fails the test instead of hanging it.
    static func settled<T: Sendable>(_ what: String, _ task: Task<T, Error>) async throws -> T {
        let done = Locked(false)
        Task {
            _ = try? await task.value
            done.withLock { $0 = true }
        }
        try await eventually(what) { done.withLock { $0 } }
        return try await task.value
    }

    @Test func writesWithImminentCompanyShareOneTransaction() async throws {
        let s = try await Setup()
        defer { s.cap.open(); Task { await s.h.cleanUp() } }
        let (first, second) = (Self.key("first"), Self.key("second"))
        // The second handler has begun (counted) but waits at its start until the first write waits in the group.
        let go = Gate()
        let b = s.handle(second, before: { await go.wait() })
        try await eventually("the second handler begun") { go.waits.withLock { $0 } == 1 }
        let a = s.handle(first)
        try await eventually("the first write waiting for its company") { s.commits.waiting == 1 }
        go.open()
        #expect(try await Self.settled("the first order", a).state == .accepted)
        #expect(try await Self.settled("the second order", b).state == .accepted)
        let counts = s.commits.counts
        // Both SUBMITTING writes in one transaction; the answers' writes wait for no one (both handlers
        // had written: in their broker calls, not company), so never a second batch.
        #expect(counts.batches == 1 && counts.batchedWriters == 2, "\(counts)")
        #expect(counts.companyWaits == 1 && counts.capsReached == 0 && counts.fallbacks == 0, "\(counts)")
        #expect(s.cap.waits.withLock { $0 } == 1, "only the SUBMITTING write waited")
        try s.expectPlaced(first)
        try s.expectPlaced(second)
        #expect(try s.h.brokerOrderCounts(.kite).values.allSatisfy { $0 == 1 })
    }

    @Test func aWriteWithNoCompanyComingRunsAtOnceWithoutWaiting() async throws {
        let s = try await Setup()
        defer { s.cap.open(); Task { await s.h.cleanUp() } }
        let key = Self.key("lone")
        // The cap never passes: the order can only finish if its writes did not wait.
        #expect(try await Self.settled("the lone order", s.handle(key)).state == .accepted)
        #expect(s.commits.writesAtOnce == 2, "the SUBMITTING write and the answer's, each at once")
        #expect(s.cap.waits.withLock { $0 } == 0 && s.commits.counts.companyWaits == 0, "\(s.commits.counts)")
        try s.expectPlaced(key)
    }

    @Test func aHandlerThatHasWrittenIsNotCompany() async throws {
        let s = try await Setup()
        let busy = Gate()
        defer { busy.open(); s.cap.open(); Task { await s.h.cleanUp() } }
        // A handler that has made its writes and is still running (as one in its broker call is).
        let b = s.handle(Self.key("busy"), after: { await busy.wait() })
        try await eventually("the other handler busy after its writes") { busy.waits.withLock { $0 } == 1 }
        let atOnceBefore = s.commits.writesAtOnce
        let key = Self.key("after")
        // The cap never passes: the order can only finish if its writes did not wait for the busy handler.
        #expect(try await Self.settled("the order beside a busy handler", s.handle(key)).state == .accepted)
        #expect(s.commits.writesAtOnce == atOnceBefore + 2, "the SUBMITTING write and the answer's, each at once")
        #expect(s.cap.waits.withLock { $0 } == 0 && s.commits.counts.companyWaits == 0, "\(s.commits.counts)")
        try s.expectPlaced(key)
        busy.open()
        #expect(try await Self.settled("the busy handler", b).state == .accepted)
    }

    @Test func aHandlerThatNeverWritesHoldsTheOthersOnlyUntilTheCap() async throws {
        let s = try await Setup()
        let stuck = Gate()
        defer { stuck.open(); s.cap.open(); Task { await s.h.cleanUp() } }
        // Begun and never writing (until the end of the test).
        let b = s.handle(Self.key("stuck"), before: { await stuck.wait() })
        try await eventually("the stuck handler begun") { stuck.waits.withLock { $0 } == 1 }
        let key = Self.key("held")
        let a = s.handle(key)
        try await eventually("the write waiting for company, its cap started") { s.commits.waiting == 1 && s.cap.waits.withLock { $0 } == 1 }
        s.cap.open()
        #expect(try await Self.settled("the first order", a).state == .accepted)
        #expect(s.commits.counts.capsReached >= 1, "\(s.commits.counts)")
        try s.expectPlaced(key)
        stuck.open()
        #expect(try await Self.settled("the second order", b).state == .accepted)
    }

    @Test func aHandlerEndingWithoutWritingReleasesTheWait() async throws {
        let s = try await Setup()
        defer { s.cap.open(); Task { await s.h.cleanUp() } }
        let leave = Gate()
        // A handler that ends without writing (a message with nothing to write).
        let commits = s.commits
        let b = Task { await commits.handling { await leave.wait() } }
        try await eventually("the other handler begun") { leave.waits.withLock { $0 } == 1 }
        let key = Self.key("released")
        let a = s.handle(key)
        try await eventually("the write waiting for company") { s.commits.waiting == 1 }
        leave.open()
        await b.value
        // The cap never passes: only the other handler's end can release the wait.
        #expect(try await Self.settled("the first order", a).state == .accepted)
        #expect(s.commits.counts.capsReached == 0 && s.commits.counts.companyWaits >= 1, "\(s.commits.counts)")
        try s.expectPlaced(key)
    }
}
