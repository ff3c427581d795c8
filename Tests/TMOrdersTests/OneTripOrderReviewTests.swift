import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMLocks
@testable import TMOrders
import TMPostgres

/// Review of the order path's one-round-trip transactions (the fences, the write with its events
/// and outbox row in one statement, and the COMMIT in one pipeline) against real Postgres and
/// broker-sim: a stale delivery writes nothing — no row, no event, no outbox message — and calls no
/// broker; a delivery gone stale after its broker call writes no later state; a compare-and-set
/// that matches no row writes no event and no outbox row; a stale writer in a group-commit batch
/// is refused while the others commit, each exactly once.
@Suite(.serialized) struct OneTripOrderReviewTests {
    struct Lease: Fence {
        let resource: String
        let fencingToken: Int64
    }

    /// Outbox messages (`trade-events`) of the order with `key`, by the payload's key.
    static func published(_ h: PlacementHarness, key: String) throws -> [String] {
        try h.db.query("""
            SELECT x.payload ->> 'to' AS to_state FROM trade_event_messages x
            WHERE x.payload ->> 'idempotency_key' = \(key) ORDER BY x.outbox_id, x.n
            """).rows.map { try $0.decode("to_state", as: String.self) }
    }

    static func count(_ h: PlacementHarness, _ table: String) throws -> Int {
        try h.db.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int AS n FROM " + table)).rows[0].decode("n", as: Int.self)
    }

    @Test func aStaleDeliveryPlacingAnOrderWritesNothingAndCallsNoBroker() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let message = UUID().uuidString
        // A newer delivery of the same message (epoch 2) has written: epoch 1 is stale.
        let newer = MessageFence(queue: "orders", messageID: message, epoch: 2)
        try h.db.transaction(fencedBy: newer) { _ in }
        let (events, outbox) = (try Self.count(h, "order_event_details"), try Self.count(h, "trade_event_outbox"))
        await #expect(throws: LockError.staleFencingToken(resource: newer.resource, token: 1)) {
            _ = try await placer.handle(h.place(.kite, key: "stale-place"), fences: PlacementHarness.delivery(message, epoch: 1))
        }
        #expect(throws: PlacementHarness.NoRow.self, "no orders row") { try h.row(key: "stale-place") }
        #expect(try Self.count(h, "order_event_details") == events && Self.count(h, "trade_event_outbox") == outbox, "no event, no outbox row")
        #expect(try h.brokerOrderCounts(.kite).isEmpty, "no broker order")
        // The pool's connections still serve the order path: the newer delivery places it, once.
        let placed = try await placer.handle(h.place(.kite, key: "stale-place"), fences: PlacementHarness.delivery(message, epoch: 2))
        #expect(placed.state == .accepted)
        #expect(try h.events(key: "stale-place") == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED"])
        #expect(try Self.published(h, key: "stale-place") == ["RECEIVED", "ROUTED", "SUBMITTING", "ACCEPTED"])
        #expect(try h.brokerOrderCounts(.kite).values.allSatisfy { $0 == 1 } && h.brokerOrderCounts(.kite).count == 1)
    }

    /// The delivery goes stale between its SUBMITTING commit and the broker's answer (a redelivery
    /// took the message over): the broker got the order once, the stale delivery commits no
    /// ACCEPTED (no event, no outbox message), and the newer delivery resolves it without a second
    /// broker order.
    @Test func aDeliveryStaleAfterItsBrokerCallWritesNoLaterStateAndTheOrderStaysOnceAtTheBroker() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let message = UUID().uuidString
        final class Box: @unchecked Sendable { let db: PostgresConnection; init(_ db: PostgresConnection) { self.db = db } }
        let takeover = Box(try h.database.connect())
        defer { takeover.db.close() }
        let tookOver = Locked(false)
        // Just before the broker call (the placer's ownership check), a newer delivery advances the fence.
        let fences = PlacementFences(fences: [MessageFence(queue: "orders", messageID: message, epoch: 1)], ownership: {
            guard !tookOver.withLock({ $0 }) else { return }
            try takeover.db.transaction(fencedBy: MessageFence(queue: "orders", messageID: message, epoch: 2)) { _ in }
            tookOver.withLock { $0 = true }
        })
        await #expect(throws: (any Error).self) {
            _ = try await placer.handle(h.place(.kite, key: "stale-after-send"), fences: fences)
        }
        #expect(tookOver.withLock { $0 })
        #expect(try h.state(key: "stale-after-send") == "SUBMITTING", "the stale delivery wrote no later state")
        #expect(try h.events(key: "stale-after-send") == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING"])
        #expect(try Self.published(h, key: "stale-after-send") == ["RECEIVED", "ROUTED", "SUBMITTING"])
        #expect(try h.brokerOrderCounts(.kite).count == 1 && h.brokerOrderCounts(.kite).values.allSatisfy { $0 == 1 })
        let resolved = try await placer.handle(h.place(.kite, key: "stale-after-send"), fences: PlacementHarness.delivery(message, epoch: 2))
        #expect(resolved.state == .accepted)
        #expect(try h.events(key: "stale-after-send") == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED"])
        #expect(try Self.published(h, key: "stale-after-send") == ["RECEIVED", "ROUTED", "SUBMITTING", "ACCEPTED"])
        #expect(try h.brokerOrderCounts(.kite).count == 1 && h.brokerOrderCounts(.kite).values.allSatisfy { $0 == 1 }, "still one broker order")
    }

    /// The one-trip UPDATE (events and outbox row in its statement) is a compare-and-set: a move
    /// from a state the row has left writes nothing — no event, no outbox row — and a batch of
    /// moves writes the events (in id order) and messages of the rows it moved only.
    @Test func aCompareAndSetThatMatchesNoRowWritesNoEventAndNoOutboxRow() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        _ = try await placer.handle(h.place(.kite, key: "cas-a"), fences: PlacementHarness.delivery())
        _ = try await placer.handle(h.place(.upstox, key: "cas-b"), fences: PlacementHarness.delivery())
        let a = try #require(try OrderStore.load(h.db, idempotencyKey: "cas-a"))
        let b = try #require(try OrderStore.load(h.db, idempotencyKey: "cas-b"))
        #expect(a.state == .accepted && b.state == .accepted)
        @Sendable func move(_ writes: [OrderWrite]) async throws -> [OrderWritten] {
            try await h.pool.transaction(fencedInOneRoundTrip: [Lease(resource: "cas-\(UUID().uuidString)", fencingToken: 1)]) { db in
                try OrderStore.perform(db, writes)
            }
        }
        func cancel(_ record: OrderRecord) -> OrderWrite {
            OrderWrite(kind: .move(OrderMove(order: record, to: .cancelled, changes: OrderChanges(), detail: ["via": "review"])), fencingToken: nil)
        }
        let moved = try await move([cancel(a)])
        #expect(moved[0].record?.state == .cancelled)
        #expect(try OrderWrite(kind: .move(OrderMove(order: a, to: .cancelled, changes: OrderChanges(), detail: nil)), fencingToken: nil).answeredAfterCommit)
        let (events, outbox) = (try Self.count(h, "order_event_details"), try Self.count(h, "trade_event_outbox"))
        // a moved on (its version too): the same move again matches no row.
        let again = try await move([cancel(a)])
        #expect(again[0].record == nil)
        #expect(try Self.count(h, "order_event_details") == events && Self.count(h, "trade_event_outbox") == outbox, "no event, no outbox row")
        // A batch of a stale move and a live one: only the live one's event and message.
        let batch = try await move([cancel(a), cancel(b)])
        #expect(batch[0].record == nil && batch[1].record?.state == .cancelled)
        #expect(try h.events(key: "cas-a") == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED", "ACCEPTED>CANCELLED"])
        #expect(try h.events(key: "cas-b") == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED", "ACCEPTED>CANCELLED"])
        #expect(try Self.published(h, key: "cas-a") == ["RECEIVED", "ROUTED", "SUBMITTING", "ACCEPTED", "CANCELLED"])
        #expect(try Self.published(h, key: "cas-b") == ["RECEIVED", "ROUTED", "SUBMITTING", "ACCEPTED", "CANCELLED"])
        #expect(try Self.count(h, "trade_event_outbox") == outbox + 1, "one outbox row for the batch's one move")
        // The message carries the row's fill as committed.
        let filled = try h.db.query("""
            SELECT x.payload ->> 'filled_quantity' AS filled, o.filled_quantity::text AS stored FROM trade_event_messages x
            JOIN orders o ON o.idempotency_key = x.payload ->> 'idempotency_key'
            WHERE x.payload ->> 'idempotency_key' = 'cas-b' AND x.payload ->> 'to' = 'CANCELLED'
            """).rows
        #expect(filled.count == 1)
        #expect(try filled.allSatisfy { Decimal(string: try $0.decode("filled", as: String.self)) == Decimal(string: try $0.decode("stored", as: String.self)) })
    }

    /// A stale delivery among writers merged into one group-commit batch: the batch falls back to
    /// one transaction per writer; the stale one is refused (no row, no event, no outbox message, no
    /// broker order) and every other order ends accepted, exactly once at its broker.
    @Test func aStaleWriterInAnOrderBatchIsRefusedWhileTheOthersCommitExactlyOnce() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let commits = OrderCommits(pool: h.pool, maxBatch: 64)
        let lease = Lease(resource: "review-lease-\(UUID().uuidString)", fencingToken: 1)
        let staleMessage = UUID().uuidString
        try h.db.transaction(fencedBy: MessageFence(queue: "orders", messageID: staleMessage, epoch: 2)) { _ in }
        let blocker = try h.database.connect()
        defer { blocker.close() }
        try blocker.simpleQuery("BEGIN")
        _ = try blocker.query("SELECT tm_advance_fence(\(lease.resource), 1)")
        let brokers: [BrokerKind] = [.kite, .upstox, .alpaca, .binance]
        let keys = (0..<6).map { "review-batch-\($0)-\(UUID().uuidString.prefix(6))" }
        let staleKey = "review-batch-stale-\(UUID().uuidString.prefix(6))"
        func start(_ key: String, broker: BrokerKind, message: String = UUID().uuidString) -> Task<PlacementResult, Error> {
            let fences = PlacementFences(fences: [MessageFence(queue: "orders", messageID: message, epoch: 1), lease], commits: commits, firstDelivery: true)
            let payload = h.place(broker, key: key)
            return Task { try await placer.handle(payload, fences: fences) }
        }
        // The first write (none other in flight) runs at once, outside the group, and waits on the row,
        // so the next writers go through the group.
        let holderKey = "review-batch-holder-\(UUID().uuidString.prefix(6))"
        let holder = start(holderKey, broker: brokers[0])
        try await eventually("the write at once waiting on the fence row") { try h.db.lockWaiters() == 1 }
        var tasks = [start(keys[0], broker: brokers[0])]
        try await eventually("the first writer's transaction waiting on the fence row") { try h.db.lockWaiters() == 2 }
        tasks += keys.dropFirst().enumerated().map { start($1, broker: brokers[($0 + 1) % brokers.count]) }
        let stale = start(staleKey, broker: .alpaca, message: staleMessage)
        try await eventually("every other writer waiting for the next batch") { commits.waiting == keys.count }
        try blocker.simpleQuery("COMMIT")
        for task in tasks { #expect(try await task.value.state == .accepted) }
        #expect(try await holder.value.state == .accepted)
        await #expect(throws: LockError.self, "the stale delivery is refused") { _ = try await stale.value }
        #expect(commits.counts.fallbacks >= 1, "\(commits.counts)")
        #expect(throws: PlacementHarness.NoRow.self) { try h.row(key: staleKey) }
        #expect(try Self.published(h, key: staleKey).isEmpty)
        for key in keys {
            #expect(try h.events(key: key) == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED"], "\(key)")
            #expect(try Self.published(h, key: key) == ["RECEIVED", "ROUTED", "SUBMITTING", "ACCEPTED"], "\(key)")
        }
        var total = 0
        for broker in brokers {
            let counts = try h.brokerOrderCounts(broker)
            #expect(counts.values.allSatisfy { $0 == 1 }, "one broker order per key at \(broker)")
            total += counts.count
        }
        #expect(total == keys.count + 1, "the stale writer's order never reached a broker (the holder's did)")
    }
}
