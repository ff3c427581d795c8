import Foundation
import TMBrokers
import TMCore
import TMNotify
import TMPostgres

/// A new order row, written in the state the in-memory steps reached (RISK_REJECTED, ROUTED or
/// SUBMITTING) with an event for every step from RECEIVED: the risk check and the routing touch
/// nothing outside the process, so the first commit can carry them all.
struct NewOrder: Sendable {
    var id: UUID
    var userID: UUID
    var accountID: UUID
    var requestedAccountID: UUID
    var parentID: UUID?
    var order: PlaceOrder
    var quantity: Decimal
    var clientOrderID: String
    var state: OrderState
    var requestedPrice: Decimal?
    var riskDecision: JSONValue
    var route: JSONValue?
    var rejectCode: String?
    var rejectReason: String?
    /// When the broker call begins (SUBMITTING rows).
    var submittedAt: Date?
    /// The steps from RECEIVED to `state`, each with its detail.
    var steps: [(to: OrderState, detail: JSONValue?)]
}

/// What a transition writes besides the state (nil leaves a column as it is).
struct OrderChanges: Sendable {
    var brokerOrderID: String?
    var filledQuantity: Decimal?
    var averagePrice: Decimal?
    var rejectCode: String?
    var rejectReason: String?
    var unknownReason: String?
    var nextLookupAt: Date?
    /// A new broker call begins at this time: `submitted_at` set, `submit_attempts` + 1.
    var submittedAt: Date?
    /// A look-up was made: `lookup_attempts` + 1.
    var lookedUp = false
    var quantity: Decimal?
    var limitPrice: Decimal?
    var triggerPrice: Decimal?
    var clientOrderID: String?
}

/// Every write of the order path to `orders`, `order_events`, the `trade-events` outbox and the
/// user's notifications. (Acceptance and fill times and the slippage are stamped by the database's
/// `orders_execution_quality` trigger, for every writer alike.)
///
/// Guarantees: a transition is a compare-and-set on the row's state (`WHERE state = from`), so of
/// two writers that read the same state — a redelivery and a sync, an old and a new shard owner —
/// exactly one moves it, and the loser re-reads; every state change appends its `order_events`
/// row and its `trade-events` message (outbox, same transaction); a move to RISK_REJECTED or
/// REJECTED also writes the user's `trade_execution_failed` notification, once per order, and a risk
/// denial its `audit_log` row. Callers
/// run these inside the fenced transaction of their delivery (and shard lease), so a writer that
/// lost its message or shard commits nothing.
enum OrderStore {
    static func load(_ db: PostgresConnection, id: UUID) throws -> OrderRecord? {
        try db.query("SELECT \(fragment: OrderRecord.columns) FROM orders WHERE id = \(id)").rows.first.map(OrderRecord.init(row:))
    }

    static func load(_ db: PostgresConnection, idempotencyKey: String) throws -> OrderRecord? {
        try db.query("SELECT \(fragment: OrderRecord.columns) FROM orders WHERE idempotency_key = \(idempotencyKey)").rows.first
            .map(OrderRecord.init(row:))
    }

    static func children(_ db: PostgresConnection, of parent: UUID) throws -> [OrderRecord] {
        try db.query("SELECT \(fragment: OrderRecord.columns) FROM orders WHERE parent_order_id = \(parent) ORDER BY idempotency_key").rows
            .map(OrderRecord.init(row:))
    }

    /// Inserts the row unless its idempotency key is taken and returns it as written; nil when the
    /// key was taken (a racing delivery wrote it first: the caller re-reads and continues from that row).
    static func insert(_ db: PostgresConnection, _ new: NewOrder, fencingToken: Int64?, notified: inout [UUID]) throws -> OrderRecord? {
        let o = new.order
        let inserted = try db.query("""
            INSERT INTO orders (id, user_id, account_id, requested_account_id, parent_order_id, idempotency_key, client_order_id, symbol,
                                exchange, side, order_type, time_in_force, product, quantity, price, trigger_price, state, requested_price,
                                risk_decision, route, reject_code, reject_reason, submitted_at, submit_attempts, fencing_token, completed_at)
            VALUES (\(new.id), \(new.userID), \(new.accountID), \(new.requestedAccountID), \(new.parentID), \(o.idempotencyKey),
                    \(new.clientOrderID), \(o.symbol), \(o.exchange), \(o.side.rawValue), \(o.type.rawValue), \(o.timeInForce.rawValue),
                    \(o.product.rawValue), \(new.quantity), \(o.limitPrice), \(o.triggerPrice), \(new.state.rawValue), \(new.requestedPrice),
                    \(new.riskDecision.text)::jsonb, \(new.route?.text)::jsonb, \(new.rejectCode), \(new.rejectReason),
                    \(new.submittedAt), \(new.submittedAt == nil ? 0 : 1), \(fencingToken),
                    CASE WHEN \(new.state.isTerminal) THEN now() END)
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING \(fragment: OrderRecord.columns)
            """).rows
        guard let row = inserted.first else { return nil }
        var steps: [(from: OrderState?, to: OrderState, detail: JSONValue?)] = [(nil, .received, nil)]
        for step in new.steps { steps.append((steps.last?.to, step.to, step.detail)) }
        try record(db, orderID: new.id, accountID: new.accountID, userID: new.userID, key: o.idempotencyKey, clientOrderID: new.clientOrderID,
                   symbol: o.symbol, exchange: o.exchange, side: o.side, steps: steps, filled: 0, average: nil)
        if new.state == .riskRejected {
            // Every denial is in the audit log too: who refused what, and why.
            try db.execute("""
                INSERT INTO audit_log (actor, action, entity_type, entity_id, details, correlation_id)
                VALUES ('worker:order-placer', 'order.risk-rejected', 'order', \(new.id.uuidString.lowercased()),
                        jsonb_build_object('account_id', \(new.accountID.uuidString.lowercased())::text, 'code', \(new.rejectCode)::text,
                                           'decision', \(new.riskDecision.text)::jsonb), \(o.idempotencyKey))
                """)
        }
        if new.state == .riskRejected, let id = try notifyFailure(db, orderID: new.id, userID: new.userID, accountID: new.accountID, key: o.idempotencyKey,
                              code: new.rejectCode ?? "RISK_REJECTED", reason: new.rejectReason ?? "refused by the risk engine") {
            notified.append(id)
        }
        return try OrderRecord(row: row)
    }

    /// Moves `order` from its state (as read) to `to` with `changes` and returns the row as written;
    /// nil when the row had moved on meanwhile (nothing written).
    @discardableResult
    static func move(_ db: PostgresConnection, _ order: OrderRecord, to: OrderState, _ changes: OrderChanges = OrderChanges(),
                     detail: JSONValue? = nil, fencingToken: Int64?, notified: inout [UUID]) throws -> OrderRecord? {
        precondition(order.state == to || order.state.canMove(to: to), "illegal order transition \(order.state) → \(to)")
        let filled = changes.filledQuantity ?? order.filledQuantity
        let average = changes.averagePrice ?? order.averagePrice
        let updated = try db.query("""
            UPDATE orders SET state = \(to.rawValue),
              broker_order_id = coalesce(\(changes.brokerOrderID), broker_order_id),
              filled_quantity = \(filled), average_price = \(average),
              reject_code = coalesce(\(changes.rejectCode), reject_code), reject_reason = coalesce(\(changes.rejectReason), reject_reason),
              unknown_reason = CASE WHEN \(to.rawValue) = 'UNKNOWN' THEN coalesce(\(changes.unknownReason), unknown_reason) ELSE unknown_reason END,
              next_lookup_at = \(changes.nextLookupAt),
              submitted_at = coalesce(\(changes.submittedAt), submitted_at),
              submit_attempts = submit_attempts + \(changes.submittedAt == nil ? 0 : 1),
              lookup_attempts = lookup_attempts + \(changes.lookedUp ? 1 : 0),
              quantity = coalesce(\(changes.quantity), quantity), price = coalesce(\(changes.limitPrice), price),
              trigger_price = coalesce(\(changes.triggerPrice), trigger_price), client_order_id = coalesce(\(changes.clientOrderID), client_order_id),
              completed_at = CASE WHEN \(to.isTerminal) THEN coalesce(completed_at, now()) ELSE completed_at END,
              fencing_token = coalesce(\(fencingToken), fencing_token), version = version + 1
            WHERE id = \(order.id) AND state = \(order.state.rawValue) AND version = \(Int32(order.version))
            RETURNING \(fragment: OrderRecord.columns)
            """).rows
        guard let row = updated.first else { return nil }
        if to != order.state || detail != nil || changes.filledQuantity.map({ $0 != order.filledQuantity }) == true {
            try record(db, orderID: order.id, accountID: order.accountID, userID: order.userID, key: order.idempotencyKey,
                       clientOrderID: changes.clientOrderID ?? order.clientOrderID, symbol: order.symbol, exchange: order.exchange, side: order.side,
                       steps: [(order.state, to, detail)], filled: filled, average: average)
        }
        if to == .rejected && order.state != .rejected, let id = try notifyFailure(db, orderID: order.id, userID: order.userID, accountID: order.accountID, key: order.idempotencyKey,
                              code: changes.rejectCode ?? "BROKER_REJECTED", reason: changes.rejectReason ?? "refused by the broker") {
            notified.append(id)
        }
        return try OrderRecord(row: row)
    }

    /// State changes of one order: their `order_events` rows and their `trade-events` messages (in
    /// the outbox), in one statement — the order path's commits are its bottleneck, so each step
    /// costs no round trip of its own. Events get ids in `steps` order.
    private static func record(_ db: PostgresConnection, orderID: UUID, accountID: UUID, userID: UUID, key: String, clientOrderID: String,
                               symbol: String, exchange: String, side: OrderSide, steps: [(from: OrderState?, to: OrderState, detail: JSONValue?)],
                               filled: Decimal, average: Decimal?) throws {
        let lower = { (id: UUID) in id.uuidString.lowercased() }
        let common: JSONValue = .object([
            ("event", "order.state"), ("order_id", .string(lower(orderID))), ("account_id", .string(lower(accountID))),
            ("user_id", .string(lower(userID))), ("idempotency_key", .string(key)), ("client_order_id", .string(clientOrderID)),
            ("symbol", .string(symbol)), ("exchange", .string(exchange)), ("side", .string(side.rawValue)),
            ("filled_quantity", .string(DecimalText.plain(filled))), ("average_price", average.map { .string(DecimalText.plain($0)) } ?? .null),
        ])
        var binds: [PostgresData?] = [orderID.postgresData(), accountID.postgresData(), lower(orderID).postgresData(), common.text.postgresData()]
        var rows: [String] = []
        for (index, step) in steps.enumerated() {
            binds += [Int32(index).postgresData(), step.from?.rawValue.postgresData(), step.to.rawValue.postgresData(), step.detail?.text.postgresData()]
            let n = binds.count
            rows.append("($\(n - 3)::integer, $\(n - 2)::text, $\(n - 1)::text, $\(n)::jsonb)")
        }
        try db.execute(PostgresQuery(unsafeSQL: """
            WITH steps (n, from_state, to_state, detail) AS (VALUES \(rows.joined(separator: ", "))),
            e AS (
                INSERT INTO order_events (order_id, from_state, to_state, detail)
                SELECT $1, from_state, to_state, detail FROM steps ORDER BY n
                RETURNING id, from_state, to_state, detail)
            INSERT INTO trade_event_outbox (account_id, event_key, payload)
            SELECT $2, 'order:' || $3 || ':' || e.id,
                   $4::jsonb || jsonb_build_object('from', e.from_state, 'to', e.to_state)
                     || CASE WHEN e.detail IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('detail', e.detail) END
            FROM e ORDER BY e.id
            ON CONFLICT (event_key) DO NOTHING
            """, binds: binds))
    }

    /// The user's `trade_execution_failed` notification (once per order: keyed by it); the
    /// notifier delivers it on the channels the user chose. Returns the new row's id (nil: it existed).
    private static func notifyFailure(_ db: PostgresConnection, orderID: UUID, userID: UUID, accountID: UUID, key: String, code: String,
                                      reason: String) throws -> UUID? {
        let payload: JSONValue = [
            "order_id": .string(orderID.uuidString.lowercased()), "account_id": .string(accountID.uuidString.lowercased()),
            "idempotency_key": .string(key), "code": .string(code), "reason": .string(reason),
        ]
        return try NotificationOutbox.insert(db, NewNotification(
            userID: userID, kind: "trade_execution_failed", title: "Order not placed (\(code))", body: reason, priority: .high,
            payload: payload, dedupKey: "trade_execution_failed:\(orderID.uuidString.lowercased())", actionURL: "/orders/\(orderID.uuidString.lowercased())"))
    }
}
