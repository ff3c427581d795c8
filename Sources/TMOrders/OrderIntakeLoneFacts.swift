import Foundation
import TMPostgres

extension OrderIntake {
    /// The database's facts ONE place is checked against — its account (with the brokers of its
    /// holder's active accounts), its instrument, the order row already carrying its key — read in
    /// one prepared statement of scalar parameters: one round trip, parsed once per session.
    ///
    /// Why not the batch's statement for one order: that one takes arrays, and Postgres's generic plan
    /// for `= ANY(array)` of unknown length costs a scan of `broker_accounts` and of `instruments` per
    /// call (EXPLAIN: a Seq Scan of every account), while each parameter here is one key of a unique
    /// index: the generic plan is three index look-ups, whatever the tables hold. The facts are read
    /// afresh at every call (no cache): a pause, a new instrument or a changed tick applies to the next
    /// order.
    struct PlaceFacts {
        /// Nil: no account with that id.
        var account: AccountFacts?
        /// Nil: no such instrument on that exchange.
        var instrument: InstrumentFacts?
        /// The order that already carries the place's idempotency key.
        var placedOrder: UUID?

        static func read(_ db: PostgresConnection, _ order: PlaceOrder) throws -> PlaceFacts {
            // One row always (the outer joins keep it when nothing matches); a missing account or
            // instrument reads as NULL columns (`status` and `tradable` are NOT NULL in the tables).
            let statement: PostgresQuery = """
                SELECT a.status, a.broker, \(fragment: AccountFacts.holderBrokers),
                       i.lot_size::text AS lot, i.tick_size::text AS tick, i.tradable,
                       (SELECT o.id FROM orders o WHERE o.idempotency_key = \(order.idempotencyKey)) AS placed_order
                FROM (VALUES (1)) AS one (n)
                LEFT JOIN broker_accounts a ON a.id = \(order.accountID)
                LEFT JOIN instruments i ON i.exchange = \(order.exchange) AND i.symbol = \(order.symbol)
                """
            guard let row = try db.query(statement.prepared).rows.first else { return PlaceFacts() }
            var facts = PlaceFacts()
            if try row.decode("status", as: String?.self) != nil { facts.account = try AccountFacts(row: row) }
            if try row.decode("tradable", as: Bool?.self) != nil { facts.instrument = try InstrumentFacts(row: row) }
            facts.placedOrder = try row.decode("placed_order", as: UUID?.self)
            return facts
        }
    }
}
