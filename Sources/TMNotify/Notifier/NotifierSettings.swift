import Foundation
import TMCore
import TMHTTP

/// How the notifier delivers and gives up, and the providers it may use. From the environment the
/// dispatcher hands the function (`FunctionEnvironment`): configuration in `TM_SMTP_URL`,
/// `TM_SMTP_FROM`, `TM_TWILIO_BASE_URL`, `TM_TWILIO_FROM`, `TM_FCM_BASE_URL`, `TM_FCM_PROJECT`,
/// `TM_NOTIFY_MAX_ATTEMPTS`, `TM_NOTIFY_FAILING_AFTER`, `TM_NOTIFY_ALLOW_PRIVATE_TARGETS`; credentials (secrets the manifest lists) in
/// `TM_SMTP_USERNAME`, `TM_SMTP_PASSWORD`, `TM_TWILIO_ACCOUNT_SID`, `TM_TWILIO_AUTH_TOKEN`,
/// `TM_FCM_ACCESS_TOKEN`. A provider that is not configured leaves its channel off: its
/// deliveries are dead-lettered with the variable to set, never silently dropped.
public struct NotifierSettings: Sendable {
    public struct SMTP: Sendable {
        public var url: String
        public var from: String
        public var username: String?
        public var password: String?
        public init(url: String, from: String, username: String? = nil, password: String? = nil) {
            self.url = url
            self.from = from
            self.username = username
            self.password = password
        }
    }

    /// Tries per delivery before it is dead-lettered (the queue's `max_deliveries` must be larger,
    /// so the notifier, not the queue, gives up first and records why per channel).
    public var maxAttempts = 5
    /// Failed attempts in a row that mark a user's channel failing (reported, then skipped).
    public var failingAfter = 5
    /// How long one notifier owns a delivery it is sending before another may take it over.
    public var claimFor: Duration = .seconds(120)
    /// A pending notification older than this with no progress is announced again by the sweep.
    public var sweepAfter: Duration = .seconds(60)
    public var httpTimeout: Duration = .seconds(10)
    public var smtp: SMTP?
    public var twilio: TwilioSender.Account?
    public var fcm: PushSender.Project?
    /// Where users' webhook and Slack URLs may point (public hosts only, unless the deployment
    /// allows private targets).
    public var targets = WebhookTargets()

    public init() {}

    public static func fromEnvironment(_ env: TMEnvironment) throws -> NotifierSettings {
        var settings = NotifierSettings()
        func int(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = env[name], !text.isEmpty else { return nil }
            guard let value = Int(text), range.contains(value) else { throw ConfigurationError(variable: name, reason: "expected a whole number in \(range)") }
            return value
        }
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        settings.maxAttempts = try int("TM_NOTIFY_MAX_ATTEMPTS", 1...50) ?? settings.maxAttempts
        settings.failingAfter = try int("TM_NOTIFY_FAILING_AFTER", 1...1000) ?? settings.failingAfter
        settings.targets = try WebhookTargets.fromEnvironment(env)
        if let url = value("TM_SMTP_URL") {
            guard url.hasPrefix("smtp://") || url.hasPrefix("smtps://") else {
                throw ConfigurationError(variable: "TM_SMTP_URL", reason: "expected smtp://host:port or smtps://host:port")
            }
            settings.smtp = SMTP(url: url, from: value("TM_SMTP_FROM") ?? "notifications@localhost",
                                 username: value("TM_SMTP_USERNAME"), password: value("TM_SMTP_PASSWORD"))
        }
        if let sid = value("TM_TWILIO_ACCOUNT_SID"), let token = value("TM_TWILIO_AUTH_TOKEN"), let from = value("TM_TWILIO_FROM") {
            settings.twilio = .init(baseURL: value("TM_TWILIO_BASE_URL") ?? "https://api.twilio.com", accountSID: sid, authToken: token, from: from)
        }
        if let project = value("TM_FCM_PROJECT"), let token = value("TM_FCM_ACCESS_TOKEN") {
            settings.fcm = .init(baseURL: value("TM_FCM_BASE_URL") ?? "https://fcm.googleapis.com", project: project, accessToken: token)
        }
        return settings
    }

    /// The credentials in these settings: scrubbed from every stored or logged text.
    public var secrets: [String] {
        [smtp?.password, smtp?.username, twilio?.authToken, twilio?.accountSID, fcm?.accessToken].compactMap { $0 }
    }

    /// One sender per configured channel (in-app always), sharing one HTTP client.
    public func senders(http: AsyncHTTPClient) throws -> [NotificationChannel: any ChannelSender] {
        var senders: [NotificationChannel: any ChannelSender] = [
            .inApp: InAppSender(),
            .webhook: WebhookSender(http: http, targets: targets, timeout: httpTimeout),
            .slack: SlackSender(http: http, targets: targets, timeout: httpTimeout),
        ]
        if let smtp {
            let client = try AsyncSMTPClient(configuration: .init(url: smtp.url, username: smtp.username, password: smtp.password, timeout: httpTimeout))
            senders[.email] = EmailSender(smtp: client, from: smtp.from)
        }
        if let twilio {
            senders[.sms] = TwilioSender(http: http, account: twilio, call: false, timeout: httpTimeout)
            senders[.call] = TwilioSender(http: http, account: twilio, call: true, timeout: httpTimeout)
        }
        if let fcm { senders[.push] = PushSender(http: http, project: fcm, timeout: httpTimeout) }
        return senders
    }

    /// What to set to turn a channel on, for the dead letter of a delivery on a channel that is off.
    static func missing(_ channel: NotificationChannel) -> String {
        switch channel {
        case .email: return "TM_SMTP_URL"
        case .sms, .call: return "TM_TWILIO_ACCOUNT_SID, TM_TWILIO_AUTH_TOKEN and TM_TWILIO_FROM"
        case .push: return "TM_FCM_PROJECT and TM_FCM_ACCESS_TOKEN"
        case .inApp, .webhook, .slack: return "nothing"
        }
    }
}
