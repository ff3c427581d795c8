import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMLocks
import TMOrders
import TMPostgres

/// A lone order (no other write in flight through the worker's group commit) writes at once from its
/// own task, in a fenced transaction of its own — not through the group's drain task — and ends as any
/// order does: its events, one broker order; a delivery whose fence is stale still writes nothing.
@Suite(.serialized) struct LoneOrderCommitsTests {
    @Test func aLoneOrdersWritesRunAtOnceAndEndAsAlways() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let commits = OrderCommits(pool: h.pool, maxBatch: 64)
        let key = "lone-\(UUID().uuidString.prefix(6))"
        let fences = PlacementFences(fences: [MessageFence(queue: "orders", messageID: UUID().uuidString, epoch: 1)], commits: commits, firstDelivery: true)
        let result = try await placer.handle(h.place(.kite, key: key), fences: fences)
        #expect(result.state == .accepted)
        #expect(commits.writesAtOnce == 2, "the SUBMITTING write and the answer's, each at once")
        #expect(commits.counts.batches == 0 && commits.waiting == 0, "\(commits.counts)")
        #expect(try h.events(key: key) == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED"])
        #expect(try h.brokerOrderCounts(.kite).values.allSatisfy { $0 == 1 })
    }

    @Test func aLoneWriteAtOnceIsStillFenced() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let commits = OrderCommits(pool: h.pool, maxBatch: 64)
        let message = UUID().uuidString
        // A later delivery of the same message (epoch 2) has written: epoch 1 is stale.
        try h.db.transaction(fencedBy: MessageFence(queue: "orders", messageID: message, epoch: 2)) { _ in }
        let key = "lone-stale-\(UUID().uuidString.prefix(6))"
        let fences = PlacementFences(fences: [MessageFence(queue: "orders", messageID: message, epoch: 1)], commits: commits, firstDelivery: true)
        await #expect(throws: LockError.self) { _ = try await placer.handle(h.place(.kite, key: key), fences: fences) }
        #expect(commits.writesAtOnce == 1)
        #expect(throws: PlacementHarness.NoRow.self) { try h.row(key: key) }
        #expect(try h.brokerOrderCounts(.kite).isEmpty, "nothing reached the broker")
    }
}
