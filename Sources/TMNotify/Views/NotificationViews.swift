import Foundation
import TMCore
import TMPostgres
import TMQueue

/// One notification as `tm notifications list` and `show` print it (never a secret: addresses of
/// deliveries are shown redacted, errors were scrubbed when stored).
public struct NotificationView: Sendable {
    public struct Delivery: Sendable {
        public var id: UUID
        public var channel: String
        public var recipient: String
        public var status: String
        public var attempts: Int
        public var resends: Int
        public var lastError: String?
        public var providerMessageID: String?
        public var nextAttemptAt: Date?
        public var sentAt: Date?
    }

    public var id: UUID
    public var userID: UUID
    public var kind: String
    public var title: String
    public var body: String
    public var priority: String
    public var severity: String?
    public var status: String
    public var channels: String?
    public var recipientRole: String?
    public var actionURL: String?
    public var lastError: String?
    public var createdAt: Date
    public var sentAt: Date?
    public var readAt: Date?
    public var expiresAt: Date?
    public var payload: JSONValue
    public var deliveries: [Delivery] = []

    public var json: JSONValue {
        let time = ISO8601DateFormatter()
        func date(_ d: Date?) -> JSONValue { d.map { .string(time.string(from: $0)) } ?? .null }
        var members: [(key: String, value: JSONValue)] = [
            ("id", .string(id.uuidString.lowercased())), ("user_id", .string(userID.uuidString.lowercased())), ("kind", .string(kind)),
            ("title", .string(title)), ("body", .string(body)), ("priority", .string(priority)), ("severity", .optional(severity)),
            ("status", .string(status)), ("channels", .optional(channels)), ("recipient_role", .optional(recipientRole)),
            ("action_url", .optional(actionURL)), ("last_error", .optional(lastError)), ("created_at", date(createdAt)),
            ("sent_at", date(sentAt)), ("read_at", date(readAt)), ("expires_at", date(expiresAt)), ("payload", payload),
        ]
        members.append(("deliveries", .array(deliveries.map { d in
            .object([("id", .string(d.id.uuidString.lowercased())), ("channel", .string(d.channel)), ("recipient", .string(d.recipient)),
                     ("status", .string(d.status)), ("attempts", .int(d.attempts)), ("resends", .int(d.resends)), ("last_error", .optional(d.lastError)),
                     ("provider_message_id", .optional(d.providerMessageID)), ("next_attempt_at", date(d.nextAttemptAt)), ("sent_at", date(d.sentAt))])
        })))
        return .object(members)
    }
}

/// The operator's and the app's view of notifications: list, show, mark read, resend.
public enum NotificationViews {
    static let columns = """
        id, user_id, kind, title, body, priority, severity, status, array_to_string(channels, ',') AS channels, recipient_role, action_url,
        last_error, created_at, sent_at, read_at, expires_at, payload::text AS payload
        """

    static func view(_ row: PostgresRow) throws -> NotificationView {
        NotificationView(id: try row.decode("id"), userID: try row.decode("user_id"), kind: try row.decode("kind"), title: try row.decode("title"),
                         body: try row.decode("body"), priority: try row.decode("priority"), severity: try row.decode("severity"),
                         status: try row.decode("status"), channels: try row.decode("channels"), recipientRole: try row.decode("recipient_role"),
                         actionURL: try row.decode("action_url"), lastError: try row.decode("last_error"), createdAt: try row.decode("created_at"),
                         sentAt: try row.decode("sent_at"), readAt: try row.decode("read_at"), expiresAt: try row.decode("expires_at"),
                         payload: (try? JSONValue.parse(try row.decode("payload", as: String.self))) ?? [:])
    }

    /// Newest first; a user's, or everyone's.
    public static func list(_ db: PostgresConnection, user: UUID?, unreadOnly: Bool, limit: Int) throws -> [NotificationView] {
        try db.query("""
            SELECT \(fragment: PostgresQuery(unsafeSQL: columns)) FROM notifications
            WHERE (\(user)::uuid IS NULL OR user_id = \(user)) AND (NOT \(unreadOnly) OR read_at IS NULL)
            ORDER BY created_at DESC, id LIMIT \(limit)
            """).rows.map(view)
    }

    /// One notification with its deliveries (recipients of a user's channel shown redacted).
    public static func show(_ db: PostgresConnection, id: UUID) throws -> NotificationView? {
        guard let row = try db.query("SELECT \(fragment: PostgresQuery(unsafeSQL: columns)) FROM notifications WHERE id = \(id)").rows.first else { return nil }
        var view = try view(row)
        view.deliveries = try db.query("""
            SELECT d.id, d.channel, d.recipient, d.status, d.attempts, d.resends, d.last_error, d.provider_message_id, d.next_attempt_at,
                   d.sent_at, c.address
            FROM notification_deliveries d LEFT JOIN notification_channels c ON c.id = d.channel_id
            WHERE d.notification_id = \(id) ORDER BY d.created_at, d.id
            """).rows.map { row in
            let channel: String = try row.decode("channel")
            let address: String? = try row.decode("address")
            let recipient: String = try row.decode("recipient")
            return NotificationView.Delivery(
                id: try row.decode("id"), channel: channel,
                recipient: address.map { SecretScrubber.redactAddress($0, channel: NotificationChannel(rawValue: channel) ?? .email) } ?? recipient,
                status: try row.decode("status"), attempts: try row.decode("attempts"), resends: try row.decode("resends"),
                lastError: try row.decode("last_error"), providerMessageID: try row.decode("provider_message_id"),
                nextAttemptAt: try row.decode("next_attempt_at"), sentAt: try row.decode("sent_at"))
        }
        return view
    }

    /// Marks it read (once: the first read time stays); false when there is no such notification.
    @discardableResult
    public static func markRead(_ db: PostgresConnection, id: UUID, at: Date = Date()) throws -> Bool {
        try db.query("""
            UPDATE notifications SET read_at = coalesce(read_at, \(at)) WHERE id = \(id) RETURNING id
            """).rows.count == 1
    }

    /// What `resend` did.
    public struct Resend: Sendable {
        public var deliveries: Int
        public var message: OutgoingMessage
    }

    /// Makes the notification's deliveries (one channel's, or all) new attempts: pending again with
    /// a raised resend count (receivers see a new idempotency key), the notification pending, and
    /// an audit row. Returns the message to enqueue after the commit (a key of its own, so it is
    /// not the first announcement's duplicate). Throws when nothing matches.
    public static func resend(_ db: PostgresConnection, id: UUID, channel: NotificationChannel?, actor: String) throws -> Resend {
        try db.transaction { db in
            guard try db.query("SELECT 1 FROM notifications WHERE id = \(id) FOR UPDATE").rows.count == 1 else {
                throw ResendRefused("no notification \(id.uuidString.lowercased())")
            }
            let reset = try db.query("""
                UPDATE notification_deliveries SET status = 'pending', resends = resends + 1, attempts = 0, last_error = NULL, sent_at = NULL,
                       claimed_until = NULL, next_attempt_at = NULL, provider_message_id = NULL
                WHERE notification_id = \(id) AND (\(channel?.rawValue)::text IS NULL OR channel = \(channel?.rawValue))
                RETURNING resends
                """).rows
            let hasDeliveries = try db.query("SELECT 1 FROM notification_deliveries WHERE notification_id = \(id) LIMIT 1").rows.count == 1
            if reset.isEmpty && (channel != nil || hasDeliveries) {
                throw ResendRefused("notification \(id.uuidString.lowercased()) has no delivery\(channel.map { " on \($0.rawValue)" } ?? "")")
            }
            try db.execute("UPDATE notifications SET status = 'pending', sent_at = NULL, last_error = NULL WHERE id = \(id)")
            let generation = try reset.map { try $0.decode("resends", as: Int.self) }.max() ?? 0
            let details: JSONValue = ["channel": .optional(channel?.rawValue), "deliveries": .int(reset.count)]
            try db.execute("""
                INSERT INTO audit_log (actor, action, entity_type, entity_id, details)
                VALUES (\(actor), 'notification.resend', 'notification', \(id.uuidString.lowercased()), \(details.text)::jsonb)
                """)
            let text = id.uuidString.lowercased()
            let message = try OutgoingMessage(json: ["notification_id": text],
                                              key: "notification:\(text):resend:\(generation):\(UUID().uuidString.lowercased())")
            return Resend(deliveries: reset.count, message: message)
        }
    }
}

/// A resend that cannot be done (no such notification, no delivery on that channel).
public struct ResendRefused: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
