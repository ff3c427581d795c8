import Foundation
import TMCore
import TMNotify
import TMPostgres

/// A price alert's notification before its firing number is known: everything but the number,
/// which the firing statement reads from the row it fired (`fire_count` after the update) and
/// writes into the body (repeat alerts), the payload and the dedup key.
struct PriceAlertNotice: Sendable {
    static let kind = "price_alert"
    static let priority = NotificationPriority.high

    let alertID: UUID
    let userID: UUID
    let title: String
    /// The body up to the firing number; all of it for an alert that does not repeat (no number).
    let head: String
    /// The body after the firing number (repeat alerts only).
    let tail: String?
    /// The payload's fields but `fire_count`.
    let payload: [(key: String, value: JSONValue)]
    /// The dedup key up to the firing number: `price_alert:<id>:`.
    let dedupPrefix: String

    init(_ hit: AlertHit) {
        let alert = hit.alert
        let threshold = alert.threshold.description
        let phrase = alert.condition.phrase(threshold)
        var head = "\(alert.symbol) (\(alert.exchange)) is at \(hit.price): your alert for \(phrase) fired"
        if alert.condition == .changePercent, let close = hit.previousClose { head += " (previous close \(close))" }
        let note = alert.note.map { " Note: \($0)" } ?? ""
        if alert.repeats {
            head += " (firing "
            tail = "); it re-arms after its cooldown." + note
        } else {
            head += "." + note
            tail = nil
        }
        self.head = head
        alertID = alert.id
        userID = alert.userID
        title = "\(alert.symbol) \(phrase)"
        let id = alert.id.uuidString.lowercased()
        var payload: [(key: String, value: JSONValue)] = [
            ("alert_id", .string(id)), ("symbol", .string(alert.symbol)), ("exchange", .string(alert.exchange)),
            ("condition", .string(alert.condition.rawValue)), ("threshold", .string(threshold)), ("price", .string(hit.price.description)),
        ]
        if let close = hit.previousClose { payload.append(("previous_close", .string(close.description))) }
        self.payload = payload
        dedupPrefix = "price_alert:\(id):"
    }
}

/// The statements of one firing, sent in ONE round trip with the transaction's BEGIN and COMMIT
/// (`PriceAlertEvaluator.commit`): the backend is woken once per firing, not once per statement.
enum PriceFiring {
    /// Fires the firable alerts among `hits` (one per alert, in lock order) and writes the winners'
    /// notifications, in one statement: the conditional UPDATE (`PriceAlertRules.firable`) is the only
    /// arbiter — a notification is written only for a row that statement fired, numbered by the
    /// row's new `fire_count`. Rows: `id` (each alert fired) and `notification` (its new row's id;
    /// NULL when its dedup key existed already).
    static func statement(_ hits: [AlertHit], now: Date) -> PostgresQuery {
        let notices = hits.map(PriceAlertNotice.init)
        let ids = PostgresArrayText.uuids(hits.map(\.alert.id))
        let prices = "{" + hits.map(\.price.description).joined(separator: ",") + "}"
        func column(_ value: (PriceAlertNotice) -> String?) -> PostgresData { .array(notices.map { value($0).map(PostgresData.init) }) }
        return """
            WITH fired AS (
                UPDATE price_alerts a SET state = 'triggered', triggered_at = \(now), triggered_price = v.price, last_seen_price = v.price,
                                          fire_count = a.fire_count + 1
                FROM unnest(\(ids)::uuid[], \(prices)::numeric[]) AS v(id, price)
                WHERE a.id = v.id AND \(fragment: PriceAlertRules.firable(now: now))
                RETURNING a.id, a.fire_count
            ), notified AS (
                INSERT INTO notifications (user_id, kind, title, body, priority, payload, dedup_key)
                SELECT n.user_id, \(PriceAlertNotice.kind), n.title, n.head || coalesce(f.fire_count::text || n.tail, ''), \(PriceAlertNotice.priority.rawValue),
                       n.payload::jsonb || jsonb_build_object('fire_count', f.fire_count), n.dedup_prefix || f.fire_count::text
                FROM unnest(\(column { $0.alertID.uuidString.lowercased() })::uuid[], \(column { $0.userID.uuidString.lowercased() })::uuid[],
                            \(column { $0.title })::text[], \(column { $0.head })::text[], \(column { $0.tail })::text[],
                            \(column { JSONValue.object($0.payload).text })::text[], \(column { $0.dedupPrefix })::text[])
                     WITH ORDINALITY AS n(alert_id, user_id, title, head, tail, payload, dedup_prefix, k)
                JOIN fired f ON f.id = n.alert_id
                ORDER BY n.k
                ON CONFLICT (dedup_key) DO NOTHING
                RETURNING id, (payload->>'alert_id')::uuid AS alert_id
            )
            SELECT f.id, d.id AS notification FROM fired f LEFT JOIN notified d ON d.alert_id = f.id
            """
    }

    /// Stores the cross alerts' last seen prices (`seen` in lock order), where they moved.
    static func lastSeen(_ seen: [(key: UUID, value: FixedDecimal)]) -> PostgresQuery {
        let ids = PostgresArrayText.uuids(seen.map(\.key))
        let prices = "{" + seen.map(\.value.description).joined(separator: ",") + "}"
        return """
            UPDATE price_alerts a SET last_seen_price = v.price
            FROM unnest(\(ids)::uuid[], \(prices)::numeric[]) AS v(id, price)
            WHERE a.id = v.id AND a.last_seen_price IS DISTINCT FROM v.price
            """
    }
}
