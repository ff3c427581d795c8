import Foundation
import Testing
import TestSupport
import TMCore
import TMHTTP
import TMNotify

/// DNS rebinding: the look-up the notifier's check makes answers a public address, libcurl's own
/// look-up of the same host then gives loopback. The connection is what is judged, so nothing
/// reaches the receiver. (Without the connect-time guard the check passes and libcurl delivers.)
@Suite(.serialized) struct RebindingTests {
    /// What an attacker's DNS server tells the check: a public address, whatever the name.
    static let answersPublic = WebhookTargets.Resolver { _ in [[93, 184, 216, 34]] }

    func notifier(_ h: NotifierHarness, targets: WebhookTargets) throws -> Notifier {
        var settings = h.settings
        settings.targets = targets
        return Notifier(pool: h.pool, producer: nil, keyring: h.keyring, senders: try settings.senders(http: h.http), settings: settings)
    }

    @Test func aHostThatLooksPublicToTheCheckButConnectsToLoopbackGetsNothing() async throws {
        let h = try NotifierHarness()
        try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader?token=hookTOKEN123", secret: NotifierHarness.webhookSecret)
        try h.addChannel(.slack, h.slack.baseURL + NotifierHarness.slackPath)
        let rebinding = WebhookTargets(allowPrivate: false, resolver: Self.answersPublic)
        try rebinding.check(h.webhook.baseURL + "/hooks/trader", atSend: true)  // the check alone is fooled

        let id = try h.notify(channels: [.webhook, .slack])
        try await h.deliver(try notifier(h, targets: rebinding), id)
        #expect(h.webhook.requests.isEmpty && h.slack.requests.isEmpty, "the receivers got a request")
        let deliveries = try h.deliveries(id)
        #expect(deliveries.count == 2)
        for delivery in deliveries {
            #expect(delivery.status == "dead", "refused by policy, not retried: \(delivery)")
            #expect(delivery.lastError?.contains("addressRefused: connection to 127.0.0.1 refused: points to a loopback address") == true,
                    "\(delivery)")
        }
        for secret in NotifierHarness.secrets { #expect(!(try h.storedText()).contains(secret), "\(secret)") }
    }

    /// A reused keep-alive connection is checked too: the connection an earlier (allowed) delivery left
    /// open to the loopback receiver does not carry a delivery the policy refuses.
    @Test func aConnectionKeptAliveByAnEarlierDeliveryDoesNotLetARebindThrough() async throws {
        let h = try NotifierHarness()
        try h.addChannel(.slack, h.slack.baseURL + NotifierHarness.slackPath)
        var allowing = h.settings
        allowing.targets = WebhookTargets(allowPrivate: true)
        let first = try h.notify(channels: [.slack])
        try await h.deliver(try notifier(h, targets: allowing.targets), first)
        #expect(h.slack.accepted.count == 1)
        let second = try h.notify(channels: [.slack])
        try await h.deliver(try notifier(h, targets: WebhookTargets(allowPrivate: false, resolver: Self.answersPublic)), second)
        #expect(h.slack.requests.count == 1, "the second went over the kept-alive connection")
        #expect(try h.deliveries(second).first?.status == "dead")
    }

    /// Allowed (the dev and test profiles), the same name is delivered to: the guard refuses only what the policy refuses.
    @Test func whenPrivateTargetsAreAllowedTheSameHostIsDeliveredTo() async throws {
        let h = try NotifierHarness()
        try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader?token=hookTOKEN123", secret: NotifierHarness.webhookSecret)
        let id = try h.notify(channels: [.webhook])
        try await h.deliver(try notifier(h, targets: WebhookTargets(allowPrivate: true, resolver: Self.answersPublic)), id)
        #expect(h.webhook.accepted.count == 1)
        #expect(try h.deliveries(id).first?.status == "sent")
    }

    /// The check and the connection read a numeric spelling alike: both call it loopback.
    @Test(arguments: ["2130706433", "0x7f.1", "0177.0.0.1"])
    func aNumericSpellingIsRefusedByTheCheckAndAtTheSocketAlike(_ host: String) async throws {
        let receiver = try ProviderSink()
        defer { receiver.stop() }
        let port = String(receiver.baseURL.split(separator: ":").last!)
        let url = "http://\(host):\(port)/hooks/x?token=SECRETtoken"
        let strict = WebhookTargets()
        #expect(throws: WebhookTargets.Refused.self) { try strict.check(url) }
        let http = try AsyncHTTPClient(configuration: .init(timeout: .seconds(5)))
        do {
            _ = try await http.send(HTTPRequest(.post, url, body: .json(Data("{}".utf8)), connectionGuard: strict.connectionGuard))
            Issue.record("sent to \(host)")
        } catch {
            #expect(error.kind == .addressRefused && error.failure.message.contains("127.0.0.1 refused: points to a loopback address"), "\(error)")
            #expect(!error.description.contains("SECRETtoken"))
        }
        #expect(receiver.requests.isEmpty)
    }
}
