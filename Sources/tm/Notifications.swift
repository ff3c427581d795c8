import ArgumentParser
import Foundation
import TMCore
import TMCrypto
import TMNotify
import TMPostgres
import TMQueue

/// `tm notifications`: what was sent to whom, on which channels, and the users' channels.
struct Notifications: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show, resend and mark notifications read; list and set up a user's channels.",
        discussion: """
            The notifier function delivers each notification once per channel and recipient (notification_deliveries); show
            prints every delivery with its status, attempts and last error. resend makes the deliveries new attempts
            (receivers see a new idempotency key), enqueues the notification again and writes an audit row.
            """,
        subcommands: [List.self, Show.self, Resend.self, Read.self, Channels.self])

    /// A user by id or e-mail address.
    static func user(_ text: String, _ db: PostgresConnection) throws -> UUID {
        if let id = UUID(uuidString: text) { return id }
        guard let id: UUID = try db.query("SELECT id FROM users WHERE lower(email) = lower(\(text))").rows.first?.decode("id") else {
            throw ValidationError("--user: no user '\(text)' (give an id or an e-mail address)")
        }
        return id
    }

    static func notificationID(_ text: String) throws -> UUID {
        guard let id = UUID(uuidString: text) else { throw ValidationError("id: '\(text)' is not a notification id (a UUID)") }
        return id
    }

    static func time(_ date: Date?) -> String { date.map { ISO8601DateFormatter().string(from: $0) } ?? "-" }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Notifications, newest first.")
        @Option(help: "Only this user's (an id or an e-mail address).") var user: String?
        @Flag(help: "Only unread ones.") var unread = false
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            guard limit > 0 else { throw ValidationError("--limit: must be positive") }
            let db = try PostgresConnection.connect()
            defer { db.close() }
            let rows = try NotificationViews.list(db, user: try user.map { try Notifications.user($0, db) }, unreadOnly: unread, limit: limit)
            if json { return print(JSONValue.array(rows.map(\.json)).prettyText) }
            print("ID                                    CREATED               KIND                          PRIORITY  STATUS     READ  TITLE")
            for n in rows {
                print([pad(n.id.uuidString.lowercased(), 38), pad(Notifications.time(n.createdAt), 22), pad(n.kind, 30), pad(n.priority, 10),
                       pad(n.status, 11), pad(n.readAt == nil ? "no" : "yes", 6), n.title].joined())
            }
            if rows.isEmpty { print("(no notifications)") }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One notification and its deliveries per channel.")
        @Argument(help: "The notification id.") var id: String
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            let db = try PostgresConnection.connect()
            defer { db.close() }
            guard let n = try NotificationViews.show(db, id: try Notifications.notificationID(id)) else { throw ValidationError("id: no notification \(id)") }
            if json { return print(n.json.prettyText) }
            let lines: [(String, String?)] = [
                ("notification", n.id.uuidString.lowercased()), ("user", n.userID.uuidString.lowercased()), ("kind", n.kind), ("title", n.title),
                ("body", n.body), ("priority", n.priority), ("severity", n.severity), ("status", n.status), ("channels", n.channels ?? "(severity or preferences)"),
                ("recipient role", n.recipientRole), ("action", n.actionURL), ("last error", n.lastError), ("created", Notifications.time(n.createdAt)),
                ("sent", Notifications.time(n.sentAt)), ("read", Notifications.time(n.readAt)), ("expires", Notifications.time(n.expiresAt)),
            ]
            for (label, value) in lines { print(pad(label + ":", 16) + (value ?? "-")) }
            print("")
            print("DELIVERIES")
            for d in n.deliveries {
                print("  " + [pad(d.channel, 9), pad(d.recipient, 40), pad(d.status, 9), pad("\(d.attempts) tries", 9),
                              d.resends > 0 ? "resent \(d.resends)x  " : "", d.sentAt.map { "sent \(Notifications.time($0))  " } ?? "",
                              d.lastError ?? ""].joined())
            }
            if n.deliveries.isEmpty { print("  (none yet)") }
        }
    }

    struct Resend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deliver a notification again (all its channels, or one), as new delivery attempts.")
        @Argument(help: "The notification id.") var id: String
        @Option(help: "Only this channel: in_app, email, webhook, slack, sms, push or call.") var channel: String?
        @Option(help: "Who asks (the audit log's actor).") var actor = "operator:cli"
        @Flag(help: "Print as JSON.") var json = false
        // Tests point it at a scratch queue of the same shape.
        @Option(help: .hidden) var queue = NotificationOutbox.queue

        func run() async throws {
            var wanted: NotificationChannel?
            if let channel {
                guard let known = NotificationChannel(rawValue: channel) else {
                    throw ValidationError("--channel: '\(channel)' is not one of \(NotificationChannel.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                wanted = known
            }
            let id = try Notifications.notificationID(id)
            let db = try PostgresConnection.connect()
            defer { db.close() }
            let resend: NotificationViews.Resend
            do { resend = try NotificationViews.resend(db, id: id, channel: wanted, actor: actor) } catch let refused as ResendRefused {
                throw ValidationError("\(refused)")
            }
            let system = try await QueueSystem.open(checking: [queue], clientName: "tm-notifications")
            defer { system.close() }
            let result = try await QueueProducer(redis: system.redis, catalog: system.catalog).enqueue(queue, resend.message)
            if json {
                return print(JSONValue.object([("notification_id", .string(id.uuidString.lowercased())), ("deliveries", .int(resend.deliveries)),
                                               ("queue", .string(queue)), ("message_id", .string(result.id))]).prettyText)
            }
            print("resending notification \(id.uuidString.lowercased()): \(resend.deliveries) deliver\(resend.deliveries == 1 ? "y" : "ies") reset, message \(result.id) on \(queue)")
        }
    }

    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a notification read.")
        @Argument(help: "The notification id.") var id: String
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            let db = try PostgresConnection.connect()
            defer { db.close() }
            let id = try Notifications.notificationID(id)
            guard try NotificationViews.markRead(db, id: id) else { throw ValidationError("id: no notification \(id.uuidString.lowercased())") }
            if json { return print(JSONValue.object([("id", .string(id.uuidString.lowercased())), ("read", .bool(true))]).prettyText) }
            print("read: \(id.uuidString.lowercased())")
        }
    }

    struct Channels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A user's channels (set up, failing), and setting them up.",
            discussion: """
                --add CHANNEL --address A sets up an address (a webhook also needs --secret-env NAME: the environment variable
                holding its signing secret, sealed with TM_SECRET_KEY before it is stored). Webhook and Slack URLs are sealed
                too, and refused when they point to a loopback, private, link-local or metadata address (unless
                TM_NOTIFY_ALLOW_PRIVATE_TARGETS=1, as the dev and test profiles set). --enable ID turns a failing or
                disabled channel back on; --disable ID turns it off. --prefer KIND=CH,CH sets which channels notifications of a
                kind (or *) may use.
                """)
        @Option(help: "The user (an id or an e-mail address).") var user: String
        @Option(help: "Set up a channel: email, webhook, slack, sms, push or call.") var add: String?
        @Option(help: "The address for --add.") var address: String?
        @Option(help: "The environment variable holding a webhook's signing secret.") var secretEnv: String?
        @Option(help: "Re-enable this channel (id).") var enable: String?
        @Option(help: "Disable this channel (id).") var disable: String?
        @Option(help: "KIND=CHANNEL,CHANNEL: the channels notifications of KIND (or *) may use.") var prefer: String?
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            let db = try PostgresConnection.connect()
            defer { db.close() }
            let userID = try Notifications.user(user, db)
            if let add {
                guard let channel = NotificationChannel(rawValue: add), channel != .inApp else { throw ValidationError("--add: '\(add)' is not a channel with an address") }
                guard let address else { throw ValidationError("--address: required with --add") }
                var secret: String?
                if let secretEnv {
                    guard let value = ProcessInfo.processInfo.environment[secretEnv], !value.isEmpty else { throw ValidationError("--secret-env: \(secretEnv) is not set") }
                    secret = value
                }
                if channel == .webhook && secret == nil { throw ValidationError("--secret-env: a webhook needs a signing secret") }
                let environment = TMEnvironment.current()
                let sealing = secret != nil || NotificationChannels.sealsAddress(channel)
                let keyring = sealing ? try SecretKeyring.fromEnvironment(environment) : nil
                do {
                    try NotificationChannels.add(db, userID: userID, channel: channel, address: address, signingSecret: secret, keyring: keyring,
                                                 targets: try WebhookTargets.fromEnvironment(environment))
                } catch let refused as WebhookTargets.Refused {
                    throw ValidationError("--\(refused.description)")
                }
            }
            for (text, on) in [(enable, true), (disable, false)] {
                guard let text else { continue }
                guard let id = UUID(uuidString: text), try NotificationChannels.enable(db, id: id, enabled: on) else {
                    throw ValidationError("--\(on ? "enable" : "disable"): no channel '\(text)'")
                }
            }
            if let prefer {
                let parts = prefer.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--prefer: expected KIND=CHANNEL,CHANNEL") }
                let channels = try parts[1].split(separator: ",").map { name -> NotificationChannel in
                    guard let channel = NotificationChannel(rawValue: String(name)) else { throw ValidationError("--prefer: '\(name)' is not a channel") }
                    return channel
                }
                try NotificationChannels.setPreference(db, userID: userID, kind: parts[0], channels: channels)
            }
            let records = try NotificationChannels.list(db, userID: userID)
            if json {
                return print(JSONValue.array(records.map { r in
                    .object([("id", .string(r.id.uuidString.lowercased())), ("channel", .string(r.channel.rawValue)), ("address", .string(r.redactedAddress)),
                             ("state", .string(r.state)), ("consecutive_failures", .int(r.consecutiveFailures)),
                             ("failing_since", r.failingSince.map { .string(Notifications.time($0)) } ?? .null), ("reason", .optional(r.disabledReason))])
                }).prettyText)
            }
            print("ID                                    CHANNEL   ADDRESS                                   STATE     FAILURES  FAILING SINCE         REASON")
            for r in records {
                print([pad(r.id.uuidString.lowercased(), 38), pad(r.channel.rawValue, 10), pad(r.redactedAddress, 42), pad(r.state, 10),
                       pad(String(r.consecutiveFailures), 10), pad(Notifications.time(r.failingSince), 22), r.disabledReason ?? ""].joined())
            }
            if records.isEmpty { print("(no channels set up: in-app only)") }
        }
    }
}
