import Foundation
import TMCore
import TMPostgres
import TMQueue

/// How soon a notification matters to its reader (the in-app list sorts and badges by it).
public enum NotificationPriority: String, Sendable, CaseIterable, Codable {
    case low, medium, high, urgent
}

/// The escalation class of an alert: decides its channels and what happens while nobody
/// acknowledges it (INFO in-app; WARNING + email, then Slack; ERROR every channel, then the manager,
/// then SMS; CRITICAL every channel + SMS, then the executive, then an incident call).
public enum AlertSeverity: String, Sendable, CaseIterable, Codable {
    case info, warning, error, critical
}

/// A way to reach someone.
public enum NotificationChannel: String, Sendable, CaseIterable, Codable {
    case inApp = "in_app", email, webhook, slack, sms, push, call
}

/// One notification as its producer states it. The notifier decides how it travels.
public struct NewNotification: Sendable {
    public var userID: UUID
    /// What happened, e.g. `price_alert`, `limit_warning`, `trade_execution_failed`, `sync_error`.
    public var kind: String
    public var title: String
    public var body: String
    public var priority: NotificationPriority
    /// Set for alerts: their severity drives channels and escalation. nil: preferences alone.
    public var severity: AlertSeverity?
    /// Structured detail for receivers (webhooks get it verbatim). Never a credential or token.
    public var payload: JSONValue
    /// Exactly-once guard: a second insert with the same key is a no-op (e.g. `price_alert:<id>:<n>`).
    public var dedupKey: String
    public var actionURL: String?
    public var expiresAt: Date?
    /// Exactly these channels (an escalation step); nil: severity and the user's preferences decide.
    public var channels: [NotificationChannel]?
    /// A contact role of Config/escalation.yaml (`admin`, `manager`, `executive`, `on_call`) to reach
    /// instead of the user; nil: the user.
    public var recipientRole: String?
    /// For an escalation step: the alert it escalates and the step's number (1, 2, ...).
    public var escalation: (of: UUID, step: Int)?

    public init(userID: UUID, kind: String, title: String, body: String, priority: NotificationPriority = .medium,
                severity: AlertSeverity? = nil, payload: JSONValue = [:], dedupKey: String, actionURL: String? = nil,
                expiresAt: Date? = nil, channels: [NotificationChannel]? = nil, recipientRole: String? = nil,
                escalation: (of: UUID, step: Int)? = nil) {
        self.userID = userID
        self.kind = kind
        self.title = title
        self.body = body
        self.priority = priority
        self.severity = severity
        self.payload = payload
        self.dedupKey = dedupKey
        self.actionURL = actionURL
        self.expiresAt = expiresAt
        self.channels = channels
        self.recipientRole = recipientRole
        self.escalation = escalation
    }
}

/// The one way every producer writes a notification: a row in the producer's own transaction, then
/// (after the commit) a message on `notifications` naming it.
///
/// Guarantees: the row commits or rolls back with the event that caused it; its dedup key makes a
/// redelivered or raced producer insert it once (`insert` returns nil for the loser); the message
/// carries only the id (keyed `notification:<id>`, so announcing twice enqueues once), and a lost
/// announcement is found by the notifier's sweep of pending rows — the row is the truth.
public enum NotificationOutbox {
    public static let queue = "notifications"

    /// Inserts the row unless its dedup key exists. Returns the new row's id, nil when it existed.
    @discardableResult
    public static func insert(_ db: PostgresConnection, _ notification: NewNotification) throws -> UUID? {
        let channels = notification.channels.map { "{" + $0.map(\.rawValue).joined(separator: ",") + "}" }
        return try db.query("""
            INSERT INTO notifications (user_id, kind, title, body, priority, severity, payload, dedup_key, action_url, expires_at,
                                       channels, recipient_role, escalation_of, escalation_step)
            VALUES (\(notification.userID), \(notification.kind), \(notification.title), \(notification.body),
                    \(notification.priority.rawValue), \(notification.severity?.rawValue), \(notification.payload.text)::jsonb,
                    \(notification.dedupKey), \(notification.actionURL), \(notification.expiresAt), \(channels)::text[],
                    \(notification.recipientRole), \(notification.escalation?.of), \(notification.escalation?.step))
            ON CONFLICT (dedup_key) DO NOTHING RETURNING id
            """).rows.first?.decode("id")
    }

    /// Queues each new notification for the notifier; best effort (see the type's guarantees).
    public static func announce(_ ids: [UUID], producer: QueueProducer?, queue: String = NotificationOutbox.queue) async {
        guard let producer, !ids.isEmpty else { return }
        // One round trip for the lot (a sweep may announce thousands of steps).
        _ = try? await producer.enqueueBatch(queue, ids.compactMap { try? message(for: $0) })
    }

    /// The `notifications` message for one row.
    public static func message(for id: UUID) throws -> OutgoingMessage {
        let text = id.uuidString.lowercased()
        return try OutgoingMessage(json: ["notification_id": text], key: "notification:\(text)")
    }
}
