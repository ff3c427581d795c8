import Foundation
import TMCore
import TMCrypto
import TMPostgres

/// A user's address on one channel, as the notifier and `tm notifications channels` see it.
public struct ChannelRecord: Sendable {
    public var id: UUID
    public var userID: UUID
    public var channel: NotificationChannel
    /// The address as stored: a webhook or Slack URL only as it may be shown (`scheme://host/***`;
    /// the URL itself is sealed), any other address as it is.
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
/// Guarantees:
/// - a webhook's signing secret, and a webhook's or Slack channel's URL (the URL is the credential:
///   a Slack URL's path is its secret), are stored sealed (TMCrypto, as broker credentials are, each
///   bound to the channel's id as associated data, so a sealed value copied to another row does not
///   open); `address` then keeps only the redacted form (`scheme://host/***`) for display;
/// - a user-given webhook or Slack URL is refused (naming the field) when it points to a loopback,
///   private, link-local or metadata address, unless `targets` allows private targets (`WebhookTargets`);
/// - one address per user and channel (a sealed one compared after opening, under a lock on the
///   user's row); preferences name only known channels; re-enabling a failing channel clears its
///   failure count.
///
/// Rows stored in plain text before addresses were sealed (migration 0027) are sealed on first
/// read: by the notifier when it delivers to the channel, and all at once when a notifier opens
/// (`sealPlainAddresses`).
public enum NotificationChannels {
    /// The associated data a channel's signing secret is sealed with.
    static func secretBinding(_ id: UUID) -> String { "notification_channels.signing_secret:\(id.uuidString.lowercased())" }

    /// The associated data a channel's URL is sealed with.
    static func addressBinding(_ id: UUID) -> String { "notification_channels.address:\(id.uuidString.lowercased())" }

    /// The channels whose address is a URL, and a credential: stored sealed, checked by `WebhookTargets`.
    public static func sealsAddress(_ channel: NotificationChannel) -> Bool { channel == .webhook || channel == .slack }

    /// Sets up (or updates) the user's address on a channel; returns the channel's id. A webhook or
    /// Slack URL needs the keyring (it is sealed) and must pass `targets`.
    @discardableResult
    public static func add(_ db: PostgresConnection, userID: UUID, channel: NotificationChannel, address: String,
                           signingSecret: String? = nil, keyring: SecretKeyring? = nil, targets: WebhookTargets = WebhookTargets()) throws -> UUID {
        precondition(channel != .inApp, "in-app needs no address")
        let sealing = sealsAddress(channel)
        if sealing { try targets.check(address, field: "address") }
        guard keyring != nil || (!sealing && signingSecret == nil) else {
            throw ConfigurationError(variable: SecretKeyring.currentVariable, reason: "needed to seal a \(channel.rawValue) URL and signing secret")
        }
        return try db.transaction { db in
            // One add per user at a time: a sealed address can only be compared after opening it.
            _ = try db.query("SELECT 1 FROM users WHERE id = \(userID) FOR UPDATE")
            if let existing = try find(db, userID: userID, channel: channel, address: address, keyring: keyring) {
                let resealed = try signingSecret.map { try keyring!.seal($0, associatedData: secretBinding(existing)) }
                try db.execute("""
                    UPDATE notification_channels SET signing_secret_sealed = coalesce(\(resealed), signing_secret_sealed), enabled = true,
                           consecutive_failures = 0, failing_since = NULL, disabled_reason = NULL, updated_at = now() WHERE id = \(existing)
                    """)
                if sealing, let keyring { try seal(db, ids: [existing], keyring: keyring) }
                return existing
            }
            let id = UUID()
            let sealedSecret = try signingSecret.map { try keyring!.seal($0, associatedData: secretBinding(id)) }
            let sealedAddress = sealing ? try keyring!.seal(address, associatedData: addressBinding(id)) : nil
            let stored = sealing ? SecretScrubber.redactAddress(address, channel: channel) : address
            try db.execute("""
                INSERT INTO notification_channels (id, user_id, channel, address, address_sealed, signing_secret_sealed)
                VALUES (\(id), \(userID), \(channel.rawValue), \(stored), \(sealedAddress), \(sealedSecret))
                """)
            return id
        }
    }

    /// The user's channel with this address, if any (sealed addresses opened to compare).
    static func find(_ db: PostgresConnection, userID: UUID, channel: NotificationChannel, address: String, keyring: SecretKeyring?) throws -> UUID? {
        for row in try db.query("""
            SELECT id, address, address_sealed FROM notification_channels WHERE user_id = \(userID) AND channel = \(channel.rawValue)
            ORDER BY created_at, id
            """).rows {
            let id: UUID = try row.decode("id")
            if let sealed: String = try row.decode("address_sealed") {
                if let keyring, (try? keyring.openString(sealed, associatedData: addressBinding(id))) == address { return id }
            } else if try row.decode("address", as: String.self) == address {
                return id
            }
        }
        return nil
    }

    /// The URL of a sealed channel address; throws `DeliveryFailure` (not retryable) when it cannot be opened.
    static func openAddress(_ sealed: String, channelID: UUID, keyring: SecretKeyring?) throws -> String {
        guard let keyring else { throw DeliveryFailure("cannot open the address: TM_SECRET_KEY not given to the notifier", retryable: false) }
        do { return try keyring.openString(sealed, associatedData: addressBinding(channelID)) } catch {
            throw DeliveryFailure("cannot open the address (sealed under another key?)", retryable: false)
        }
    }

    /// Seals the plain webhook and Slack URLs of rows stored before addresses were sealed (all of
    /// them, or those of `ids`), leaving `address` redacted; returns how many it sealed. Rows
    /// another transaction holds are left for the next call.
    @discardableResult
    public static func sealPlainAddresses(_ db: PostgresConnection, keyring: SecretKeyring, ids: [UUID]? = nil) throws -> Int {
        try db.transaction { db in try seal(db, ids: ids, keyring: keyring) }
    }

    private static func seal(_ db: PostgresConnection, ids: [UUID]?, keyring: SecretKeyring) throws -> Int {
        let list = ids.map { "{" + $0.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}" }
        let rows = try db.query("""
            SELECT id, channel, address FROM notification_channels
            WHERE channel IN ('webhook', 'slack') AND address_sealed IS NULL AND (\(list)::uuid[] IS NULL OR id = ANY(\(list)::uuid[]))
            FOR UPDATE SKIP LOCKED
            """).rows
        for row in rows {
            let id: UUID = try row.decode("id")
            let address: String = try row.decode("address")
            let channel = NotificationChannel(rawValue: try row.decode("channel")) ?? .webhook
            try db.execute("""
                UPDATE notification_channels SET address_sealed = \(try keyring.seal(address, associatedData: addressBinding(id))),
                       address = \(SecretScrubber.redactAddress(address, channel: channel)), updated_at = now()
                WHERE id = \(id)
                """)
        }
        return rows.count
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
