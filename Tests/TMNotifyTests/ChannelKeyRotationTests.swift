import Foundation
import Testing
import TestSupport
import TMCrypto
import TMNotify

/// `tm accounts rotate-key` re-seals the notification channels' sealed URLs and signing secrets
/// with the broker credentials, in one transaction: after the old key is retired the channels
/// still deliver; a value that cannot be re-sealed leaves everything as it was.
@Suite(.serialized) struct ChannelKeyRotationTests {
    func sealed(_ h: NotifierHarness) throws -> [String] {
        try h.db.query("""
            SELECT address_sealed, signing_secret_sealed FROM notification_channels WHERE user_id = \(h.user) ORDER BY id
            """).rows.flatMap { row in [try row.decode("address_sealed", as: String?.self), try row.decode("signing_secret_sealed", as: String?.self)] }
            .compactMap { $0 }
    }

    func rotate(_ h: NotifierHarness, to newKey: SecretKey) async throws -> (status: Int32, output: String) {
        try await h.runTM(["accounts", "rotate-key"], extra: [
            SecretKeyring.currentVariable: newKey.exportBase64(), SecretKeyring.previousVariable: h.keyring.current.exportBase64(),
        ])
    }

    @Test func afterRotatingAndRetiringTheOldKeyTheChannelsStillDeliver() async throws {
        let h = try NotifierHarness()
        try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader?token=hookTOKEN123", secret: NotifierHarness.webhookSecret)
        try h.addChannel(.slack, h.slack.baseURL + NotifierHarness.slackPath)
        let oldKey = h.keyring.current
        let newKey = try SecretKey.generate()

        let rotated = try await rotate(h, to: newKey)
        #expect(rotated.status == 0, "\(rotated.output)")
        #expect(rotated.output.contains("under key \(newKey.id); notification channels: 1 webhook URL(s), 1 Slack URL(s), 1 webhook signing secret(s)"),
                "\(rotated.output)")
        for secret in NotifierHarness.secrets { #expect(!rotated.output.contains(secret)) }
        let values = try sealed(h)
        #expect(values.count == 3 && values.allSatisfy { $0.hasPrefix("tmseal.v1.\(newKey.id).") }, "\(values)")

        // The old key retired: the notifier has only the new one.
        var settings = h.settings
        settings.targets = WebhookTargets(allowPrivate: true)
        let notifier = Notifier(pool: h.pool, producer: nil, keyring: try SecretKeyring(current: newKey), senders: try settings.senders(http: h.http),
                                settings: settings)
        let id = try h.notify(channels: [.webhook, .slack])
        try await h.deliver(notifier, id)
        #expect(h.webhook.accepted.count == 1, "signed with the re-sealed secret: \(h.webhook.refusals)")
        #expect(h.slack.accepted.first?.target == NotifierHarness.slackPath)
        let deliveries = try h.deliveries(id)
        #expect(deliveries.allSatisfy { $0.status == "sent" }, "\(deliveries)")
        #expect(oldKey.id != newKey.id)

        let again = try await rotate(h, to: newKey)
        #expect(again.output.contains("0 webhook URL(s), 0 Slack URL(s), 0 webhook signing secret(s)"), "\(again.output)")
    }

    @Test func aValueThatCannotBeResealedLeavesEveryValueAsItWas() async throws {
        let h = try NotifierHarness()
        try h.addChannel(.slack, h.slack.baseURL + NotifierHarness.slackPath)
        let hook = try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader?token=hookTOKEN123", secret: NotifierHarness.webhookSecret)
        // One secret sealed under a key the rotation is not given.
        let stray = try SecretKeyring(current: try SecretKey.generate())
        try h.db.execute("""
            UPDATE notification_channels SET signing_secret_sealed = \(try stray.seal("stray-secret-value", associatedData: "x")) WHERE id = \(hook)
            """)
        let before = try sealed(h)
        let rotated = try await rotate(h, to: try SecretKey.generate())
        #expect(rotated.status != 0, "\(rotated.output)")
        #expect(try sealed(h) == before, "nothing re-sealed when one value could not be")
        for secret in NotifierHarness.secrets + ["stray-secret-value"] { #expect(!rotated.output.contains(secret)) }
    }
}
