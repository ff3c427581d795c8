import Synchronization
import TMLocks
import TMPostgres

/// The group commit of order writes one worker (or one cold invocation) shares among its handlers:
/// see `GroupCommit`, with `OrderStore.perform` merging each batch's writes into a few statements.
///
/// A write that finds no other write of these commits in flight (a lone order: the usual case at a
/// low rate) runs at once in a transaction of its own from its own task — what the group does for a
/// writer alone, without the two hops to the group's drain task and back (4 thread wake-ups per
/// order); writes that arrive while one is in flight go through the group and merge as before.
///
/// With a company wait (the resident worker), a write whose company is KNOWN to be about to write —
/// handlers that have begun a message (`handling(_:)`) and not made their first write yet (in the
/// announcement read, risk and routing, microseconds before their SUBMITTING write) — goes through the
/// group even with none other in flight, and the group waits up to the cap for those writes, so orders
/// arriving one by one share transactions. A handler that has written once (in its broker call, whose
/// answer's write follows after a broker's round trip) is not company; a lone order (no handler about
/// to write) still writes at once.
///
/// Two differences from a write through the group, both safe: a lone write checks a connection out
/// from its handler's task, so a handler cancelled while every connection is busy gives up before
/// writing (the row stays as it was, and the next delivery looks the order up first, as without a
/// group commit); and a lone write may run beside a group batch, both fenced, queueing on a shared
/// lease's fence row in Postgres (fences are advanced in resource order: no deadlock).
public final class OrderCommits: Sendable {
    let group: GroupCommit<OrderWrite, OrderWritten>
    /// Writes in flight through these commits (at once or through the group).
    private let inFlight = Atomic<Int>(0)
    private let atOnce = Atomic<Int>(0)
    /// Handlers begun and not written yet (their tokens unmarked).
    private let coming: Coming
    /// False: every write goes through the group, lone ones too (to measure the lone write's effect).
    let loneWritesAtOnce: Bool

    /// The count of handlers about to write, shared with their tokens.
    private final class Coming: Sendable {
        let count = Atomic<Int>(0)
    }

    /// One handler's mark: counted as coming until its first write or its end, whichever is first.
    private final class Token: Sendable {
        let coming: Coming
        private let counted = Atomic<Bool>(true)
        init(_ coming: Coming) {
            self.coming = coming
            coming.count.add(1, ordering: .acquiringAndReleasing)
        }

        /// Stops counting the handler; true the first time only.
        func uncount() -> Bool {
            guard counted.exchange(false, ordering: .acquiringAndReleasing) else { return false }
            coming.count.subtract(1, ordering: .acquiringAndReleasing)
            return true
        }
    }

    /// The token of the handler this task runs for (set by `handling(_:)`).
    @TaskLocal private static var token: Token?

    /// `companyWait`: how long a write waits in the group for the writes of handlers about to make their
    /// first (`handling(_:)`), so they share its transaction (nil: never waits).
    public convenience init(pool: PostgresPool, maxBatch: Int, loneWritesAtOnce: Bool = true, companyWait: Duration? = nil) {
        var cap: (@Sendable () async -> Void)?
        if let companyWait { cap = { try? await Task.sleep(for: companyWait) } }
        self.init(pool: pool, maxBatch: maxBatch, loneWritesAtOnce: loneWritesAtOnce, companyCap: cap)
    }

    /// `companyCap` returns once the longest wait for company has passed (tests open it as a gate; nil:
    /// never waits).
    public init(pool: PostgresPool, maxBatch: Int, loneWritesAtOnce: Bool = true, companyCap: (@Sendable () async -> Void)?) {
        let coming = Coming()
        self.coming = coming
        group = GroupCommit(pool: pool, maxBatch: maxBatch, company: companyCap.map { cap in
            GroupCommit.Company(coming: { coming.count.load(ordering: .acquiring) }, cap: cap)
        }, perform: OrderStore.perform)
        self.loneWritesAtOnce = loneWritesAtOnce
    }
    public var counts: GroupCommitCounts { group.counts }
    /// Writes that ran at once, alone (none other in flight), not through the group.
    public var writesAtOnce: Int { atOnce.load(ordering: .relaxed) }

    /// Runs a message's handler counted as company about to write until its first write (or its end):
    /// a write meanwhile waits (up to the cap) for that write rather than committing alone.
    public func handling<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        guard group.company != nil else { return try await body() }
        let token = Token(coming)
        defer {
            // Ended without writing: a write waiting for this one looks again.
            if token.uncount() { group.companyChanged() }
        }
        return try await Self.$token.withValue(token) { try await body() }
    }

    /// Counts a write in; true when it is the only one in flight and no handler is about to write (it
    /// runs at once, alone).
    func enter() -> Bool {
        // This handler's first write: it is no longer company to come (the others' waits see it arrive).
        if let token = Self.token, token.coming === coming { _ = token.uncount() }
        let alone = inFlight.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue == 0 && loneWritesAtOnce
            && (group.company == nil || coming.count.load(ordering: .acquiring) <= 0)
        if alone { atOnce.add(1, ordering: .relaxed) }
        return alone
    }

    func leave() { inFlight.subtract(1, ordering: .acquiringAndReleasing) }
    /// Writers waiting for the next batch now (for tests).
    public var waiting: Int { group.waiting }
}
