import Foundation
import TMCore
import TMPostgres

/// Acknowledging alerts (`tm alerts ack`): the one thing that stops an alert's escalation.
public enum Escalation {
    /// Step `step` of `alert`'s escalation is written once under this key.
    public static func dedupKey(alert: UUID, step: Int) -> String { "escalation:\(alert.uuidString.lowercased()):\(step)" }

    public enum Acknowledgement: Sendable, Equatable {
        /// Acknowledged now (by this call), at `at`.
        case acknowledged(alert: UUID, at: Date)
        /// Someone acknowledged it before, at `at`; nothing changed.
        case alreadyAcknowledged(alert: UUID, at: Date)
    }

    /// Sets the alert's `acknowledged_at` once, with an `audit_log` row naming `actor`. `id` may be
    /// the alert or one of its escalation steps (whoever a step reached acknowledges its alert).
    /// Refused (`EscalationError`, with the reason) for an unknown id or a notification without a
    /// severity (it has no escalation to stop).
    public static func acknowledge(id: UUID, actor: String, db: PostgresConnection) throws -> Acknowledgement {
        try db.transaction { db in
            guard let named = try db.query("SELECT escalation_of FROM notifications WHERE id = \(id)").rows.first else {
                throw EscalationError("no notification \(id.uuidString.lowercased())")
            }
            let alert: UUID = try named.decode("escalation_of", as: UUID?.self) ?? id
            // Locked: a sweep stepping this alert holds the same lock (see EscalationSweep).
            guard let row = try db.query("""
                SELECT kind, severity, acknowledged_at FROM notifications WHERE id = \(alert) FOR UPDATE
                """).rows.first else { throw EscalationError("no notification \(alert.uuidString.lowercased())") }
            let kind: String = try row.decode("kind")
            guard let severity: String = try row.decode("severity") else {
                throw EscalationError("notification \(alert.uuidString.lowercased()) (\(kind)) is not an alert: it has no severity, so nothing escalates")
            }
            if let at: Date = try row.decode("acknowledged_at") { return .alreadyAcknowledged(alert: alert, at: at) }
            let at: Date = try db.query("UPDATE notifications SET acknowledged_at = now() WHERE id = \(alert) RETURNING acknowledged_at").rows[0].decode("acknowledged_at")
            var details: [(key: String, value: JSONValue)] = [("kind", .string(kind)), ("severity", .string(severity))]
            if alert != id { details.append(("via_step", .string(id.uuidString.lowercased()))) }
            try db.execute("""
                INSERT INTO audit_log (actor, action, entity_type, entity_id, details)
                VALUES (\(actor), 'alert.acknowledge', 'notification', \(alert.uuidString.lowercased()), \(JSONValue.object(details).text)::jsonb)
                """)
            return .acknowledged(alert: alert, at: at)
        }
    }
}
