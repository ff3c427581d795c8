import Foundation
import TMCore
import TMPostgres

extension NotificationOutbox {
    /// `insert` for many rows in one statement (one round trip, however many fire together): each
    /// row is inserted unless its dedup key exists — in the table, or earlier in `notifications`.
    /// Returns the new row's id for each, in input order; nil for each one that was not inserted.
    public static func insertAll(_ db: PostgresConnection, _ notifications: [NewNotification]) throws -> [UUID?] {
        guard !notifications.isEmpty else { return [] }
        func column(_ value: (NewNotification) -> PostgresData?) -> PostgresData { .array(notifications.map(value)) }
        func text(_ value: String?) -> PostgresData? { value.map { PostgresData($0) } }
        let channels = column { $0.channels.map { PostgresData("{" + $0.map(\.rawValue).joined(separator: ",") + "}") } }
        // ORDER BY n: rows go in (and a repeated key keeps its first row) in input order.
        let rows = try db.query("""
            INSERT INTO notifications (user_id, kind, title, body, priority, severity, payload, dedup_key, action_url, expires_at,
                                       channels, recipient_role, escalation_of, escalation_step)
            SELECT v.user_id, v.kind, v.title, v.body, v.priority, v.severity, v.payload::jsonb, v.dedup_key, v.action_url, v.expires_at,
                   v.channels::text[], v.recipient_role, v.escalation_of, v.escalation_step
            FROM unnest(\(column { PostgresData($0.userID) })::uuid[], \(column { text($0.kind) })::text[], \(column { text($0.title) })::text[],
                        \(column { text($0.body) })::text[], \(column { text($0.priority.rawValue) })::text[],
                        \(column { text($0.severity?.rawValue) })::text[], \(column { text($0.payload.text) })::text[],
                        \(column { text($0.dedupKey) })::text[], \(column { text($0.actionURL) })::text[],
                        \(column { $0.expiresAt.map { PostgresData($0) } })::timestamptz[], \(channels)::text[],
                        \(column { text($0.recipientRole) })::text[], \(column { $0.escalation.map { PostgresData($0.of) } })::uuid[],
                        \(column { $0.escalation.map { PostgresData($0.step) } })::int[])
                 WITH ORDINALITY AS v(user_id, kind, title, body, priority, severity, payload, dedup_key, action_url, expires_at,
                                      channels, recipient_role, escalation_of, escalation_step, n)
            ORDER BY v.n
            ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key
            """).rows
        var inserted: [String: UUID] = [:]
        for row in rows { inserted[try row.decode("dedup_key")] = try row.decode("id") }
        // A key repeated in the input was inserted once: its first occurrence has the id.
        return notifications.map { inserted.removeValue(forKey: $0.dedupKey) }
    }
}
