import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMPostgres
@testable import TMOrders

/// A new order's rows hold no value that only repeats the order row (migration 0047), and every reader
/// still sees what it saw: the ROUTED event's `detail` is stored NULL — `tm orders show`
/// (`OrderViews.show`, through `order_event_details`) and the `trade-events` message still carry the
/// route — and `requested_account_id` is stored NULL when it is `account_id`, kept when it is not. An
/// order for an unknown account is still refused. Both the lone write and the merged batch.
@Suite(.serialized) struct OrderRowRepeatsTests {
    static func newRow(_ h: PlacementHarness, placedOn account: UUID, askedFor requested: UUID, key: String) -> NewOrder {
        let route: JSONValue = .object([("requested_account_id", .string(UUIDText.lower(requested))),
                                        ("scores", .array([.object([("broker", "kite"), ("total", .number("0.91"))])]))])
        return NewOrder(id: UUID(), userID: h.user, accountID: account, requestedAccountID: requested, parentID: nil,
                        order: PlaceOrder(idempotencyKey: key, accountID: requested, symbol: "INFY", exchange: "NSE", side: .buy,
                                          quantity: 2, type: .limit, limitPrice: Decimal(string: "1500.05")),
                        quantity: 2, clientOrderID: "repeats\(UUID().uuidString.prefix(8).lowercased())", state: .submitting,
                        requestedPrice: Decimal(string: "1500.05"), riskDecision: .object([("passed", true)]), route: route,
                        rejectCode: nil, rejectReason: nil, submittedAt: Date(), steps: [(.routed, route), (.submitting, nil)])
    }

    /// What is stored and what every reader sees of `row`, written.
    static func expectNoRepeatsAndTheSameReading(_ h: PlacementHarness, _ row: NewOrder, record: OrderRecord?,
                                                 sourceLocation: SourceLocation = #_sourceLocation) throws {
        let route = try #require(row.route, sourceLocation: sourceLocation)
        let stored = try #require(try h.db.query("""
            SELECT o.requested_account_id, o.route::text AS route, st.detail IS NULL AS routed_detail_null
            FROM orders o JOIN order_events e ON e.order_id = o.id,
                 LATERAL (SELECT e.to_state, e.detail UNION ALL SELECT * FROM unnest(e.later_to_states, e.later_details)) AS st (to_state, detail)
            WHERE o.id = \(row.id) AND st.to_state = 'ROUTED'
            """).rows.first, sourceLocation: sourceLocation)
        // Stored (every step of the order's rows, as written: 0055): the route once, on the row; the
        // requested account only when it is another.
        #expect(try stored.decode("routed_detail_null", as: Bool.self), "the ROUTED event does not repeat the route", sourceLocation: sourceLocation)
        let storedRoute = try JSONValue.parse(try stored.decode("route", as: String.self))
        #expect(try Self.same(h, storedRoute, route), sourceLocation: sourceLocation)
        let requested: UUID? = row.requestedAccountID == row.accountID ? nil : row.requestedAccountID
        #expect(try stored.decode("requested_account_id", as: UUID?.self) == requested, sourceLocation: sourceLocation)
        #expect(record?.requestedAccountID == requested && (record?.requestedAccountID ?? record?.accountID) == row.requestedAccountID,
                sourceLocation: sourceLocation)
        // Shown: every step, the ROUTED one with the route as its detail.
        let shown = try #require(try OrderViews.show(h.db, order: row.id), sourceLocation: sourceLocation)
        #expect(shown.events.map { "\($0.fromState ?? "")>\($0.toState)" } == [">RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING"],
                sourceLocation: sourceLocation)
        #expect(shown.events.map(\.detail) == [nil, storedRoute, nil], sourceLocation: sourceLocation)
        // Announced: the ROUTED message carries the route, the others no detail.
        let messages = try OrderOutboxTextTests.messages(h.db, of: row.id)
        #expect(messages.map { $0.payload.objectFields?.first { $0.key == "to" }?.value } == [.string("RECEIVED"), .string("ROUTED"), .string("SUBMITTING")],
                sourceLocation: sourceLocation)
        #expect(messages.map { $0.payload.objectFields?.first { $0.key == "detail" }?.value } == [nil, route, nil], sourceLocation: sourceLocation)
    }

    /// The same JSON document (jsonb stores an object's keys in its own order).
    static func same(_ h: PlacementHarness, _ a: JSONValue, _ b: JSONValue) throws -> Bool {
        try h.db.query("SELECT \(a.text)::jsonb = \(b.text)::jsonb AS same").rows.first?.decode("same", as: Bool.self) == true
    }

    @Test func aRoutedRowStoresItsRouteOnceAndItsRequestedAccountOnlyWhenAnother() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let kite = try #require(h.accounts[.kite]), upstox = try #require(h.accounts[.upstox])
        let tag = UUID().uuidString.prefix(8)
        // Alone (`LoneWrite`): asked for the account it is placed on.
        let alone = Self.newRow(h, placedOn: kite, askedFor: kite, key: "repeats-a-\(tag)")
        let lone = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([alone]), fencingToken: 3)]) }()
        try Self.expectNoRepeatsAndTheSameReading(h, alone, record: lone.first?.record)
        // Another account's, alone.
        let elsewhere = Self.newRow(h, placedOn: upstox, askedFor: kite, key: "repeats-e-\(tag)")
        let moved = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([elsewhere]), fencingToken: 3)]) }()
        try Self.expectNoRepeatsAndTheSameReading(h, elsewhere, record: moved.first?.record)
        // Merged (one INSERT of both, `insertWithEvents`): one of each.
        let same = Self.newRow(h, placedOn: upstox, askedFor: upstox, key: "repeats-s-\(tag)")
        let other = Self.newRow(h, placedOn: kite, askedFor: upstox, key: "repeats-o-\(tag)")
        let merged = try h.db.transaction { db in
            try OrderStore.perform(db, [OrderWrite(kind: .insert([same]), fencingToken: 3), OrderWrite(kind: .insert([other]), fencingToken: 3)])
        }()
        try Self.expectNoRepeatsAndTheSameReading(h, same, record: merged.first?.record)
        try Self.expectNoRepeatsAndTheSameReading(h, other, record: merged.last?.record)
    }

    @Test func aPlacedOrderIsShownAndAnnouncedWithItsRoute() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placed = try await h.placer().handle(h.place(.kite, key: "repeats-p-\(UUID().uuidString.prefix(8))"), fences: PlacementHarness.delivery())
        let id = try #require(placed.orderID)
        let route = try #require(try h.db.query("SELECT route::text AS route FROM orders WHERE id = \(id)").rows.first?
            .decode("route", as: String?.self)).map { try JSONValue.parse($0) }
        let shown = try #require(try OrderViews.show(h.db, order: id))
        #expect(shown.events.first { $0.toState == "ROUTED" }?.detail == route)
        let announced = try OrderOutboxTextTests.messages(h.db, of: id).first { $0.payload.objectFields?.contains { $0.key == "to" && $0.value == "ROUTED" } == true }
        let detail = try #require(announced?.payload.objectFields?.first { $0.key == "detail" }?.value)
        #expect(try Self.same(h, detail, try #require(route)))
    }

    @Test func anOrderForAnUnknownAccountIsStillRefused() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let unknown = UUID(), kite = try #require(h.accounts[.kite])
        let tag = UUID().uuidString.prefix(8)
        func refused(_ writes: [OrderWrite]) -> Bool {
            do {
                _ = try h.db.transaction { db in try OrderStore.perform(db, writes) }()
                return false
            } catch {
                return "\(error)".contains("orders_account_fk")
            }
        }
        // Asked for and placed on it (requested_account_id stored NULL): alone and merged.
        let alone = Self.newRow(h, placedOn: unknown, askedFor: unknown, key: "repeats-u-\(tag)")
        #expect(refused([OrderWrite(kind: .insert([alone]), fencingToken: nil)]))
        let known = Self.newRow(h, placedOn: kite, askedFor: kite, key: "repeats-k-\(tag)")
        let merged = Self.newRow(h, placedOn: unknown, askedFor: unknown, key: "repeats-m-\(tag)")
        #expect(refused([OrderWrite(kind: .insert([known]), fencingToken: nil), OrderWrite(kind: .insert([merged]), fencingToken: nil)]))
        #expect(try h.db.query("SELECT 1 FROM orders WHERE idempotency_key LIKE \("repeats-%-\(tag)")").rows.isEmpty)
    }
}
