import Foundation
import TMCore
import TMHTTP

/// One notification on its way to one address on one channel.
public struct DeliveryEnvelope: Sendable {
    /// The delivery's id (its row in `notification_deliveries`).
    public var deliveryID: UUID
    /// What receivers deduplicate by: the delivery id, `.r<n>` after the n-th resend. Every attempt
    /// of one delivery carries the same key, so a receiver can drop the duplicate of an in-doubt send.
    public var idempotencyKey: String
    public var notificationID: UUID
    public var kind: String
    public var title: String
    public var body: String
    public var priority: NotificationPriority
    public var severity: AlertSeverity?
    public var payload: JSONValue
    public var actionURL: String?
    public var createdAt: Date
    /// The recipient on this channel: an e-mail address, a URL, a phone number or a push token.
    public var address: String
    /// Webhooks: the opened signing secret of the channel.
    public var signingSecret: String?

    public init(deliveryID: UUID, idempotencyKey: String, notificationID: UUID, kind: String, title: String, body: String,
                priority: NotificationPriority, severity: AlertSeverity?, payload: JSONValue, actionURL: String?, createdAt: Date,
                address: String, signingSecret: String? = nil) {
        self.deliveryID = deliveryID
        self.idempotencyKey = idempotencyKey
        self.notificationID = notificationID
        self.kind = kind
        self.title = title
        self.body = body
        self.priority = priority
        self.severity = severity
        self.payload = payload
        self.actionURL = actionURL
        self.createdAt = createdAt
        self.address = address
        self.signingSecret = signingSecret
    }

    /// The notification as receivers get it (webhooks verbatim; push `data` flattens it).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("delivery_id", .string(idempotencyKey)), ("notification_id", .string(notificationID.uuidString.lowercased())),
            ("kind", .string(kind)), ("title", .string(title)), ("body", .string(body)), ("priority", .string(priority.rawValue)),
            ("severity", severity.map { .string($0.rawValue) } ?? .null), ("action_url", actionURL.map { .string($0) } ?? .null),
            ("created_at", .string(ISO8601DateFormatter().string(from: createdAt))),
        ]
        members.append(("payload", payload))
        return .object(members)
    }

    /// `title` then `body`, for channels that carry one text (Slack, SMS, a call).
    public var text: String { body.isEmpty ? title : "\(title)\n\(body)" }
}

/// What a provider said when it accepted a delivery.
public struct DeliveryReceipt: Sendable {
    public var providerMessageID: String?
    public init(providerMessageID: String? = nil) { self.providerMessageID = providerMessageID }
}

/// Why a delivery failed: the provider's status and error text (never the address's secret part,
/// a token or a credential — the notifier scrubs known secrets once more before storing it), and
/// whether trying again may help (a timeout, a 429 or a 5xx may; a 400 or a 404 will not).
public struct DeliveryFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var retryable: Bool
    public init(_ reason: String, retryable: Bool) {
        self.reason = reason
        self.retryable = retryable
    }
    public var description: String { reason }
}

/// One channel's way of delivering (in-app, e-mail, webhook, Slack, SMS, call, push).
public protocol ChannelSender: Sendable {
    var channel: NotificationChannel { get }
    /// Delivers once; throws `DeliveryFailure`.
    func deliver(_ envelope: DeliveryEnvelope) async throws -> DeliveryReceipt
}

/// In-app: the notification row is the delivery (the app lists it); nothing travels.
public struct InAppSender: ChannelSender {
    public init() {}
    public var channel: NotificationChannel { .inApp }
    public func deliver(_ envelope: DeliveryEnvelope) async throws -> DeliveryReceipt { DeliveryReceipt() }
}

/// The HTTP exchange every HTTP channel shares: transport errors and statuses classified the same
/// way, error texts that name the status and the provider's words but never the URL.
enum HTTPDelivery {
    /// Sends and returns the 2xx response; throws `DeliveryFailure` for anything else.
    static func send(_ http: AsyncHTTPClient, _ request: HTTPRequest) async throws -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try await http.send(request)
        } catch {
            // The failure's own text names the method and URL (a Slack URL's path is its secret): only kind and message.
            // A refused address is the SSRF policy's answer, as at the check before sending: not retried.
            throw DeliveryFailure("\(error.failure.kind.rawValue): \(error.failure.message)", retryable: error.kind != .addressRefused)
        }
        guard response.isSuccess else {
            let retryable = response.status == 408 || response.status == 425 || response.status == 429 || response.status >= 500
            throw DeliveryFailure("HTTP \(response.status): \(providerText(response))", retryable: retryable)
        }
        return response
    }

    /// The provider's error text, on one line and short (it is stored and shown).
    static func providerText(_ response: HTTPResponse) -> String {
        let text = (response.text ?? "(binary body)").split(whereSeparator: \.isNewline).joined(separator: " ")
        return text.count > 300 ? String(text.prefix(300)) + "…" : (text.isEmpty ? "(empty body)" : text)
    }
}

/// Takes secrets out of a text before it is stored, logged or shown.
public enum SecretScrubber {
    /// `text` with every occurrence of each secret (and of a URL's path and query, for URL secrets)
    /// replaced by `***` (for a URL also its path, its query and each query value). Empty and very short values are ignored (they would mangle the text).
    public static func scrub(_ text: String, secrets: [String]) -> String {
        var out = text
        for secret in secrets where secret.count >= 6 {
            out = out.replacingOccurrences(of: secret, with: "***")
            guard let url = URLComponents(string: secret), url.scheme != nil else { continue }
            if !url.path.isEmpty, url.path != "/" { out = out.replacingOccurrences(of: url.path, with: "/***") }
            // A query may carry a token: the whole query, and each value of it.
            for part in [url.query] + (url.queryItems ?? []).map(\.value) {
                if let part, part.count >= 6 { out = out.replacingOccurrences(of: part, with: "***") }
            }
        }
        return out
    }

    /// An address as people may see it: scheme and host of a URL, the domain of an e-mail address,
    /// the last four digits of a phone number, the first six characters of a push token.
    public static func redactAddress(_ address: String, channel: NotificationChannel) -> String {
        switch channel {
        case .webhook, .slack:
            guard let url = URL(string: address), let scheme = url.scheme, let host = url.host else { return "***" }
            return "\(scheme)://\(host)\(url.port.map { ":\($0)" } ?? "")/***"
        case .email:
            guard let at = address.lastIndex(of: "@") else { return "***" }
            return "\(address.first.map(String.init) ?? "")***\(address[at...])"
        case .sms, .call: return "***" + String(address.suffix(4))
        case .push: return String(address.prefix(6)) + "***"
        case .inApp: return address
        }
    }
}
