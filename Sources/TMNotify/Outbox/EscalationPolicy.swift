/// One step of an unacknowledged alert's escalation: after `after` from the alert, reach
/// `recipientRole` (nil: the alert's own user) on `channels`.
public struct EscalationStep: Sendable, Hashable {
    public let after: Duration
    public let channels: [NotificationChannel]
    public let recipientRole: String?
}

/// The product's severity matrix, in one place for the notifier (first channels) and the
/// escalation sweep (later steps):
///
/// | severity | at once | +15 min | +30 min |
/// |---|---|---|---|
/// | INFO | in-app | — | — |
/// | WARNING | in-app, email | Slack | — |
/// | ERROR | every channel but SMS | the manager | SMS |
/// | CRITICAL | every channel and SMS | the executive | an incident call (on call) |
///
/// An acknowledged alert (`tm alerts ack`) takes no further step.
public enum EscalationPolicy {
    /// Every channel a user can set up, SMS and calls aside.
    public static let everyChannel: [NotificationChannel] = [.inApp, .email, .webhook, .slack, .push]

    public static func channels(for severity: AlertSeverity) -> [NotificationChannel] {
        switch severity {
        case .info: return [.inApp]
        case .warning: return [.inApp, .email]
        case .error: return everyChannel
        case .critical: return everyChannel + [.sms]
        }
    }

    public static func steps(for severity: AlertSeverity) -> [EscalationStep] {
        switch severity {
        case .info: return []
        case .warning: return [EscalationStep(after: .seconds(15 * 60), channels: [.slack], recipientRole: nil)]
        case .error:
            return [EscalationStep(after: .seconds(15 * 60), channels: [.email, .slack, .sms], recipientRole: "manager"),
                    EscalationStep(after: .seconds(30 * 60), channels: [.sms], recipientRole: nil)]
        case .critical:
            return [EscalationStep(after: .seconds(15 * 60), channels: [.email, .slack, .sms], recipientRole: "executive"),
                    EscalationStep(after: .seconds(30 * 60), channels: [.call], recipientRole: "on_call")]
        }
    }
}
