import Foundation
import TMCore
import TMCrypto
import TMHTTP

/// How webhook deliveries are signed: `X-TM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
/// `<t>.<body>` with the channel's signing secret. The timestamp is inside the signed text, so a
/// receiver that refuses old timestamps refuses replays, and a changed body or time fails the MAC.
public enum WebhookSignature {
    public static let header = "X-TM-Signature"

    /// The header's value for `body` sent at `timestamp`.
    public static func value(body: Data, secret: String, timestamp: Int) -> String {
        var signed = Array("\(timestamp).".utf8)
        signed.append(contentsOf: body)
        return "t=\(timestamp),v1=\(HMACSHA256.hex(message: signed, key: Array(secret.utf8)))"
    }
}

/// Webhooks: the notification as JSON, POSTed and signed (`WebhookSignature`), with the delivery's
/// idempotency key in `Idempotency-Key` and `X-TM-Delivery`. Any 2xx is delivered.
/// The URL is the user's: every connection is checked by `targets.connectionGuard`.
public struct WebhookSender: ChannelSender {
    let http: AsyncHTTPClient
    let targets: WebhookTargets
    let timeout: Duration
    let clock: @Sendable () -> Date

    public init(http: AsyncHTTPClient, targets: WebhookTargets, timeout: Duration = .seconds(10),
                clock: @escaping @Sendable () -> Date = Date.init) {
        self.http = http
        self.targets = targets
        self.timeout = timeout
        self.clock = clock
    }

    public var channel: NotificationChannel { .webhook }

    public func deliver(_ envelope: DeliveryEnvelope) async throws -> DeliveryReceipt {
        guard let secret = envelope.signingSecret else { throw DeliveryFailure("webhook has no signing secret", retryable: false) }
        let body = Data(envelope.json.text.utf8)
        let timestamp = Int(clock().timeIntervalSince1970)
        let request = HTTPRequest(.post, envelope.address, headers: [
            (WebhookSignature.header, WebhookSignature.value(body: body, secret: secret, timestamp: timestamp)),
            ("Idempotency-Key", envelope.idempotencyKey), ("X-TM-Delivery", envelope.idempotencyKey),
        ], body: .json(body), timeout: timeout, connectionGuard: targets.connectionGuard)
        _ = try await HTTPDelivery.send(http, request)
        return DeliveryReceipt(providerMessageID: nil)
    }
}

/// Slack incoming webhooks: `{"text": "*title*\nbody"}` to the channel's webhook URL (the URL is
/// the credential: it never appears in an error or a log). The URL is the user's: every connection
/// is checked by `targets.connectionGuard`.
public struct SlackSender: ChannelSender {
    let http: AsyncHTTPClient
    let targets: WebhookTargets
    let timeout: Duration

    public init(http: AsyncHTTPClient, targets: WebhookTargets, timeout: Duration = .seconds(10)) {
        self.http = http
        self.targets = targets
        self.timeout = timeout
    }

    public var channel: NotificationChannel { .slack }

    public func deliver(_ envelope: DeliveryEnvelope) async throws -> DeliveryReceipt {
        var text = "*\(envelope.title)*"
        if !envelope.body.isEmpty { text += "\n\(envelope.body)" }
        if let url = envelope.actionURL { text += "\n\(url)" }
        let body: JSONValue = .object([("text", .string(text))])
        let request = HTTPRequest(.post, envelope.address, headers: [("X-TM-Delivery", envelope.idempotencyKey)],
                                  body: .json(Data(body.text.utf8)), timeout: timeout, connectionGuard: targets.connectionGuard)
        _ = try await HTTPDelivery.send(http, request)
        return DeliveryReceipt()
    }
}

/// Twilio's REST format, for SMS (`Messages.json`: To, From, Body) and calls (`Calls.json`: To,
/// From, Twiml saying the text): form-encoded POSTs with basic auth (account SID, auth token). The
/// answer's `sid` is the provider's message id.
public struct TwilioSender: ChannelSender {
    public struct Account: Sendable {
        public var baseURL: String
        public var accountSID: String
        public var authToken: String
        public var from: String
        public init(baseURL: String, accountSID: String, authToken: String, from: String) {
            self.baseURL = baseURL
            self.accountSID = accountSID
            self.authToken = authToken
            self.from = from
        }
    }

    let http: AsyncHTTPClient
    let account: Account
    let call: Bool
    let timeout: Duration

    /// `call: false` sends SMS, `true` places a call that reads the text.
    public init(http: AsyncHTTPClient, account: Account, call: Bool, timeout: Duration = .seconds(10)) {
        self.http = http
        self.account = account
        self.call = call
        self.timeout = timeout
    }

    public var channel: NotificationChannel { call ? .call : .sms }

    public func deliver(_ envelope: DeliveryEnvelope) async throws -> DeliveryReceipt {
        let base = account.baseURL.hasSuffix("/") ? String(account.baseURL.dropLast()) : account.baseURL
        let sid = HTTPRequest.percentEncode(account.accountSID)
        let credentials = Base64.encode(Array("\(account.accountSID):\(account.authToken)".utf8))
        var fields = [("To", envelope.address), ("From", account.from)]
        if call {
            fields.append(("Twiml", "<Response><Say>\(Self.xmlEscape(String(envelope.text.prefix(1000))))</Say></Response>"))
        } else {
            fields.append(("Body", String(envelope.text.prefix(1600))))
        }
        let request = HTTPRequest(.post, "\(base)/2010-04-01/Accounts/\(sid)/\(call ? "Calls" : "Messages").json", headers: [
            ("Authorization", "Basic \(credentials)"), ("I-Twilio-Idempotency-Token", envelope.idempotencyKey),
        ], body: .form(fields), timeout: timeout)
        let response = try await HTTPDelivery.send(http, request)
        return DeliveryReceipt(providerMessageID: (try? JSONValue.parse(response.text ?? ""))?["sid"].flatMap(\.stringValue))
    }

    static func xmlEscape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// Push through FCM HTTP v1: `POST {base}/v1/projects/{project}/messages:send` with a bearer token,
/// `{"message": {"token", "notification": {"title", "body"}, "data": {...}}}` (data values are
/// strings, as FCM requires). The answer's `name` is the provider's message id.
public struct PushSender: ChannelSender {
    public struct Project: Sendable {
        public var baseURL: String
        public var project: String
        public var accessToken: String
        public init(baseURL: String, project: String, accessToken: String) {
            self.baseURL = baseURL
            self.project = project
            self.accessToken = accessToken
        }
    }

    let http: AsyncHTTPClient
    let project: Project
    let timeout: Duration

    public init(http: AsyncHTTPClient, project: Project, timeout: Duration = .seconds(10)) {
        self.http = http
        self.project = project
        self.timeout = timeout
    }

    public var channel: NotificationChannel { .push }

    public func deliver(_ envelope: DeliveryEnvelope) async throws -> DeliveryReceipt {
        let base = project.baseURL.hasSuffix("/") ? String(project.baseURL.dropLast()) : project.baseURL
        var data: [(key: String, value: JSONValue)] = [
            ("delivery_id", .string(envelope.idempotencyKey)), ("notification_id", .string(envelope.notificationID.uuidString.lowercased())),
            ("kind", .string(envelope.kind)), ("priority", .string(envelope.priority.rawValue)),
        ]
        if let url = envelope.actionURL { data.append(("action_url", .string(url))) }
        let message: JSONValue = .object([("message", .object([
            ("token", .string(envelope.address)),
            ("notification", .object([("title", .string(envelope.title)), ("body", .string(envelope.body))])),
            ("data", .object(data)),
        ]))])
        let request = HTTPRequest(.post, "\(base)/v1/projects/\(HTTPRequest.percentEncode(project.project))/messages:send", headers: [
            ("Authorization", "Bearer \(project.accessToken)"), ("X-TM-Delivery", envelope.idempotencyKey),
        ], body: .json(Data(message.text.utf8)), timeout: timeout)
        let response = try await HTTPDelivery.send(http, request)
        return DeliveryReceipt(providerMessageID: (try? JSONValue.parse(response.text ?? ""))?["name"].flatMap(\.stringValue))
    }
}
