import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMLocks
import TMPostgres
@testable import TMOrders

/// The order path's plain writes go in ONE round trip with their fences and the COMMIT
/// (`OrderStore.perform` only sends): the row's change, its `order_events` row and its
/// `trade-events` message land together, the message says what the row says, and a stale fence
/// leaves all three unwritten.
@Suite(.serialized) struct OrderWritesOneRoundTripTests {
    @Test func aTransitionItsEventAndItsMessageCommitInOneRoundTripOrNotAtAll() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let key = "one-trip-\(UUID().uuidString.prefix(8))"
        let placed = try await h.placer().handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
        let orderID = try #require(placed.orderID)
        let order = try #require(try OrderStore.load(h.db, id: orderID))
        #expect(order.state == .accepted)
        let db = try h.database.connect()
        defer { db.close() }
        let fill = OrderMove(order: order, to: .filled, changes: OrderChanges(filledQuantity: order.quantity, averagePrice: Decimal(string: "1400.35")!),
                             detail: .object([("source", "test")]))
        let write = OrderWrite(kind: .move(fill), fencingToken: 7)
        let delivery = MessageFence(queue: "orders", messageID: UUID().uuidString, epoch: 2)

        // A stale delivery first: refused, and nothing of the write lands.
        try db.transaction(fencedBy: delivery) { _ in }
        let stale = MessageFence(queue: delivery.queue, messageID: delivery.messageID, epoch: 1)
        #expect(throws: LockError.staleFencingToken(resource: stale.resource, token: 1)) {
            do {
                _ = try db.transaction { db in
                    try FencingGuard.send(db, fences: [stale])
                    return try OrderStore.perform(db, [write])
                }
            } catch {
                throw FencingGuard.refusal(error)
            }
        }
        #expect(try OrderStore.load(h.db, id: order.id)?.state == .accepted)
        #expect(try h.events(key: key).last == "SUBMITTING>ACCEPTED")

        // The current delivery: the move, its event and its message in ONE round trip (parses aside).
        let (trips, parses) = (db.roundTrips, db.preparedCount)
        let read = try db.transaction { db in
            try FencingGuard.send(db, fences: [delivery])
            return try OrderStore.perform(db, [write])
        }
        #expect(db.roundTrips - trips - (db.preparedCount - parses) == 1, "fences, UPDATE + events + outbox, COMMIT: one round trip")
        let written = try read()
        #expect(written.count == 1 && written[0].record?.state == .filled && written[0].record?.version == order.version + 1)
        #expect(try h.events(key: key).last == "ACCEPTED>FILLED")

        // The message is the row's: its fill, its states, the event's id in its key, the detail.
        let message = try #require(try h.db.query("""
            SELECT m.event_key, m.payload::text AS payload, 'order:' || o.id || ':' || e.id AS expected_key,
                   (m.payload ->> 'filled_quantity')::numeric = o.filled_quantity AS same_fill,
                   (m.payload ->> 'average_price')::numeric = o.average_price AS same_average
            FROM trade_event_messages m, orders o, LATERAL (SELECT max(id) AS id FROM order_event_details WHERE order_id = o.id) e
            WHERE o.id = \(order.id) AND m.event_key LIKE 'order:' || o.id || ':%'
            ORDER BY m.outbox_id DESC, m.n DESC LIMIT 1
            """).rows.first)
        #expect(try message.decode("event_key", as: String.self) == message.decode("expected_key", as: String.self))
        #expect(try message.decode("same_fill", as: Bool.self) && message.decode("same_average", as: Bool.self))
        let payload = try JSONValue.parse(try message.decode("payload", as: String.self))
        #expect(payload["from"]?.stringValue == "ACCEPTED" && payload["to"]?.stringValue == "FILLED")
        #expect(payload["detail"]?["source"]?.stringValue == "test")
        #expect(payload["order_id"]?.stringValue == order.id.uuidString.lowercased() && payload["idempotency_key"]?.stringValue == key)
        #expect(payload["event"]?.stringValue == "order.state" && payload["average_price"]?.stringValue == "1400.35")
    }
}
