import Foundation
import TestSupport
import TMCore
import TMCrypto
import TMHTTP
import TMNotify
import TMPostgres

/// A scratch database, a user, and one real local receiver per provider: an SMTP sink, a webhook
/// receiver that verifies the HMAC signature and the timestamp window by its own computation,
/// Slack-, Twilio- and FCM-shaped sinks. The notifier runs in-process against them.
final class NotifierHarness: @unchecked Sendable {
    static let webhookSecret = "whsec-test-signing-secret-4242"
    static let twilioSID = "AC0123456789abcdef"
    static let twilioToken = "twilio-auth-token-SECRET-777"
    static let fcmToken = "fcm-bearer-token-SECRET-888"
    static let smtpUser = "mailer"
    static let smtpPassword = "smtp-password-SECRET-999"
    /// A Slack incoming webhook's path is its credential.
    static let slackPath = "/services/T0001/B0002/slackSECRETpath"
    static let managerSlackPath = "/services/T0001/B0009/managerSECRETpath"

    let database: TestDatabase
    let pool: PostgresPool
    let db: PostgresConnection
    let keyring: SecretKeyring
    let smtp: SMTPSink
    let webhook: ProviderSink
    let slack: ProviderSink
    let twilio: ProviderSink
    let fcm: ProviderSink
    let http: AsyncHTTPClient
    let user: UUID
    let clock = Locked(Date())
    var settings = NotifierSettings()

    init() throws {
        database = try TestDatabase(migrated: true, prefix: "tm_notify")
        pool = PostgresPool(configuration: database.configuration, size: 2)
        db = try database.connect()
        keyring = try SecretKeyring(current: try SecretKey.generate())
        smtp = try SMTPSink(username: Self.smtpUser, password: Self.smtpPassword)
        webhook = try ProviderSink(check: { request in
            NotifierHarness.verifySignature(header: request.header("X-TM-Signature"), body: request.body).map { (401, $0) }
        })
        slack = try ProviderSink(reply: { _ in (200, "\"ok\"") })
        twilio = try ProviderSink(check: { request in
            let expected = "Basic " + Base64.encode(Array("\(NotifierHarness.twilioSID):\(NotifierHarness.twilioToken)".utf8))
            return request.header("Authorization") == expected ? nil : (401, "{\"code\":20003,\"message\":\"Authenticate\"}")
        }, reply: { _ in (201, "{\"sid\":\"SM\(UUID().uuidString.prefix(8))\",\"status\":\"queued\"}") })
        fcm = try ProviderSink(check: { request in
            request.header("Authorization") == "Bearer \(NotifierHarness.fcmToken)" ? nil : (401, "{\"error\":{\"status\":\"UNAUTHENTICATED\"}}")
        }, reply: { _ in (200, "{\"name\":\"projects/tm-test/messages/\(UInt32.random(in: 1...UInt32.max))\"}") })
        http = try AsyncHTTPClient(configuration: .init(timeout: .seconds(10)), lanes: 2)
        user = try db.query("INSERT INTO users (email) VALUES (\(TestServers.uniqueName("trader") + "@example.com")) RETURNING id").rows[0].decode("id")
        // The receivers run on loopback: allowed here, as the test profile allows it.
        settings.targets = WebhookTargets(allowPrivate: true)
        settings.maxAttempts = 3
        settings.failingAfter = 3
        settings.smtp = .init(url: smtp.url, from: "alerts@tm.example", username: Self.smtpUser, password: Self.smtpPassword)
        settings.twilio = .init(baseURL: twilio.baseURL, accountSID: Self.twilioSID, authToken: Self.twilioToken, from: "+15550009999")
        settings.fcm = .init(baseURL: fcm.baseURL, project: "tm-test", accessToken: Self.fcmToken)
    }

    deinit {
        db.close()
        webhook.stop(); slack.stop(); twilio.stop(); fcm.stop()
    }

    /// The receiver's side of a signed webhook, computed here independently of the notifier:
    /// `X-TM-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the timestamp within
    /// `window` seconds of now.
    static func verifySignature(header: String?, body: Data, window: Int = 300) -> String? {
        guard let header else { return "no signature" }
        var parts: [String: String] = [:]
        for item in header.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { parts[pair[0]] = pair[1] }
        }
        guard let t = parts["t"], let timestamp = Int(t), let mac = parts["v1"], let given = Hex.decode(mac) else { return "malformed signature" }
        guard abs(Int(Date().timeIntervalSince1970) - timestamp) <= window else { return "stale timestamp" }
        let expected = HMACSHA256.authenticate(message: Array("\(t).".utf8) + Array(body), key: Array(webhookSecret.utf8))
        return ConstantTime.equals(expected, given) ? nil : "bad signature"
    }

    func notifier(contacts: EscalationContacts = .init()) throws -> Notifier {
        let clock = self.clock
        return Notifier(pool: pool, producer: nil, keyring: keyring, senders: try settings.senders(http: http), contacts: contacts,
                        settings: settings, clock: { clock.current })
    }

    @discardableResult
    func addChannel(_ channel: NotificationChannel, _ address: String, secret: String? = nil) throws -> UUID {
        try NotificationChannels.add(db, userID: user, channel: channel, address: address, signingSecret: secret, keyring: keyring,
                                     targets: settings.targets)
    }

    /// Every channel the harness has a receiver for, set up for the user.
    func addEveryChannel() throws {
        try addChannel(.email, "trader@example.com")
        try addChannel(.webhook, webhook.baseURL + "/hooks/trader?token=hookTOKEN123", secret: Self.webhookSecret)
        try addChannel(.slack, slack.baseURL + Self.slackPath)
        try addChannel(.sms, "+15550001111")
        try addChannel(.call, "+15550001111")
        try addChannel(.push, "device-push-token-abcdef123456")
    }

    func notify(kind: String = "price_alert", severity: AlertSeverity? = nil, channels: [NotificationChannel]? = nil, role: String? = nil,
                expiresAt: Date? = nil, priority: NotificationPriority = .high) throws -> UUID {
        try NotificationOutbox.insert(db, NewNotification(
            userID: user, kind: kind, title: "INFY crossed 1500", body: "INFY is at 1501.20 (your alert: above 1500)", priority: priority,
            severity: severity, payload: ["symbol": "INFY", "price": .number("1501.20")], dedupKey: TestServers.uniqueName("n"),
            actionURL: "/alerts/1", expiresAt: expiresAt, channels: channels, recipientRole: role))!
    }

    struct Delivery { var channel: String; var recipient: String; var status: String; var attempts: Int; var lastError: String?; var provider: String? }

    func deliveries(_ id: UUID) throws -> [Delivery] {
        try db.query("""
            SELECT channel, recipient, status, attempts, last_error, provider_message_id FROM notification_deliveries
            WHERE notification_id = \(id) ORDER BY channel, recipient
            """).rows.map {
            Delivery(channel: try $0.decode("channel"), recipient: try $0.decode("recipient"), status: try $0.decode("status"),
                     attempts: try $0.decode("attempts"), lastError: try $0.decode("last_error"), provider: try $0.decode("provider_message_id"))
        }
    }

    func status(_ id: UUID) throws -> String { try db.query("SELECT status FROM notifications WHERE id = \(id)").rows[0].decode("status") }

    /// Delivers; a `NotificationIncomplete` (something left to retry) is returned, not thrown.
    @discardableResult
    func deliver(_ notifier: Notifier, _ id: UUID) async throws -> NotificationIncomplete? {
        do {
            try await notifier.deliver(id)
            return nil
        } catch let incomplete as NotificationIncomplete {
            return incomplete
        }
    }

    /// Every text the notifier stored: notifications, deliveries, channels, the audit log.
    func storedText() throws -> String {
        try db.query("""
            SELECT coalesce((SELECT string_agg(row_to_json(n)::text, E'\\n') FROM notifications n), '') || E'\\n' ||
                   coalesce((SELECT string_agg(row_to_json(d)::text, E'\\n') FROM notification_deliveries d), '') || E'\\n' ||
                   coalesce((SELECT string_agg(concat_ws(' ', disabled_reason, consecutive_failures), E'\\n') FROM notification_channels), '') || E'\\n' ||
                   coalesce((SELECT string_agg(row_to_json(a)::text, E'\\n') FROM audit_log a), '') AS text
            """).rows[0].decode("text")
    }

    static let secrets = [webhookSecret, twilioToken, fcmToken, smtpPassword, slackPath, managerSlackPath, "hookTOKEN123"]
}
