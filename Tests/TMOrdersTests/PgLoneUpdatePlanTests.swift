import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMPostgres
@testable import TMOrders

/// A lone order's UPDATE (one move) is planned once per session, not at every run: its values travel
/// as one row of scalars, whose generic plan (the primary-key look-up) Postgres's plan cache keeps
/// after its first custom plans. (With arrays the generic plan was costed for ten rows and every
/// one-move UPDATE was planned anew.) Its compare-and-set is unchanged: each move lands once.
@Suite(.serialized) struct PgLoneUpdatePlanTests {
    @Test func aLoneMoveIsPlannedOncePerSessionNotAtEveryRun() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let db = try h.database.connect()
        defer { db.close() }
        var orders: [OrderRecord] = []
        for n in 0..<9 {
            let placed = try await h.placer().handle(h.place(.kite, key: "lone-plan-\(n)-\(UUID().uuidString.prefix(8))"), fences: PlacementHarness.delivery())
            let id = try #require(placed.orderID)
            orders.append(try #require(try OrderStore.load(h.db, id: id)))
        }
        // A table of some size, its statistics known: a generic plan over arrays is then costed above
        // a custom one (as in any real database), not below (a seq scan of a near-empty table).
        try h.db.execute("""
            INSERT INTO orders (user_id, account_id, origin, broker_order_id, symbol, exchange, side, order_type, quantity, state)
            SELECT \(orders[0].userID), \(orders[0].accountID), 'broker', 'filler-' || g, 'INFY', 'NSE', 'buy', 'market', 1, 'CANCELLED'
            FROM generate_series(1, 3000) g
            """)
        try h.db.execute("ANALYZE orders")
        for order in orders {
            let move = OrderMove(order: order, to: .filled, changes: OrderChanges(filledQuantity: order.quantity, averagePrice: Decimal(1400)), detail: nil)
            let read = try db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .move(move), fencingToken: nil)]) }
            #expect(try read().first?.record?.state == .filled)
            // The same move again finds the row moved on: nothing written.
            let again = try db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .move(move), fencingToken: nil)]) }
            #expect(try again().first?.record == nil)
        }
        let plans = try db.query("""
            SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%UPDATE orders SET state = v_to_state%'
            """).rows
        #expect(plans.count == 1)
        let generic: Int = try plans[0].decode("generic_plans"), custom: Int = try plans[0].decode("custom_plans")
        #expect(custom <= 5 && generic + custom == 2 * orders.count, "generic \(generic), custom \(custom)")
    }
}
