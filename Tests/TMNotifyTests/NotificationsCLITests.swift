import Foundation
import Testing
import TestSupport
import TMCore
import TMNotify

/// `tm notifications` as an operator runs it: list, show with deliveries, resend (a new attempt
/// the receiver sees under a new idempotency key, audited), read, channels.
@Suite(.serialized) struct NotificationsCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func run(_ h: NotifierHarness, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = h.database.url
        environment["TM_QUEUES_DIR"] = TestServers.repositoryRoot.appendingPathComponent("Queues").path
        return try await runProcess(tm, ["notifications"] + arguments, environment: environment)
    }

    @Test func listShowResendReadAndChannelsEndToEnd() async throws {
        let h = try NotifierHarness()
        let hook = try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader?token=hookTOKEN123", secret: NotifierHarness.webhookSecret)
        let notifier = try h.notifier()
        let id = try h.notify(channels: [.inApp, .webhook])
        try await notifier.deliver(id)
        let text = id.uuidString.lowercased()
        let email: String = try h.db.query("SELECT email FROM users WHERE id = \(h.user)").rows[0].decode("email")

        let list = try await run(h, ["list", "--user", email, "--json"])
        #expect(list.status == 0, "\(list.output)")
        let listed = try #require(try JSONValue.parse(list.output).arrayValue)
        #expect(listed.count == 1 && listed[0]["id"]?.stringValue == text && listed[0]["status"]?.stringValue == "sent")

        let show = try await run(h, ["show", text, "--json"])
        #expect(show.status == 0, "\(show.output)")
        let shown = try JSONValue.parse(show.output)
        let deliveries = try #require(shown["deliveries"]?.arrayValue)
        #expect(deliveries.compactMap { $0["channel"]?.stringValue } == ["in_app", "webhook"])
        #expect(!show.output.contains("hookTOKEN123") && !show.output.contains("/hooks/trader"), "addresses are shown redacted")
        let human = try await run(h, ["show", text])
        #expect(human.status == 0 && human.output.contains("DELIVERIES") && human.output.contains("webhook"), "\(human.output)")

        let resend = try await run(h, ["resend", text, "--channel", "webhook", "--json"])
        #expect(resend.status == 0, "\(resend.output)")
        #expect(try JSONValue.parse(resend.output)["deliveries"] == .int(1))
        #expect(try h.status(id) == "pending")
        try await notifier.deliver(id)
        #expect(h.webhook.accepted.count == 2)
        let keys = h.webhook.accepted.compactMap { $0.header("X-TM-Delivery") }
        #expect(keys.count == 2 && keys[1] == keys[0] + ".r1", "a resend is a new delivery to the receiver: \(keys)")
        #expect(try h.status(id) == "sent")
        let audit = try h.db.query("SELECT actor FROM audit_log WHERE action = 'notification.resend' AND entity_id = \(text)").rows
        #expect(audit.count == 1)
        let refused = try await run(h, ["resend", text, "--channel", "sms"])
        #expect(refused.status != 0 && refused.output.contains("no delivery on sms"), "\(refused.output)")

        #expect(try await run(h, ["list", "--user", email, "--unread", "--json"]).output.contains(text))
        let read = try await run(h, ["read", text])
        #expect(read.status == 0, "\(read.output)")
        #expect(!(try await run(h, ["list", "--user", email, "--unread", "--json"]).output.contains(text)))

        let channels = try await run(h, ["channels", "--user", h.user.uuidString, "--json"])
        #expect(channels.status == 0, "\(channels.output)")
        let listedChannels = try #require(try JSONValue.parse(channels.output).arrayValue)
        #expect(listedChannels.count == 1 && listedChannels[0]["id"]?.stringValue == hook.uuidString.lowercased()
                && listedChannels[0]["state"]?.stringValue == "ok")
        #expect(!channels.output.contains("hookTOKEN123"))
    }
}
