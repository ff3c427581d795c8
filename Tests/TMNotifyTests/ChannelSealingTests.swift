import Foundation
import Testing
import TestSupport
import TMCore
import TMCrypto
import TMNotify

/// Webhook and Slack URLs are credentials: stored sealed (opened only by the notifier to send),
/// legacy plain rows sealed on first read, and a user's URL refused when it points into a private
/// network (SSRF) unless the deployment allows private targets.
@Suite(.serialized) struct ChannelSealingTests {
    /// Every column of the user's channels, as text.
    func channelRows(_ h: NotifierHarness) throws -> String {
        try h.db.query("""
            SELECT coalesce(string_agg(row_to_json(c)::text, E'\\n'), '') AS text FROM notification_channels c WHERE user_id = \(h.user)
            """).rows[0].decode("text")
    }

    @Test func webhookAndSlackURLsAreStoredSealedAndOpenedOnlyToSend() async throws {
        let h = try NotifierHarness()
        let slackURL = h.slack.baseURL + NotifierHarness.slackPath
        let slack = try h.addChannel(.slack, slackURL)
        let hook = try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader?token=hookTOKEN123", secret: NotifierHarness.webhookSecret)
        let stored = try channelRows(h)
        for secret in [NotifierHarness.slackPath, "hookTOKEN123", "/hooks/trader", NotifierHarness.webhookSecret] {
            #expect(!stored.contains(secret), "\(secret) stored in plain text: \(stored)")
        }
        for id in [slack, hook] {
            let row = try h.db.query("SELECT address, address_sealed FROM notification_channels WHERE id = \(id)").rows[0]
            #expect(try row.decode("address_sealed", as: String?.self)?.hasPrefix("tmseal.") == true)
            #expect(try row.decode("address", as: String.self).hasSuffix("/***"))
        }
        // The same URL again is the same channel; another URL on the same host is another.
        #expect(try h.addChannel(.slack, slackURL) == slack)
        #expect(try h.addChannel(.slack, h.slack.baseURL + "/services/T0001/B0003/otherSECRET") != slack)
        // A sealed URL copied to another channel's row does not open there.
        try h.db.execute("""
            UPDATE notification_channels SET address_sealed = (SELECT address_sealed FROM notification_channels WHERE id = \(slack))
            WHERE user_id = \(h.user) AND channel = 'slack' AND id <> \(slack)
            """)

        let id = try h.notify(channels: [.webhook, .slack])
        try await h.deliver(try h.notifier(), id)
        #expect(h.slack.accepted.count == 1 && h.slack.accepted.first?.target == NotifierHarness.slackPath, "opened to send, to the right URL")
        #expect(h.webhook.accepted.count == 1)
        let deliveries = try h.deliveries(id)
        #expect(deliveries.filter { $0.status == "sent" }.count == 2, "\(deliveries.map { ($0.channel, $0.status, $0.lastError) })")
        let copied = deliveries.first { $0.status == "dead" }
        #expect(copied?.lastError?.contains("cannot open the address") == true, "\(deliveries.map { ($0.channel, $0.status, $0.lastError) })")

        let listed = try await runTM(h, ["notifications", "channels", "--user", h.user.uuidString, "--json"])
        #expect(listed.status == 0 && !listed.output.contains(NotifierHarness.slackPath) && !listed.output.contains("hookTOKEN123"), "\(listed.output)")
        for secret in NotifierHarness.secrets { #expect(!(try h.storedText()).contains(secret), "\(secret)") }
    }

    @Test func aPlainRowStoredBeforeSealingIsSealedOnFirstRead() async throws {
        let h = try NotifierHarness()
        // As rows were stored before migration 0027: the URL in `address`, nothing sealed.
        let legacy: UUID = try h.db.query("""
            INSERT INTO notification_channels (user_id, channel, address) VALUES (\(h.user), 'slack', \(h.slack.baseURL + NotifierHarness.slackPath))
            RETURNING id
            """).rows[0].decode("id")
        let other: UUID = try h.db.query("""
            INSERT INTO notification_channels (user_id, channel, address)
            VALUES (\(h.user), 'slack', \(h.slack.baseURL + NotifierHarness.managerSlackPath)) RETURNING id
            """).rows[0].decode("id")
        let id = try h.notify(channels: [.slack])
        try await h.deliver(try h.notifier(), id)
        #expect(h.slack.accepted.map(\.target).sorted() == [NotifierHarness.managerSlackPath, NotifierHarness.slackPath].sorted())
        // Both were read for this delivery, so both are sealed now, and still deliver.
        for channel in [legacy, other] {
            let row = try h.db.query("SELECT address, address_sealed FROM notification_channels WHERE id = \(channel)").rows[0]
            #expect(try row.decode("address_sealed", as: String?.self)?.hasPrefix("tmseal.") == true)
            #expect(try row.decode("address", as: String.self) == SecretScrubber.redactAddress(h.slack.baseURL + "/x", channel: .slack))
        }
        #expect(!(try channelRows(h)).contains(NotifierHarness.slackPath))
        let again = try h.notify(channels: [.slack])
        try await h.deliver(try h.notifier(), again)
        #expect(h.slack.accepted.count == 4)

        // The sweep a notifier runs when it opens seals every plain row at once.
        try h.db.execute("""
            INSERT INTO notification_channels (user_id, channel, address, signing_secret_sealed)
            VALUES (\(h.user), 'webhook', 'https://example.com/hook?token=plainTOKEN1', 'tmseal.x'), (\(h.user), 'email', 'someone@example.com', NULL)
            """)
        #expect(try NotificationChannels.sealPlainAddresses(h.db, keyring: h.keyring) == 1)
        #expect(try NotificationChannels.sealPlainAddresses(h.db, keyring: h.keyring) == 0)
        let rows = try channelRows(h)
        #expect(!rows.contains("plainTOKEN1") && rows.contains("someone@example.com"), "\(rows)")
    }

    @Test func urlsIntoPrivateNetworksAreRefusedNamingTheField() throws {
        let strict = WebhookTargets()
        let refused: [(String, String)] = [
            ("http://127.0.0.1:8080/services/T/B/SECRETpath", "a loopback address"),
            ("http://localhost/hook", "a loopback address"),
            ("http://2130706433/hook", "a loopback address"),
            ("http://[::1]/hook", "a loopback address"),
            ("http://[::ffff:127.0.0.1]/hook", "a loopback address"),
            ("https://10.1.2.3/hook", "a private address"),
            ("https://172.20.0.5/hook", "a private address"),
            ("https://192.168.1.10/hook", "a private address"),
            ("https://[fd12:3456::1]/hook", "a private address"),
            ("http://169.254.169.254/latest/meta-data", "a cloud metadata address"),
            ("http://metadata.google.internal/computeMetadata/v1", "a cloud metadata address"),
            ("http://169.254.10.1/hook", "a link-local address"),
            ("http://[fe80::1]/hook", "a link-local address"),
            ("http://0.0.0.0/hook", "the unspecified address"),
        ]
        for (url, what) in refused {
            do {
                try strict.check(url, field: "address")
                Issue.record("\(url) was accepted")
            } catch {
                #expect(error.field == "address" && error.reason.hasPrefix("points to \(what)"), "\(url): \(error)")
                #expect(!error.description.contains("SECRETpath") && !error.description.contains("meta-data"), "\(error)")
            }
        }
        #expect(throws: WebhookTargets.Refused.self) { try strict.check("file:///etc/passwd") }
        #expect(throws: WebhookTargets.Refused.self) { try strict.check("gopher://93.184.216.34/x") }
        // Public addresses pass; anything passes where private targets are allowed.
        try strict.check("https://93.184.216.34/services/T/B/x")
        try strict.check("https://[2606:4700::1111]/hook")
        try WebhookTargets(allowPrivate: true).check("http://127.0.0.1:8080/hook")
        #expect(try WebhookTargets.fromEnvironment(TMEnvironment(process: ["TM_NOTIFY_ALLOW_PRIVATE_TARGETS": "1"], envFile: nil)).allowPrivate)
        #expect(try !WebhookTargets.fromEnvironment(TMEnvironment(process: [:], envFile: nil)).allowPrivate)
    }

    /// A failed look-up must not let a name through to libcurl's own look-up (which an attacker's DNS
    /// could answer with a private address): before a send it is refused, retryably; when a channel
    /// is added it passes (it is checked again at every send).
    @Test func aNameThatDoesNotResolveIsNotSentToButRetried() throws {
        let strict = WebhookTargets()
        let url = "https://hooks.unresolvable-tm-test.invalid/services/T/B/SECRETpath"  // .invalid never resolves (RFC 6761)
        try strict.check(url, field: "address")
        do {
            try strict.check(url, field: "address", atSend: true)
            Issue.record("an unresolvable host passed the send-time check")
        } catch {
            #expect(error.isRetryable && error.field == "address" && error.reason.hasPrefix("does not resolve"), "\(error)")
            #expect(!error.description.contains("SECRETpath"), "\(error)")
        }
        try strict.check("https://93.184.216.34/hook", atSend: true)
    }

    @Test func theCLIAndTheNotifierRefuseAPrivateTargetUnlessAllowed() async throws {
        let h = try NotifierHarness()
        let url = h.slack.baseURL + NotifierHarness.slackPath
        let key = h.keyring.current.exportBase64()
        let refused = try await runTM(h, ["notifications", "channels", "--user", h.user.uuidString, "--add", "slack", "--address", url],
                                      extra: ["TM_SECRET_KEY": key])
        #expect(refused.status != 0 && refused.output.contains("--address: points to a loopback address"), "\(refused.output)")
        #expect(!refused.output.contains(NotifierHarness.slackPath), "\(refused.output)")
        #expect(try h.db.query("SELECT 1 FROM notification_channels WHERE user_id = \(h.user)").rows.isEmpty)
        let allowed = try await runTM(h, ["notifications", "channels", "--user", h.user.uuidString, "--add", "slack", "--address", url, "--json"],
                                      extra: ["TM_SECRET_KEY": key, "TM_NOTIFY_ALLOW_PRIVATE_TARGETS": "1"])
        #expect(allowed.status == 0 && !allowed.output.contains(NotifierHarness.slackPath), "\(allowed.output)")

        // Stored while allowed; a notifier that does not allow private targets refuses to send there.
        var settings = h.settings
        settings.targets = WebhookTargets()
        let strict = Notifier(pool: h.pool, producer: nil, keyring: h.keyring, senders: try settings.senders(http: h.http), settings: settings)
        let id = try h.notify(channels: [.slack])
        try await h.deliver(strict, id)
        #expect(h.slack.accepted.isEmpty)
        let delivery = try #require(try h.deliveries(id).first)
        #expect(delivery.status == "dead" && delivery.lastError?.contains("address: points to a loopback address") == true, "\(delivery)")
        #expect(delivery.lastError?.contains(NotifierHarness.slackPath) == false)
    }

    func runTM(_ h: NotifierHarness, _ arguments: [String], extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await h.runTM(arguments, extra: extra)
    }
}
