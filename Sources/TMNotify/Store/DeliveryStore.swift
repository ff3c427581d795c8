import Foundation
import TMCore
import TMPostgres

/// A notification row as the notifier reads it.
struct NotificationRecord: Sendable {
    var id: UUID
    var userID: UUID
    var kind: String
    var title: String
    var body: String
    var priority: NotificationPriority
    var severity: AlertSeverity?
    var payload: JSONValue
    var actionURL: String?
    var expiresAt: Date?
    var channels: [NotificationChannel]?
    var recipientRole: String?
    var status: String
    var createdAt: Date

    static func load(_ db: PostgresConnection, id: UUID) throws -> NotificationRecord? {
        guard let row = try db.query("""
            SELECT id, user_id, kind, title, body, priority, severity, payload::text AS payload, action_url, expires_at,
                   array_to_string(channels, ',') AS channels, recipient_role, status, created_at
            FROM notifications WHERE id = \(id)
            """).rows.first else { return nil }
        let channels: String? = try row.decode("channels")
        let severity: String? = try row.decode("severity")
        return NotificationRecord(
            id: try row.decode("id"), userID: try row.decode("user_id"), kind: try row.decode("kind"), title: try row.decode("title"),
            body: try row.decode("body"), priority: NotificationPriority(rawValue: try row.decode("priority")) ?? .medium,
            severity: severity.flatMap(AlertSeverity.init(rawValue:)), payload: (try? JSONValue.parse(try row.decode("payload", as: String.self))) ?? [:],
            actionURL: try row.decode("action_url"), expiresAt: try row.decode("expires_at"),
            channels: channels.map { $0.split(separator: ",").compactMap { NotificationChannel(rawValue: String($0)) } },
            recipientRole: try row.decode("recipient_role"), status: try row.decode("status"), createdAt: try row.decode("created_at"))
    }

    var describeChannels: String {
        let source = channels != nil ? "explicit" : severity != nil ? "severity \(severity!.rawValue)" : "preferences"
        return source + (recipientRole.map { ", role \($0)" } ?? "")
    }

    func envelope(_ delivery: DeliveryRow, address: String, signingSecret: String?) -> DeliveryEnvelope {
        DeliveryEnvelope(deliveryID: delivery.id, idempotencyKey: delivery.idempotencyKey, notificationID: id, kind: kind, title: title,
                         body: body, priority: priority, severity: severity, payload: payload, actionURL: actionURL, createdAt: createdAt,
                         address: address, signingSecret: signingSecret)
    }
}

/// Where one delivery goes: a channel and a recipient (`user`, a channel id, `role:<name>`).
struct DeliveryTarget: Sendable, Hashable {
    var channel: NotificationChannel
    var recipient: String
    var channelID: UUID?
}

/// A delivery row with its channel's address and state.
struct DeliveryRow: Sendable {
    var id: UUID
    var channel: NotificationChannel
    var recipient: String
    var channelID: UUID?
    var status: String
    var resends: Int
    /// The channel's address as stored (redacted for a sealed URL).
    var address: String?
    /// A webhook's or Slack channel's sealed URL (nil for other channels, and for a row stored
    /// before addresses were sealed, whose `address` is the plain URL until it is sealed).
    var sealedAddress: String?
    var sealedSecret: String?
    var channelEnabled: Bool
    var channelFailing: Bool

    /// The delivery id, `.r<n>` after the n-th resend: what receivers deduplicate by.
    var idempotencyKey: String { id.uuidString.lowercased() + (resends > 0 ? ".r\(resends)" : "") }
}

/// The SQL of `notification_deliveries`.
enum DeliveryStore {
    static func insert(_ db: PostgresConnection, notification: UUID, targets: [DeliveryTarget]) throws {
        for target in targets {
            try db.execute("""
                INSERT INTO notification_deliveries (notification_id, channel, recipient, channel_id)
                VALUES (\(notification), \(target.channel.rawValue), \(target.recipient), \(target.channelID))
                ON CONFLICT (notification_id, channel, recipient) DO NOTHING
                """)
        }
    }

    static func load(_ db: PostgresConnection, notification: UUID) throws -> [DeliveryRow] {
        try db.query("""
            SELECT d.id, d.channel, d.recipient, d.channel_id, d.status, d.resends, c.address, c.address_sealed, c.signing_secret_sealed,
                   coalesce(c.enabled, true) AS enabled, c.failing_since IS NOT NULL AS failing
            FROM notification_deliveries d LEFT JOIN notification_channels c ON c.id = d.channel_id
            WHERE d.notification_id = \(notification) ORDER BY d.created_at, d.id
            """).rows.map { row in
            DeliveryRow(id: try row.decode("id"), channel: NotificationChannel(rawValue: try row.decode("channel")) ?? .inApp,
                        recipient: try row.decode("recipient"), channelID: try row.decode("channel_id"), status: try row.decode("status"),
                        resends: try row.decode("resends"), address: try row.decode("address"), sealedAddress: try row.decode("address_sealed"), sealedSecret: try row.decode("signing_secret_sealed"),
                        channelEnabled: try row.decode("enabled"), channelFailing: try row.decode("failing"))
        }
    }

    /// Takes a delivery for one try: only one not sent and not dead, and not held by a live claim
    /// of another notifier, passes. Returns the attempt's number, nil when it is not to be tried.
    static func claim(_ db: PostgresConnection, delivery: UUID, now: Date, for lease: Duration) throws -> Int? {
        try db.query("""
            UPDATE notification_deliveries SET status = 'sending', attempts = attempts + 1,
                   claimed_until = \(now) + \(lease.milliseconds)::bigint * interval '1 millisecond'
            WHERE id = \(delivery) AND (status IN ('pending', 'failed') OR (status = 'sending' AND claimed_until < \(now)))
            RETURNING attempts
            """).rows.first?.decode("attempts")
    }

    static func markSent(_ db: PostgresConnection, delivery: DeliveryRow, providerID: String?, at: Date) throws {
        try db.transaction { db in
            try db.execute("""
                UPDATE notification_deliveries SET status = 'sent', sent_at = \(at), provider_message_id = \(providerID),
                       claimed_until = NULL, next_attempt_at = NULL, last_error = NULL
                WHERE id = \(delivery.id) AND status = 'sending'
                """)
            if let channel = delivery.channelID {
                try db.execute("UPDATE notification_channels SET consecutive_failures = 0 WHERE id = \(channel) AND consecutive_failures > 0")
            }
        }
    }

    static func markFailed(_ db: PostgresConnection, delivery: UUID, dead: Bool, reason: String, retryAt: Date) throws {
        let text = reason.count > 1000 ? String(reason.prefix(999)) + "…" : reason
        try db.execute("""
            UPDATE notification_deliveries SET status = \(dead ? "dead" : "failed"), last_error = \(text), claimed_until = NULL,
                   next_attempt_at = \(dead ? nil : retryAt)
            WHERE id = \(delivery) AND status = 'sending'
            """)
    }

    /// Counts a failure against a user's channel; returns the channel when this failure made it
    /// failing (its open deliveries are then dead-lettered too).
    static func countFailure(_ db: PostgresConnection, channel: UUID, reason: String, failingAfter: Int, now: Date) throws -> ChannelRecord? {
        let text = reason.count > 1000 ? String(reason.prefix(999)) + "…" : reason
        guard let row = try db.query("""
            UPDATE notification_channels SET consecutive_failures = consecutive_failures + 1, updated_at = now(),
                   failing_since = CASE WHEN consecutive_failures + 1 >= \(failingAfter) THEN coalesce(failing_since, \(now)) END,
                   disabled_reason = CASE WHEN consecutive_failures + 1 >= \(failingAfter) THEN \(text) END
            WHERE id = \(channel)
            RETURNING id, user_id, channel, address, enabled, consecutive_failures, failing_since, disabled_reason,
                      consecutive_failures = \(failingAfter) AS became_failing
            """).rows.first, try row.decode("became_failing", as: Bool.self) else { return nil }
        try db.execute("""
            UPDATE notification_deliveries SET status = 'dead', claimed_until = NULL, next_attempt_at = NULL,
                   last_error = 'channel marked failing: not retried until re-enabled'
            WHERE channel_id = \(channel) AND status IN ('pending', 'failed')
            """)
        return try NotificationChannels.record(row)
    }

    /// Expired before delivery: nothing more goes out.
    static func expire(_ db: PostgresConnection, id: UUID, at: Date) throws {
        try db.transaction { db in
            try db.execute("""
                UPDATE notification_deliveries SET status = 'dead', last_error = 'expired before delivery', claimed_until = NULL, next_attempt_at = NULL
                WHERE notification_id = \(id) AND status IN ('pending', 'failed')
                """)
            try db.execute("""
                UPDATE notifications SET status = 'cancelled', last_error = \("expired at \(ISO8601DateFormatter().string(from: at)) before delivery")
                WHERE id = \(id) AND status = 'pending'
                """)
        }
    }

    struct Settled { var status: String; var open: Int; var errors: [String] }

    /// The notification's status from its deliveries: sent when all are sent, failed when all are
    /// done and some are dead (or there are none), else pending.
    static func settle(_ db: PostgresConnection, notification: UUID, now: Date, noTarget: String?) throws -> Settled {
        let row = try db.query("""
            SELECT count(*) FILTER (WHERE status IN ('pending', 'sending', 'failed'))::int AS open,
                   count(*) FILTER (WHERE status = 'dead')::int AS dead, count(*)::int AS total,
                   coalesce(string_agg(last_error, '; ' ORDER BY channel) FILTER (WHERE status IN ('failed', 'dead')), '') AS errors
            FROM notification_deliveries WHERE notification_id = \(notification)
            """).rows[0]
        let (open, dead, total): (Int, Int, Int) = (try row.decode("open"), try row.decode("dead"), try row.decode("total"))
        let errors: String = try row.decode("errors")
        let status = total == 0 ? "failed" : open > 0 ? "pending" : dead > 0 ? "failed" : "sent"
        let lastError = total == 0 ? noTarget : (errors.isEmpty ? nil : String(errors.prefix(1000)))
        try db.execute("""
            UPDATE notifications SET status = \(status), attempts = attempts + 1, last_error = \(lastError),
                   sent_at = CASE WHEN \(status) = 'sent' THEN coalesce(sent_at, \(now)) END
            WHERE id = \(notification) AND status = 'pending'
            """)
        return Settled(status: status, open: open, errors: errors.isEmpty ? [] : errors.components(separatedBy: "; "))
    }
}
