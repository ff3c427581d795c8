import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMDatabase
import TMPostgres
@testable import TMOrders

/// `order_events` has no foreign key since migration 0033 (its per-row check was a tenth of the
/// order path's statement time), and keeps its rule: every event belongs to an order — the
/// writer (`OrderStore`) writes events only for the rows its statement wrote — and an order's
/// events go when the order goes (DELETE or TRUNCATE of `orders`), also the events written
/// before the migration.
@Suite(.serialized) struct OrderEventsOwnershipTests {
    /// Events whose order does not exist.
    static func orphans(_ db: PostgresConnection) throws -> Int {
        Int(try db.query("SELECT count(*)::int AS n FROM order_events e WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = e.order_id)")
            .rows[0].decode("n", as: Int32.self))
    }

    static func events(_ db: PostgresConnection, of order: UUID) throws -> Int {
        Int(try db.query("SELECT count(*)::int AS n FROM order_event_details WHERE order_id = \(order)").rows[0].decode("n", as: Int32.self))
    }

    @Test func eventsAreWrittenOnlyForRowsWrittenAndGoWithTheirOrder() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let key = "owned-\(UUID().uuidString.prefix(8))"
        let placed = try await h.placer().handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
        let placedID = try #require(placed.orderID)
        let order = try #require(try OrderStore.load(h.db, id: placedID))
        let written = try Self.events(h.db, of: order.id)
        #expect(written >= 3, "RECEIVED … ACCEPTED")

        // A new row whose key is taken: nothing written, and none of its events either.
        let late = NewOrder(id: UUID(), userID: order.userID, accountID: order.accountID, requestedAccountID: order.accountID, parentID: nil,
                            order: PlaceOrder(idempotencyKey: key, accountID: order.accountID, symbol: order.symbol, exchange: order.exchange,
                                              side: order.side, quantity: order.quantity, type: order.type, limitPrice: order.limitPrice),
                            quantity: order.quantity, clientOrderID: order.clientOrderID + "x", state: .submitting, requestedPrice: nil,
                            riskDecision: .object([("passed", true)]), route: nil, rejectCode: nil, rejectReason: nil, submittedAt: Date(),
                            steps: [(.routed, nil), (.submitting, nil)])
        let insert = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([late]), fencingToken: nil)]) }
        #expect(try insert()[0].record == nil)
        #expect(try Self.events(h.db, of: late.id) == 0)

        // The row moves on; a move from the version it left writes nothing, and no event.
        let fill = OrderMove(order: order, to: .filled, changes: OrderChanges(filledQuantity: order.quantity, averagePrice: Decimal(string: "1399.5")!), detail: nil)
        let moved = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .move(fill), fencingToken: nil)]) }()
        #expect(moved[0].record?.state == .filled)
        let stale = OrderMove(order: order, to: .cancelled, changes: OrderChanges(), detail: .object([("source", "stale")]))
        let refused = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .move(stale), fencingToken: nil)]) }()
        #expect(refused[0].record == nil)
        #expect(try Self.events(h.db, of: order.id) == written + 1, "the fill's event only")
        #expect(try Self.orphans(h.db) == 0)

        // Another order, then the first deleted: its events go, the other's stay.
        let other = try #require(try await h.placer().handle(h.place(.kite, key: key + "-b"), fences: PlacementHarness.delivery()).orderID)
        let otherEvents = try Self.events(h.db, of: other)
        try h.db.execute("DELETE FROM orders WHERE id = \(order.id)")
        #expect(try Self.events(h.db, of: order.id) == 0)
        #expect(try Self.events(h.db, of: other) == otherEvents && otherEvents > 0)
        try h.db.simpleQuery("TRUNCATE orders CASCADE")
        #expect(try Self.events(h.db, of: other) == 0)
    }

    @Test func migration0033KeepsTheEventsOfALiveDatabaseAndTheirCascade() throws {
        let database = try TestDatabase(migrated: false, prefix: "tm_mig33")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let all = try MigrationCatalog.bundled()
        try Migrator(connection: db, migrations: all.filter { $0.version <= 32 }).migrate()
        try db.simpleQuery("""
            INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'm33@example.com');
            INSERT INTO broker_accounts (id, user_id, broker, label) VALUES
                ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-000000000001', 'manual', 'm33');
            INSERT INTO orders (id, user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, state)
            SELECT ('00000000-0000-0000-0000-0000000001' || lpad(g::text, 2, '0'))::uuid, '00000000-0000-0000-0000-000000000001',
                   '00000000-0000-0000-0000-00000000000a', 'm33-' || g, 'm33' || g, 'INFY', 'NSE', 'buy', 'market', 1, 'SUBMITTING'
            FROM generate_series(1, 2) g;
            INSERT INTO order_events (order_id, from_state, to_state)
            SELECT id, s.f, s.t FROM orders, (VALUES (NULL, 'RECEIVED'), ('RECEIVED', 'SUBMITTING')) AS s (f, t);
            """)
        try Migrator(connection: db, migrations: all).migrate()
        let first = UUID(uuidString: "00000000-0000-0000-0000-000000000101")!, second = UUID(uuidString: "00000000-0000-0000-0000-000000000102")!
        #expect(try Self.events(db, of: first) == 2 && Self.events(db, of: second) == 2)
        try db.execute("DELETE FROM orders WHERE id = \(first)")
        #expect(try Self.events(db, of: first) == 0 && Self.events(db, of: second) == 2)
        #expect(try Self.orphans(db) == 0)
    }
}
