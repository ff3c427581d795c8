import Foundation
import TMCrypto
import TMPostgres

extension NotificationChannels {
    /// What a key rotation re-sealed in `notification_channels`.
    public struct Resealed: Sendable, Equatable {
        public var webhookURLs = 0
        public var slackURLs = 0
        public var signingSecrets = 0
        public init() {}
    }

    /// Re-seals every sealed URL and signing secret not under the keyring's current key, each with
    /// its own binding, inside the caller's transaction (rows locked; one value that does not open
    /// fails the whole rotation, so nothing is left half-rotated). After it, the channels open with
    /// the current key alone.
    public static func resealUnderCurrentKey(_ db: PostgresConnection, keyring: SecretKeyring) throws -> Resealed {
        var counts = Resealed()
        for row in try db.query("""
            SELECT id, channel, address_sealed, signing_secret_sealed FROM notification_channels
            WHERE address_sealed IS NOT NULL OR signing_secret_sealed IS NOT NULL ORDER BY created_at, id FOR UPDATE
            """).rows {
            let id: UUID = try row.decode("id")
            var address: String? = try row.decode("address_sealed")
            var secret: String? = try row.decode("signing_secret_sealed")
            guard try address.map(keyring.needsResealing) == true || secret.map(keyring.needsResealing) == true else { continue }
            if let sealed = address, try keyring.needsResealing(sealed) {
                address = try keyring.reseal(sealed, associatedData: addressBinding(id))
                if try row.decode("channel", as: String.self) == NotificationChannel.slack.rawValue { counts.slackURLs += 1 } else { counts.webhookURLs += 1 }
            }
            if let sealed = secret, try keyring.needsResealing(sealed) {
                secret = try keyring.reseal(sealed, associatedData: secretBinding(id))
                counts.signingSecrets += 1
            }
            try db.execute("""
                UPDATE notification_channels SET address_sealed = \(address), signing_secret_sealed = \(secret), updated_at = now() WHERE id = \(id)
                """)
        }
        return counts
    }
}
