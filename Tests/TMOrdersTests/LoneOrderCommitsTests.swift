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

    /// A write that throws (here a stale fence) is counted out, so the next lone order still writes at once.
    @Test func aWriteThatThrowsIsCountedOutAndTheNextLoneOrderWritesAtOnce() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let commits = OrderCommits(pool: h.pool, maxBatch: 64)
        let message = UUID().uuidString
        try h.db.transaction(fencedBy: MessageFence(queue: "orders", messageID: message, epoch: 2)) { _ in }
        let stale = PlacementFences(fences: [MessageFence(queue: "orders", messageID: message, epoch: 1)], commits: commits, firstDelivery: true)
        await #expect(throws: LockError.self) { _ = try await placer.handle(h.place(.kite, key: "lone-stale-\(UUID().uuidString.prefix(6))"), fences: stale) }
        let fresh = PlacementFences(fences: [MessageFence(queue: "orders", messageID: UUID().uuidString, epoch: 1)], commits: commits, firstDelivery: true)
        #expect(try await placer.handle(h.place(.kite, key: "lone-fresh-\(UUID().uuidString.prefix(6))"), fences: fresh).state == .accepted)
        #expect(commits.writesAtOnce == 3, "the stale write, then the fresh order's two, each at once")
        #expect(commits.waiting == 0 && commits.counts.batches == 0, "\(commits.counts)")
    }

    /// Lone writes and group batches racing on one shard lease (waves of one order per broker, some
    /// delayed so that some write at once and some merge): every order accepted, once at its broker.
    @Test func loneWritesAndBatchesOnOneLeasePlaceEachOrderOnce() async throws {
        struct Lease: Fence { let resource: String; let fencingToken: Int64 }
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let commits = OrderCommits(pool: h.pool, maxBatch: 64)
        let lease = Lease(resource: "lone-lease-\(UUID().uuidString)", fencingToken: 1)
        let brokers: [BrokerKind] = [.kite, .upstox, .alpaca, .binance]
        var total = 0
        for wave in 0..<25 {
            let tasks = brokers.enumerated().map { index, broker in
                let fences = PlacementFences(fences: [MessageFence(queue: "orders", messageID: UUID().uuidString, epoch: 1), lease],
                                             commits: commits, firstDelivery: true)
                let payload = h.place(broker, key: "lone-\(wave)-\(index)-\(UUID().uuidString.prefix(6))")
                return Task { () throws -> PlacementResult in
                    if (wave + index) % 3 != 0 { try await Task.sleep(for: .microseconds(Int.random(in: 0...1500))) }
                    return try await placer.handle(payload, fences: fences)
                }
            }
            for task in tasks { #expect(try await task.value.state == .accepted); total += 1 }
        }
        var placed = 0
        for broker in brokers {
            let counts = try h.brokerOrderCounts(broker)
            #expect(counts.values.allSatisfy { $0 == 1 }, "\(broker)")
            placed += counts.count
        }
        #expect(placed == total)
    }
}
