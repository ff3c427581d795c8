import Foundation
import Testing
import TestSupport
import TMCore
import TMNotify

/// Each channel against a real local receiver; once per channel even when the message comes back.
@Suite(.serialized) struct NotifierDeliveryTests {
    @Test func everyChannelDeliversOnceAndARedeliveryResendsOnlyWhatFailed() async throws {
        let h = try NotifierHarness()
        try h.addEveryChannel()
        let notifier = try h.notifier()
        let id = try h.notify(channels: [.inApp, .email, .webhook, .slack, .sms, .call, .push])
        h.slack.failNext(1, status: 503, body: "service_unavailable")

        // First pass: Slack answers 503, everything else is delivered; the record fails retryably.
        let incomplete = try await h.deliver(notifier, id)
        #expect(incomplete?.reasons.joined().contains("slack: HTTP 503: service_unavailable") == true, "\(String(describing: incomplete))")
        #expect(try h.status(id) == "pending")
        // The queue's redelivery: only Slack is tried again.
        #expect(try await h.deliver(notifier, id) == nil)
        // A third delivery of the same message (e.g. a reclaim after a crash) sends nothing.
        try await notifier.deliver(id)
        #expect(try h.status(id) == "sent")

        #expect(h.smtp.messages.count == 1)
        #expect(h.webhook.accepted.count == 1 && h.webhook.requests.count == 1, "refused: \(h.webhook.refusals)")
        #expect(h.slack.accepted.count == 1 && h.slack.requests.count == 2)
        #expect(h.twilio.accepted.filter { $0.path.hasSuffix("/Messages.json") }.count == 1)
        #expect(h.twilio.accepted.filter { $0.path.hasSuffix("/Calls.json") }.count == 1)
        #expect(h.fcm.accepted.count == 1)
        let deliveries = try h.deliveries(id)
        #expect(deliveries.map(\.channel) == ["call", "email", "in_app", "push", "slack", "sms", "webhook"])
        #expect(deliveries.allSatisfy { $0.status == "sent" })
        #expect(deliveries.first { $0.channel == "slack" }?.attempts == 2)

        // What each receiver got is its provider's format.
        let mail = try #require(h.smtp.messages.first)
        #expect(mail.contains("X-Sink-Envelope-To: trader@example.com"))
        #expect(mail.contains("Subject: INFY crossed 1500") && mail.contains("INFY is at 1501.20"))
        let messageID = try #require(deliveries.first { $0.channel == "email" }?.provider)
        #expect(mail.contains("Message-ID: \(messageID)"))
        let hook = try #require(h.webhook.accepted.first)
        let body = try JSONValue.parse(hook.bodyText)
        #expect(body["notification_id"]?.stringValue == id.uuidString.lowercased())
        #expect(body["payload"]?["price"] == .number("1501.20"))
        #expect(hook.header("Idempotency-Key") == body["delivery_id"]?.stringValue)
        #expect(try JSONValue.parse(try #require(h.slack.accepted.first).bodyText)["text"]?.stringValue?.hasPrefix("*INFY crossed 1500*") == true)
        let sms = try #require(h.twilio.accepted.first { $0.path.hasSuffix("/Messages.json") })
        #expect(sms.path == "/2010-04-01/Accounts/\(NotifierHarness.twilioSID)/Messages.json")
        #expect(sms.bodyText.contains("To=%2B15550001111") && sms.bodyText.contains("Body=INFY%20crossed"))
        #expect(deliveries.first { $0.channel == "sms" }?.provider?.hasPrefix("SM") == true)
        let push = try JSONValue.parse(try #require(h.fcm.accepted.first).bodyText)
        #expect(h.fcm.accepted.first?.path == "/v1/projects/tm-test/messages:send")
        #expect(push["message"]?["token"]?.stringValue == "device-push-token-abcdef123456")
        #expect(push["message"]?["notification"]?["title"]?.stringValue == "INFY crossed 1500")
        #expect(deliveries.first { $0.channel == "push" }?.provider?.hasPrefix("projects/tm-test/messages/") == true)
    }

    @Test func theWebhookReceiverRefusesATamperedBodyAndAStaleTimestamp() throws {
        func verify(_ request: (String, Data)) -> String? { NotifierHarness.verifySignature(header: request.0, body: request.1) }
        let body = Data("{\"kind\":\"price_alert\"}".utf8)
        let now = Int(Date().timeIntervalSince1970)
        func request(_ header: String, _ body: Data) -> (String, Data) { (header, body) }
        let good = WebhookSignature.value(body: body, secret: NotifierHarness.webhookSecret, timestamp: now)
        #expect(verify(request(good, body)) == nil)
        #expect(verify(request(good, Data("{\"kind\":\"price_alerT\"}".utf8))) == "bad signature")
        let old = WebhookSignature.value(body: body, secret: NotifierHarness.webhookSecret, timestamp: now - 3600)
        #expect(verify(request(old, body)) == "stale timestamp")
        // Moving a fresh timestamp onto an old signature breaks the MAC: the time is signed too.
        let moved = old.replacingOccurrences(of: "t=\(now - 3600)", with: "t=\(now)")
        #expect(verify(request(moved, body)) == "bad signature")
    }

    @Test func preferencesAndSeverityChooseTheChannels() async throws {
        let h = try NotifierHarness()
        try h.addChannel(.email, "trader@example.com")
        try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader", secret: NotifierHarness.webhookSecret)
        try h.addChannel(.slack, h.slack.baseURL + NotifierHarness.slackPath)
        try NotificationChannels.setPreference(h.db, userID: h.user, kind: "trade_confirmation", channels: [.inApp, .webhook])
        let notifier = try h.notifier()

        // A kind with a preference: exactly its channels.
        let confirmation = try h.notify(kind: "trade_confirmation")
        try await notifier.deliver(confirmation)
        #expect(try h.deliveries(confirmation).map(\.channel) == ["in_app", "webhook"])
        // No preference for the kind and none for '*': in-app only.
        let other = try h.notify(kind: "sync_completed")
        try await notifier.deliver(other)
        #expect(try h.deliveries(other).map(\.channel) == ["in_app"])
        // An alert follows the severity matrix: WARNING is in-app and e-mail (not Slack, not the webhook).
        let warning = try h.notify(kind: "limit_warning", severity: .warning)
        try await notifier.deliver(warning)
        #expect(try h.deliveries(warning).map(\.channel) == ["email", "in_app"])
        // A channel in the matrix the user has not set up is not attempted (ERROR: push and SMS are not set up).
        let error = try h.notify(kind: "limit_breach", severity: .error)
        try await notifier.deliver(error)
        #expect(try h.deliveries(error).map(\.channel) == ["email", "in_app", "slack", "webhook"])
        #expect(h.webhook.accepted.count == 2 && h.smtp.messages.count == 2 && h.slack.accepted.count == 1)
        #expect(try [confirmation, other, warning, error].allSatisfy { try h.status($0) == "sent" })
    }

    @Test func aRecipientRoleReachesTheRolesContacts() async throws {
        let h = try NotifierHarness()
        try h.addEveryChannel()
        let contacts = try EscalationContacts.parse("""
            roles:
              manager:
                email: risk-manager@example.com
                slack_webhook: \(h.slack.baseURL + NotifierHarness.managerSlackPath)
                phone: "+15550100201"
            """)
        let notifier = try h.notifier(contacts: contacts)
        let id = try h.notify(kind: "limit_breach", channels: [.email, .slack, .sms], role: "manager")
        try await notifier.deliver(id)
        #expect(try h.deliveries(id).map { "\($0.channel) \($0.recipient) \($0.status)" }
                == ["email role:manager sent", "slack role:manager sent", "sms role:manager sent"])
        #expect(h.smtp.messages.count == 1 && h.smtp.messages[0].contains("X-Sink-Envelope-To: risk-manager@example.com"))
        #expect(h.slack.accepted.map(\.path) == [NotifierHarness.managerSlackPath])
        #expect(h.twilio.accepted.count == 1 && h.twilio.accepted[0].bodyText.contains("To=%2B15550100201"))
        #expect(h.webhook.requests.isEmpty && h.fcm.requests.isEmpty, "the user's own channels are not the role's")
    }

    @Test func anUnknownRoleOrAContactFileErrorIsNamed() throws {
        #expect(throws: (any Error).self) { try EscalationContacts.parse("roles: {manager: {phone: '5550100'}}") }
        do {
            _ = try EscalationContacts.parse("roles: {manager: {pager: x}}", file: "escalation.yaml")
            Issue.record("an unknown field must be refused")
        } catch {
            #expect("\(error)".contains("escalation.yaml") && "\(error)".contains("roles.manager"))
        }
        let shipped = try EscalationContacts.standard(environment: TMEnvironment(process: ["TM_CONFIG_DIR": TestServers.repositoryRoot.appendingPathComponent("Config").path], envFile: nil))
        #expect(Set(shipped.roles.keys) == ["admin", "manager", "executive", "on_call"])
    }

    @Test func anExpiredNotificationIsNotDelivered() async throws {
        let h = try NotifierHarness()
        try h.addEveryChannel()
        let notifier = try h.notifier()
        let id = try h.notify(channels: [.inApp, .email, .webhook], expiresAt: h.clock.current.addingTimeInterval(-1))
        try await notifier.deliver(id)
        #expect(try h.status(id) == "cancelled")
        #expect(h.smtp.messages.isEmpty && h.webhook.requests.isEmpty)
        #expect(try h.deliveries(id).filter { $0.status == "sent" }.isEmpty)
        // Not yet expired: delivered.
        let fresh = try h.notify(channels: [.webhook], expiresAt: h.clock.current.addingTimeInterval(60))
        try await notifier.deliver(fresh)
        #expect(try h.status(fresh) == "sent" && h.webhook.accepted.count == 1)
    }
}
