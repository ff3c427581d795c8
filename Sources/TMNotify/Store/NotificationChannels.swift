import Foundation
import TMCore
import TMCrypto
import TMPostgres

/// A user's address on one channel, as the notifier and `tm notifications channels` see it.
public struct ChannelRecord: Sendable {
    public var id: UUID
    public var userID: UUID
    public var channel: NotificationChannel
    public var address: String
    public var enabled: Bool
    public var consecutiveFailures: Int
    public var failingSince: Date?
    public var disabledReason: String?

    /// The address with its secret parts hidden (URL paths, most of a phone number or token).
    public var redactedAddress: String { SecretScrubber.redactAddress(address, channel: channel) }

    public var state: String { !enabled ? "disabled" : failingSince != nil ? "failing" : "ok" }
}

/// The user's channels (`notification_channels`) and preferences (`notification_preferences`).
///
/// Guarantees: a webhook's signing secret is stored sealed (TMCrypto, bound to the channel's id as
/// associated data, so a sealed value copied to another row does not open); preferences name only
/// known channels; re-enabling a failing channel clears its failure count.
public enum NotificationChannels {
    /// The associated data a channel's signing secret is sealed with.
    static func secretBinding(_ id: UUID) -> String { "notification_channels.signing_secret:\(id.uuidString.lowercased())" }

    /// Sets up (or updates) the user's address on a channel; returns the channel's id.
    @discardableResult
    public static func add(_ db: PostgresConnection, userID: UUID, channel: NotificationChannel, address: String,
                           signingSecret: String? = nil, keyring: SecretKeyring? = nil) throws -> UUID {
        precondition(channel != .inApp, "in-app needs no address")
        let id = UUID()
        var sealed: String?
        if let signingSecret {
            guard let keyring else { throw ConfigurationError(variable: SecretKeyring.currentVariable, reason: "needed to seal a webhook's signing secret") }
            sealed = try keyring.seal(signingSecret, associatedData: secretBinding(id))
        }
        let existing: UUID? = try db.query("""
            SELECT id FROM notification_channels WHERE user_id = \(userID) AND channel = \(channel.rawValue) AND address = \(address)
            """).rows.first?.decode("id")
        if let existing {
            let resealed = try signingSecret.map { try keyring!.seal($0, associatedData: secretBinding(existing)) }
            try db.execute("""
                UPDATE notification_channels SET signing_secret_sealed = coalesce(\(resealed), signing_secret_sealed), enabled = true,
                       consecutive_failures = 0, failing_since = NULL, disabled_reason = NULL, updated_at = now() WHERE id = \(existing)
                """)
            return existing
        }
        try db.execute("""
            INSERT INTO notification_channels (id, user_id, channel, address, signing_secret_sealed)
            VALUES (\(id), \(userID), \(channel.rawValue), \(address), \(sealed))
            """)
        return id
    }

    /// The user's channels, oldest first.
    public static func list(_ db: PostgresConnection, userID: UUID) throws -> [ChannelRecord] {
        try db.query("""
            SELECT id, user_id, channel, address, enabled, consecutive_failures, failing_since, disabled_reason
            FROM notification_channels WHERE user_id = \(userID) ORDER BY created_at, id
            """).rows.map(record)
    }

    static func record(_ row: PostgresRow) throws -> ChannelRecord {
        ChannelRecord(id: try row.decode("id"), userID: try row.decode("user_id"),
                      channel: NotificationChannel(rawValue: try row.decode("channel")) ?? .email, address: try row.decode("address"),
                      enabled: try row.decode("enabled"), consecutiveFailures: try row.decode("consecutive_failures"),
                      failingSince: try row.decode("failing_since"), disabledReason: try row.decode("disabled_reason"))
    }

    /// Turns a channel back on after it was marked failing (or disabled); false when there is no such channel.
    @discardableResult
    public static func enable(_ db: PostgresConnection, id: UUID, enabled: Bool = true) throws -> Bool {
        try db.execute("""
            UPDATE notification_channels SET enabled = \(enabled), consecutive_failures = 0, failing_since = NULL,
                   disabled_reason = NULL, updated_at = now() WHERE id = \(id)
            """) == 1
    }

    /// Which channels notifications of `kind` (`*`: every kind without its own row) may use for the user.
    public static func setPreference(_ db: PostgresConnection, userID: UUID, kind: String, channels: [NotificationChannel]) throws {
        let list = channels.map(\.rawValue).joined(separator: ",")
        try db.execute("""
            INSERT INTO notification_preferences (user_id, kind, channels) VALUES (\(userID), \(kind), string_to_array(\(list), ',')::text[])
            ON CONFLICT (user_id, kind) DO UPDATE SET channels = EXCLUDED.channels, updated_at = now()
            """)
    }

    /// Whether the user asked for notifications of `kind` by name (a row for the kind itself with
    /// some channel; `*` does not count): what opt-in kinds (trade confirmations, sync completion) need.
    public static func asksFor(_ db: PostgresConnection, userID: UUID, kind: String) throws -> Bool {
        try db.query("""
            SELECT 1 FROM notification_preferences WHERE user_id = \(userID) AND kind = \(kind) AND cardinality(channels) > 0
            """).rows.count == 1
    }

    /// The channels the user's preferences give `kind` (its own row, else `*`); nil: no preference.
    public static func preference(_ db: PostgresConnection, userID: UUID, kind: String) throws -> [NotificationChannel]? {
        guard let row = try db.query("""
            SELECT array_to_string(channels, ',') AS channels FROM notification_preferences
            WHERE user_id = \(userID) AND kind IN (\(kind), '*') ORDER BY kind = '*' LIMIT 1
            """).rows.first else { return nil }
        let text: String = try row.decode("channels")
        return text.split(separator: ",").compactMap { NotificationChannel(rawValue: String($0)) }
    }
}
