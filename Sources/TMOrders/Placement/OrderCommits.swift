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
    /// False: every write goes through the group, lone ones too (to measure the lone write's effect).
    let loneWritesAtOnce: Bool

    public init(pool: PostgresPool, maxBatch: Int, loneWritesAtOnce: Bool = true) {
        OrderStore.buildStatements()
        group = GroupCommit(pool: pool, maxBatch: maxBatch, perform: OrderStore.perform)
        self.loneWritesAtOnce = loneWritesAtOnce
    }
    public var counts: GroupCommitCounts { group.counts }
    /// Writes that ran at once, alone (none other in flight), not through the group.
    public var writesAtOnce: Int { atOnce.load(ordering: .relaxed) }

    /// Counts a write in; true when it is the only one in flight (it runs at once, alone).
    func enter() -> Bool {
        let alone = inFlight.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue == 0 && loneWritesAtOnce
        if alone { atOnce.add(1, ordering: .relaxed) }
        return alone
    }

    func leave() { inFlight.subtract(1, ordering: .acquiringAndReleasing) }
    /// Writers waiting for the next batch now (for tests).
    public var waiting: Int { group.waiting }
}
