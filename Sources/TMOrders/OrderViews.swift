import Foundation
import TMCore
import TMPostgres

/// One order as the operator views show it. Decimals are their exact database text; the risk
/// decision, the route and event details are the stored JSON, unchanged.
public struct OrderView: Sendable {
    public var id: UUID
    public var accountID: UUID
    public var accountLabel: String
    public var broker: String
    public var symbol: String
    public var exchange: String
    public var side: String
    public var type: String
    public var timeInForce: String
    public var quantity: String
    public var filledQuantity: String
    public var price: String?
    public var triggerPrice: String?
    public var state: String
    public var idempotencyKey: String?
    public var clientOrderID: String?
    public var brokerOrderID: String?
    public var rejectCode: String?
    public var rejectReason: String?
    public var riskDecision: JSONValue?
    public var route: JSONValue?
    public var requestedPrice: String?
    public var averagePrice: String?
    public var slippageBps: String?
    public var createdAt: Date
    public var submittedAt: Date?
    public var acceptedAt: Date?
    public var filledAt: Date?
    public var completedAt: Date?
    /// Why the outcome is unknown, and the look-up state (UNKNOWN orders).
    public var unknownReason: String?
    public var submitAttempts: Int = 0
    public var lookupAttempts: Int = 0
    public var nextLookupAt: Date?
    /// The order the router split this one from.
    public var parentOrderID: UUID?
    /// Every state change, oldest first (`show` only; empty in a list).
    public var events: [OrderEvent] = []

    /// Milliseconds from creation to the broker's acceptance, and to the (last) fill.
    public var timeToAcceptMs: Int64? { acceptedAt.map { Int64(($0.timeIntervalSince(createdAt) * 1000).rounded()) } }
    public var timeToFillMs: Int64? { filledAt.map { Int64(($0.timeIntervalSince(createdAt) * 1000).rounded()) } }

    /// The `--json` form: snake_case, decimals as strings, times in ISO 8601 (UTC).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("id", .string(text(id))), ("account_id", .string(text(accountID))), ("account_label", .string(accountLabel)),
            ("broker", .string(broker)), ("symbol", .string(symbol)), ("exchange", .string(exchange)), ("side", .string(side)),
            ("type", .string(type)), ("tif", .string(timeInForce)), ("quantity", .string(quantity)), ("filled_quantity", .string(filledQuantity)),
            ("price", .optional(price)), ("trigger", .optional(triggerPrice)), ("state", .string(state)),
            ("idempotency_key", .optional(idempotencyKey)), ("client_order_id", .optional(clientOrderID)),
            ("broker_order_id", .optional(brokerOrderID)), ("reject_code", .optional(rejectCode)), ("reject_reason", .optional(rejectReason)),
            ("risk_decision", riskDecision ?? .null), ("route", route ?? .null), ("requested_price", .optional(requestedPrice)),
            ("average_price", .optional(averagePrice)), ("slippage_bps", .optional(slippageBps)),
            ("time_to_accept_ms", timeToAcceptMs.map { .number(String($0)) } ?? .null),
            ("time_to_fill_ms", timeToFillMs.map { .number(String($0)) } ?? .null),
            ("created_at", .string(OrderViews.time(createdAt))), ("submitted_at", .optional(submittedAt.map(OrderViews.time))),
            ("accepted_at", .optional(acceptedAt.map(OrderViews.time))), ("filled_at", .optional(filledAt.map(OrderViews.time))),
            ("completed_at", .optional(completedAt.map(OrderViews.time))), ("unknown_reason", .optional(unknownReason)),
            ("submit_attempts", .number(String(submitAttempts))), ("lookup_attempts", .number(String(lookupAttempts))),
            ("next_lookup_at", .optional(nextLookupAt.map(OrderViews.time))), ("parent_order_id", .optional(parentOrderID.map(text))),
        ]
        if !events.isEmpty { members.append(("events", .array(events.map(\.json)))) }
        return .object(members)
    }
}

/// One state change of an order (a line of `order_event_details`: one per step, whether its
/// `order_events` row holds it alone or with the steps of the same write, migration 0055).
public struct OrderEvent: Sendable {
    public var fromState: String?
    public var toState: String
    public var at: Date
    public var detail: JSONValue?

    public var json: JSONValue {
        .object([("from", .optional(fromState)), ("to", .string(toState)), ("at", .string(OrderViews.time(at))), ("detail", detail ?? .null)])
    }
}

/// The read-only queries behind `tm orders list` and `tm orders show`.
public enum OrderViews {
    /// Newest first, optionally of one account and in one state.
    public static func list(_ db: PostgresConnection, account: UUID? = nil, state: OrderState? = nil, limit: Int = 50) throws -> [OrderView] {
        try db.query("""
            \(fragment: select) WHERE (\(account)::uuid IS NULL OR o.account_id = \(account)) AND (\(state?.rawValue)::text IS NULL OR o.state = \(state?.rawValue))
            ORDER BY o.created_at DESC, o.id LIMIT \(limit)
            """).rows.map(view)
    }

    /// Orders whose outcome is not known yet — UNKNOWN, and SUBMITTING for longer than a minute (a
    /// broker call that never came back) — the soonest looked up again first.
    public static func unknown(_ db: PostgresConnection, limit: Int = 100) throws -> [OrderView] {
        try db.query("""
            \(fragment: select) WHERE o.state = 'UNKNOWN' OR (o.state = 'SUBMITTING' AND o.submitted_at < now() - interval '1 minute')
            ORDER BY o.next_lookup_at NULLS FIRST, o.created_at LIMIT \(limit)
            """).rows.map(view)
    }

    /// One order with every state change; nil when there is no such order.
    public static func show(_ db: PostgresConnection, order id: UUID) throws -> OrderView? {
        guard let row = try db.query("\(fragment: select) WHERE o.id = \(id)").rows.first else { return nil }
        var order = try view(row)
        // The view fills in the ROUTED event's detail, the row's route (migration 0047).
        order.events = try db.query("SELECT from_state, to_state, at, detail::text AS detail FROM order_event_details WHERE order_id = \(id) ORDER BY id")
            .rows.map { row in
                OrderEvent(fromState: try row.decode("from_state"), toState: try row.decode("to_state"), at: try row.decode("at"),
                           detail: try json(row, "detail"))
            }
        return order
    }

    private static let select: PostgresQuery = """
        SELECT o.id, o.account_id, a.label, a.broker, o.symbol, o.exchange, o.side, o.order_type, o.time_in_force,
               o.quantity::text AS quantity, o.filled_quantity::text AS filled_quantity, o.price::text AS price,
               o.trigger_price::text AS trigger_price, o.state, o.idempotency_key, o.client_order_id, o.broker_order_id,
               o.reject_code, o.reject_reason, o.risk_decision::text AS risk_decision, o.route::text AS route,
               o.requested_price::text AS requested_price, o.average_price::text AS average_price, o.slippage_bps::text AS slippage_bps,
               o.created_at, o.submitted_at, o.accepted_at, o.filled_at, o.completed_at, o.unknown_reason, o.submit_attempts,
               o.lookup_attempts, o.next_lookup_at, o.parent_order_id
        FROM orders o JOIN broker_accounts a ON a.id = o.account_id
        """

    private static func view(_ row: PostgresRow) throws -> OrderView {
        OrderView(
            id: try row.decode("id"), accountID: try row.decode("account_id"), accountLabel: try row.decode("label"),
            broker: try row.decode("broker"), symbol: try row.decode("symbol"), exchange: try row.decode("exchange"),
            side: try row.decode("side"), type: try row.decode("order_type"), timeInForce: try row.decode("time_in_force"),
            quantity: try row.decode("quantity"), filledQuantity: try row.decode("filled_quantity"), price: try row.decode("price"),
            triggerPrice: try row.decode("trigger_price"), state: try row.decode("state"), idempotencyKey: try row.decode("idempotency_key"),
            clientOrderID: try row.decode("client_order_id"), brokerOrderID: try row.decode("broker_order_id"),
            rejectCode: try row.decode("reject_code"), rejectReason: try row.decode("reject_reason"),
            riskDecision: try json(row, "risk_decision"), route: try json(row, "route"), requestedPrice: try row.decode("requested_price"),
            averagePrice: try row.decode("average_price"), slippageBps: try row.decode("slippage_bps"), createdAt: try row.decode("created_at"),
            submittedAt: try row.decode("submitted_at"), acceptedAt: try row.decode("accepted_at"), filledAt: try row.decode("filled_at"),
            completedAt: try row.decode("completed_at"), unknownReason: try row.decode("unknown_reason"),
            submitAttempts: Int(try row.decode("submit_attempts", as: Int32.self)), lookupAttempts: Int(try row.decode("lookup_attempts", as: Int32.self)),
            nextLookupAt: try row.decode("next_lookup_at"), parentOrderID: try row.decode("parent_order_id"))
    }

    private static func json(_ row: PostgresRow, _ column: String) throws -> JSONValue? {
        guard let text: String = try row.decode(column) else { return nil }
        return try JSONValue.parse(text)
    }

    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

private func text(_ id: UUID) -> String { id.uuidString.lowercased() }
