import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMPostgres
import TMRisk
@testable import TMOrders

/// The order path's outbox rows hold their messages as text since migration 0035 (no jsonb parse on
/// the way in or out): one line per message, `<key>\t<payload>`, in event order — each message
/// exactly its event (key `order:<order>:<event id>`, the step it announces) as JSON, whatever
/// the event's detail holds.
@Suite(.serialized) struct OrderOutboxTextTests {
    /// The order path's outbox rows for `order`'s messages: (key, payload) per line, in order.
    static func messages(_ db: PostgresConnection, of order: UUID) throws -> [(key: String, payload: JSONValue)] {
        let rows = try db.query("""
            SELECT batch, payload IS NULL AS no_payload, account_id IS NULL AS no_account, messages FROM trade_event_outbox
            WHERE batch LIKE \("%order:\(order.uuidString.lowercased()):%") ORDER BY id
            """).rows
        var out: [(key: String, payload: JSONValue)] = []
        for row in rows {
            #expect(try row.decode("no_payload", as: Bool.self) && row.decode("no_account", as: Bool.self), "a text batch row has no jsonb payload and no account")
            let lines = try row.decode("batch", as: String.self).split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == Int(try row.decode("messages", as: Int32.self)), "one line per message")
            for line in lines {
                let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
                try #require(parts.count == 2, "a line is <key>\\t<payload>: \(line)")
                out.append((String(parts[0]), try JSONValue.parse(String(parts[1]))))
            }
        }
        return out.filter { $0.key.hasPrefix("order:\(order.uuidString.lowercased()):") }
    }

    /// The order's events as the messages must announce them: (key, to state), by id.
    static func events(_ db: PostgresConnection, of order: UUID) throws -> [(key: String, to: String)] {
        try db.query("SELECT id, to_state FROM order_event_details WHERE order_id = \(order) ORDER BY id").rows.map {
            ("order:\(order.uuidString.lowercased()):\(try $0.decode("id", as: Int64.self))", try $0.decode("to_state", as: String.self))
        }
    }

    @Test func anOrdersMessagesAreItsEventsInOrderAsJSONText() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let key = "text-\(UUID().uuidString.prefix(8))"
        let placed = try await h.placer().handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
        let placedID = try #require(placed.orderID)
        let order = try #require(try OrderStore.load(h.db, id: placedID))

        // A move whose detail holds every byte the text form separates lines and fields with.
        let awkward = "line one\n\tline \"two\"\\ \u{1}end"
        let move = OrderMove(order: order, to: .filled, changes: OrderChanges(filledQuantity: order.quantity, averagePrice: Decimal(string: "1399.5")!), detail: .object([("reason", .string(awkward))]))
        _ = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .move(move), fencingToken: nil)]) }()

        let events = try Self.events(h.db, of: order.id)
        let messages = try Self.messages(h.db, of: order.id)
        #expect(events.count >= 4, "RECEIVED … ACCEPTED, FILLED")
        #expect(messages.map(\.key) == events.map(\.key), "a message per event, in order, each under its event's key")
        #expect(messages.map { $0.payload["to"]?.text ?? "" } == events.map { "\"\($0.to)\"" })
        for message in messages {
            #expect(message.payload["event"] == .string("order.state") && message.payload["order_id"] == .string(order.id.uuidString.lowercased()))
            #expect(message.payload["idempotency_key"] == .string(key) && message.payload["account_id"] == .string(order.accountID.uuidString.lowercased()))
        }
        #expect(messages.last?.payload["detail"]?["reason"] == .string(awkward), "the detail arrives whole")
        #expect(messages.last?.payload["from"] == .string(order.state.rawValue))

        // The operator's view reads the text rows like the jsonb ones.
        let viewed: [String] = try h.db.query("""
            SELECT m.event_key FROM trade_event_messages m WHERE m.payload ->> 'order_id' = \(order.id.uuidString.lowercased())
            AND m.account_id = \(order.accountID) ORDER BY m.outbox_id, m.n
            """).rows.map { try $0.decode("event_key") }
        #expect(viewed == events.map(\.key))
    }

    /// A refusal's write (statements answered one by one, `OrderStore.record`) writes the same form.
    @Test func aRiskDenialsMessagesAreTextToo() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        h.risk.deny = RiskDenial(.priceOutsideBand, "too far")
        let placed = try await h.placer().handle(h.place(.kite, key: "text-deny-\(UUID().uuidString.prefix(8))"), fences: PlacementHarness.delivery())
        let order = try #require(placed.orderID)
        let events = try Self.events(h.db, of: order)
        let messages = try Self.messages(h.db, of: order)
        #expect(events.map(\.to) == ["RECEIVED", "RISK_REJECTED"])
        #expect(messages.map(\.key) == events.map(\.key))
        #expect(messages.last?.payload["to"] == .string("RISK_REJECTED"))
    }
}
