import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMPostgres

/// The order path's group commit against real Postgres and broker-sim: orders whose writes are
/// merged into one batch (one INSERT, one events statement) each end exactly as if written alone —
/// their own row, their own events and outbox messages in order — and a key taken earlier inside
/// the batch continues from its order without a second broker order or a fallback.
@Suite(.serialized) struct OrderCommitsTests {
    /// A shard lease's fence, shared by every writer (as a worker's shard lease is).
    struct Lease: Fence {
        let resource: String
        let fencingToken: Int64
    }

    @Test func ordersWrittenInOneBatchEachEndAsIfWrittenAlone() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let earlier = try await placer.handle(h.place(.kite, key: "merged-earlier"), fences: PlacementHarness.delivery())
        let commits = OrderCommits(pool: h.pool, maxBatch: 64)
        // Hold the lease's fence row: the first writer's transaction waits on it and the others
        // queue behind, so they form one batch once it is released.
        let lease = Lease(resource: "test-lease-\(UUID().uuidString)", fencingToken: 1)
        let blocker = try h.database.connect()
        defer { blocker.close() }
        try blocker.simpleQuery("BEGIN")
        _ = try blocker.query("SELECT tm_advance_fence(\(lease.resource), 1)")
        let brokers: [BrokerKind] = [.kite, .upstox, .alpaca, .binance]
        let keys = (0..<8).map { "merged-\($0)-\(UUID().uuidString.prefix(6))" } + ["merged-earlier"]
        func start(_ index: Int) -> Task<PlacementResult, Error> {
            let fences = PlacementFences(fences: [MessageFence(queue: "orders", messageID: UUID().uuidString, epoch: 1), lease],
                                         commits: commits, firstDelivery: true)
            let payload = h.place(brokers[index % brokers.count], key: keys[index])
            return Task { try await placer.handle(payload, fences: fences) }
        }
        // A write with none other in flight runs at once, outside the group: this one holds the
        // group's writers behind it while it waits on the fence row...
        let holderKey = "merged-holder-\(UUID().uuidString.prefix(6))"
        let holder = Task {
            try await placer.handle(h.place(.kite, key: holderKey), fences: PlacementFences(
                fences: [MessageFence(queue: "orders", messageID: UUID().uuidString, epoch: 1), lease], commits: commits, firstDelivery: true))
        }
        try await eventually("the write at once waiting on the fence row") { try h.db.lockWaiters() == 1 }
        // ...then the group's first writer alone, until its transaction waits on the row too...
        var tasks = [start(0)]
        try await eventually("the first writer's transaction waiting on the fence row") { try h.db.lockWaiters() == 2 }
        // ...then the others, which queue behind it.
        tasks += (1..<keys.count).map(start)
        try await eventually("every other writer waiting for the next batch") { commits.waiting == keys.count - 1 }
        try blocker.simpleQuery("COMMIT")
        var results: [PlacementResult] = []
        for task in tasks { results.append(try await task.value) }
        #expect(try await holder.value.state == .accepted)
        #expect(commits.writesAtOnce >= 1, "the holder's SUBMITTING write ran at once")

        let counts = commits.counts
        #expect(counts.batches >= 1 && counts.batchedWriters >= keys.count - 1, "the waiting inserts were merged: \(counts)")
        #expect(counts.fallbacks == 0, "a taken key inside a batch is that writer's outcome, not the batch's failure: \(counts)")
        // The taken key continued from the order placed earlier: same order, still one broker order.
        #expect(results.last?.orderID == earlier.orderID)
        #expect(try h.events(key: "merged-earlier") == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED"])
        for broker in brokers {
            #expect(try h.brokerOrderCounts(broker).values.allSatisfy { $0 == 1 }, "one broker order per key at \(broker)")
        }
        for (key, result) in zip(keys.dropLast(), results) {
            #expect(result.state == .accepted, "\(key): \(result)")
            #expect(try h.events(key: key) == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED"], "\(key)")
            // Each order's outbox messages are its own (its id and account), one per event, in order.
            let row = try h.row(key: key)
            let id: UUID = try row.decode("id")
            let published = try h.db.query("""
                SELECT x.payload ->> 'order_id' AS order_id, x.payload ->> 'account_id' AS account_id, x.payload ->> 'to' AS to_state
                FROM trade_event_messages x WHERE x.event_key LIKE \("order:\(id.uuidString.lowercased()):%") ORDER BY x.outbox_id, x.n
                """).rows
            #expect(try published.map { try $0.decode("to_state", as: String.self) } == ["RECEIVED", "ROUTED", "SUBMITTING", "ACCEPTED"], "\(key)")
            #expect(try published.allSatisfy { try $0.decode("order_id", as: String.self) == id.uuidString.lowercased() }, "\(key)")
            let account = try h.db.query("SELECT account_id FROM orders WHERE id = \(id)").rows[0].decode("account_id", as: UUID.self)
            #expect(try published.allSatisfy { try $0.decode("account_id", as: String.self) == account.uuidString.lowercased() }, "\(key)")
        }
    }
}
