import Foundation
import TMCore
import TMManifest

/// The people a `recipient_role` reaches (`Config/escalation.yaml`): the escalation steps'
/// `manager`, `executive` and `on_call`, and the `admin` a limit breach notifies.
///
/// ```yaml
/// roles:
///   manager:
///     email: risk-manager@example.com
///     slack_webhook: https://hooks.slack.com/services/T000/B000/XXXX
///     phone: "+15550100200"          # SMS and calls
/// ```
///
/// Guarantees: a file is taken whole or refused (`ManifestError` naming the field path and the
/// reason): unknown fields, a role name that is not `[a-z][a-z0-9_]*`, an e-mail without `@`, a
/// webhook that is not an http(s) URL, a phone number not in E.164 form. No file: no roles.
public struct EscalationContacts: Sendable, Equatable {
    public struct Contact: Sendable, Equatable {
        public var email: String?
        public var slackWebhook: String?
        public var phone: String?

        public init(email: String? = nil, slackWebhook: String? = nil, phone: String? = nil) {
            self.email = email
            self.slackWebhook = slackWebhook
            self.phone = phone
        }

        /// Where this contact is reached on `channel` (nil: not on that channel; in-app is the user's).
        public func address(for channel: NotificationChannel) -> String? {
            switch channel {
            case .email: return email
            case .slack: return slackWebhook
            case .sms, .call: return phone
            case .inApp, .webhook, .push: return nil
            }
        }
    }

    public var roles: [String: Contact]

    public init(roles: [String: Contact] = [:]) { self.roles = roles }

    /// `escalation.yaml` of `$TM_CONFIG_DIR`, else of the checkout's `Config/` (here or above); no
    /// roles when there is no such file. A file that is there but wrong is refused.
    public static func standard(environment: TMEnvironment = .current()) throws -> EscalationContacts {
        guard let folder = try? ManifestDirectory.locate("Config", variable: "TM_CONFIG_DIR", environment: environment) else { return .init() }
        let file = folder.appendingPathComponent("escalation.yaml")
        guard FileManager.default.fileExists(atPath: file.path) else { return .init() }
        let text: String
        do { text = try String(contentsOf: file, encoding: .utf8) } catch {
            throw ManifestError(file: file.path, field: "(document)", reason: "cannot be read: \(error.localizedDescription)")
        }
        return try parse(text, file: file.path)
    }

    public static func parse(_ text: String, file: String = "(inline)") throws -> EscalationContacts {
        let fail: (String, String) -> any Error = { ManifestError(file: file, field: $0, reason: $1) }
        let root = try ManifestFields.document(text, example: "roles: {manager: {email: m@example.com}}", fail: fail)
        try root.rejectUnknown(["roles"])
        var contacts = EscalationContacts()
        guard let roles = try root.mapping("roles") else { return contacts }
        for name in roles.values.keys.sorted() {
            guard name.range(of: "^[a-z][a-z0-9_]{0,39}$", options: .regularExpression) != nil else {
                throw fail(roles.field(name), "a role name is lower case letters, digits and _ (e.g. on_call)")
            }
            guard let fields = try roles.mapping(name) else { throw fail(roles.field(name), "expected email, slack_webhook and/or phone") }
            try fields.rejectUnknown(["email", "slack_webhook", "phone"])
            let contact = Contact(email: try fields.string("email"), slackWebhook: try fields.string("slack_webhook"), phone: try fields.string("phone"))
            if let email = contact.email, email.range(of: "^[^@\\s<>]+@[^@\\s<>]+$", options: .regularExpression) == nil {
                throw fail(fields.field("email"), "'\(email)' is not an e-mail address")
            }
            if let hook = contact.slackWebhook, !(hook.hasPrefix("https://") || hook.hasPrefix("http://")) {
                throw fail(fields.field("slack_webhook"), "expected an http(s) URL (a Slack incoming webhook)")
            }
            if let phone = contact.phone, phone.range(of: "^\\+[1-9][0-9]{6,14}$", options: .regularExpression) == nil {
                throw fail(fields.field("phone"), "'\(phone)' is not an E.164 phone number, e.g. +15550100200")
            }
            contacts.roles[name] = contact
        }
        return contacts
    }

    /// Every address in the file, for scrubbing texts that must not show a Slack URL.
    var secrets: [String] { roles.values.compactMap(\.slackWebhook) }
}
