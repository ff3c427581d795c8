import Foundation
import Logging
import TMCore
import TMCrypto
import TMPostgres
import TMQueue

/// Delivers one notification on every channel it should go out on, each exactly once as far as
/// this side can tell.
///
/// For a `{"notification_id"}` message it loads the row and:
/// - **expired** (`expires_at` passed): delivers nothing; the row becomes `cancelled`;
/// - **channels**: the row's explicit `channels`, else the severity matrix for an alert
///   (`EscalationPolicy`), else the user's preferences for its kind (no preference: in-app only);
///   restricted to what the recipient has set up, enabled and not failing (in-app is always there
///   for the user);
/// - **recipients**: the user's addresses, or for a `recipient_role` that role's contacts
///   (`Config/escalation.yaml`);
/// - **once**: one `notification_deliveries` row per (notification, channel, recipient); a
///   delivery is claimed by a conditional update that only a delivery not yet sent (and not being
///   sent by a live claim) passes, and marked sent by another. A redelivered message therefore
///   re-sends nothing already sent; an in-doubt send (a crash or timeout after the request left) is
///   re-sent with the same idempotency key (`DeliveryEnvelope.idempotencyKey`), so the receiver
///   can drop it;
/// - **retries**: a failed delivery stays `failed` and the call throws `NotificationIncomplete`
///   (retryable): the queue redelivers the message with its backoff and only what failed is tried
///   again. After `maxAttempts` tries, or at once for a permanent refusal, the delivery is `dead`
///   with the reason (channel, status, provider text — scrubbed of every known secret);
/// - **failing channels**: `failingAfter` failures in a row on a user's channel mark it failing:
///   its open deliveries are dead-lettered, the user gets an in-app notification, `tm
///   notifications channels` shows it, and it is skipped until re-enabled;
/// - **status**: the notification is `sent` when every delivery is sent, `failed` when every
///   delivery is done and some are dead (or no channel reaches the recipient), else `pending`.
public struct Notifier: Sendable {
    public let pool: PostgresPool
    public let producer: QueueProducer?
    public let keyring: SecretKeyring?
    public let senders: [NotificationChannel: any ChannelSender]
    public let contacts: EscalationContacts
    public let settings: NotifierSettings
    public let queue: String
    let clock: @Sendable () -> Date

    public init(pool: PostgresPool, producer: QueueProducer?, keyring: SecretKeyring?, senders: [NotificationChannel: any ChannelSender],
                contacts: EscalationContacts = .init(), settings: NotifierSettings = .init(), queue: String = NotificationOutbox.queue,
                clock: @escaping @Sendable () -> Date = Date.init) {
        self.pool = pool
        self.producer = producer
        self.keyring = keyring
        self.senders = senders
        self.contacts = contacts
        self.settings = settings
        self.queue = queue
        self.clock = clock
    }

    /// What became of one notification in one pass.
    public struct Report: Sendable, CustomStringConvertible {
        public var status: String
        public var sent: [String] = []
        public var dead: [String] = []
        public var description: String {
            "\(status)" + (sent.isEmpty ? "" : "; sent: \(sent.joined(separator: ", "))") + (dead.isEmpty ? "" : "; dead: \(dead.joined(separator: "; "))")
        }
    }

    /// Delivers what is still to deliver of notification `id`. Throws `NotificationIncomplete`
    /// (retryable) when some delivery failed and will be tried again.
    @discardableResult
    public func deliver(_ id: UUID, logger: Logger = Logger(label: "tm.notifier")) async throws -> Report {
        let now = clock()
        guard let notification = try await pool.withConnection({ try NotificationRecord.load($0, id: id) }) else {
            return Report(status: "gone")
        }
        guard notification.status == "pending" else { return Report(status: "already \(notification.status)") }
        if let expiresAt = notification.expiresAt, expiresAt <= now {
            try await pool.withConnection { db in try DeliveryStore.expire(db, id: id, at: expiresAt) }
            logger.info("notification expired before delivery", metadata: ["notification_id": "\(id)"])
            return Report(status: "cancelled (expired)")
        }

        let targets = try await pool.withConnection { db in try self.targets(for: notification, db) }
        let deliveries = try await pool.withConnection { db -> [DeliveryRow] in
            try DeliveryStore.insert(db, notification: id, targets: targets)
            return try DeliveryStore.load(db, notification: id)
        }
        var report = Report(status: "pending")
        for delivery in deliveries {
            switch try await attempt(delivery, of: notification, now: now, logger: logger) {
            case .sent: report.sent.append(delivery.channel.rawValue)
            case .dead(let why): report.dead.append(why)
            case .skipped, .failed: break
            }
        }
        let summary = try await pool.withConnection { db in
            try DeliveryStore.settle(db, notification: id, now: now,
                                     noTarget: targets.isEmpty ? "no channel reaches the recipient (\(notification.describeChannels))" : nil)
        }
        report.status = summary.status
        if summary.open > 0 {
            throw NotificationIncomplete(notification: id, reasons: summary.errors)
        }
        return report
    }

    // MARK: Channels and recipients

    /// The channels this notification goes out on before the recipient's set-up is considered.
    func channels(for notification: NotificationRecord, _ db: PostgresConnection) throws -> [NotificationChannel] {
        if let explicit = notification.channels { return explicit }
        if let severity = notification.severity { return EscalationPolicy.channels(for: severity) }
        return try NotificationChannels.preference(db, userID: notification.userID, kind: notification.kind) ?? [.inApp]
    }

    /// Every (channel, recipient) this notification should reach.
    func targets(for notification: NotificationRecord, _ db: PostgresConnection) throws -> [DeliveryTarget] {
        let wanted = try channels(for: notification, db)
        if let role = notification.recipientRole {
            guard let contact = contacts.roles[role] else { return [] }
            return wanted.filter { contact.address(for: $0) != nil }.map { DeliveryTarget(channel: $0, recipient: "role:\(role)", channelID: nil) }
        }
        var targets: [DeliveryTarget] = []
        let usable = try NotificationChannels.list(db, userID: notification.userID).filter { $0.enabled && $0.failingSince == nil }
        for channel in wanted {
            if channel == .inApp {
                targets.append(DeliveryTarget(channel: .inApp, recipient: "user", channelID: nil))
                continue
            }
            for record in usable where record.channel == channel {
                targets.append(DeliveryTarget(channel: channel, recipient: record.id.uuidString.lowercased(), channelID: record.id))
            }
        }
        return targets
    }

    // MARK: One delivery

    enum Attempt { case skipped, sent, failed, dead(String) }

    func attempt(_ delivery: DeliveryRow, of notification: NotificationRecord, now: Date, logger: Logger) async throws -> Attempt {
        guard let attempts = try await pool.withConnection({ try DeliveryStore.claim($0, delivery: delivery.id, now: now, for: self.settings.claimFor) }) else {
            return .skipped  // sent, dead, or being sent by a live claim
        }
        var secrets = settings.secrets + contacts.secrets
        let envelope: DeliveryEnvelope
        do {
            let address = try await self.address(of: delivery, role: notification.recipientRole)
            secrets.append(address)
            var signingSecret: String?
            if delivery.channel == .webhook {
                guard let sealed = delivery.sealedSecret, let channelID = delivery.channelID else {
                    throw DeliveryFailure("webhook has no signing secret", retryable: false)
                }
                guard let keyring else { throw DeliveryFailure("cannot open the signing secret: TM_SECRET_KEY not given to the notifier", retryable: false) }
                do { signingSecret = try keyring.openString(sealed, associatedData: NotificationChannels.secretBinding(channelID)) } catch {
                    throw DeliveryFailure("cannot open the signing secret (sealed under another key?)", retryable: false)
                }
                secrets.append(signingSecret!)
            }
            envelope = notification.envelope(delivery, address: address, signingSecret: signingSecret)
        } catch let failure as DeliveryFailure {
            return try await fail(delivery, attempts: attempts, failure, secrets: secrets, now: now, sent: false, logger: logger)
        }
        guard let sender = senders[delivery.channel] else {
            let failure = DeliveryFailure("\(delivery.channel.rawValue) is not configured (set \(NotifierSettings.missing(delivery.channel)))", retryable: false)
            return try await fail(delivery, attempts: attempts, failure, secrets: secrets, now: now, sent: false, logger: logger)
        }
        do {
            let receipt = try await sender.deliver(envelope)
            try await pool.withConnection { db in try DeliveryStore.markSent(db, delivery: delivery, providerID: receipt.providerMessageID, at: self.clock()) }
            logger.info("notification delivered", metadata: [
                "notification_id": "\(notification.id)", "delivery_id": "\(delivery.id)", "channel": "\(delivery.channel.rawValue)", "attempt": "\(attempts)",
            ])
            return .sent
        } catch let failure as DeliveryFailure {
            return try await fail(delivery, attempts: attempts, failure, secrets: secrets, now: now, logger: logger)
        } catch {
            return try await fail(delivery, attempts: attempts, DeliveryFailure("\(type(of: error))", retryable: true), secrets: secrets, now: now, logger: logger)
        }
    }

    /// The address of a delivery's recipient on its channel. A user's webhook or Slack URL is
    /// opened from its seal here, only to send (a row still in plain text is sealed now: first
    /// read), and checked against `settings.targets` again (its host may resolve elsewhere now).
    func address(of delivery: DeliveryRow, role: String?) async throws -> String {
        if delivery.channel == .inApp { return "user" }
        if delivery.recipient.hasPrefix("role:") {
            let name = String(delivery.recipient.dropFirst(5))
            guard let address = contacts.roles[name]?.address(for: delivery.channel) else {
                throw DeliveryFailure("role \(name) has no \(delivery.channel.rawValue) address in escalation.yaml", retryable: false)
            }
            return address
        }
        guard var address = delivery.address, let channelID = delivery.channelID else { throw DeliveryFailure("the channel was removed", retryable: false) }
        if delivery.channelFailing { throw DeliveryFailure("the channel is marked failing: not retried until re-enabled", retryable: false) }
        if !delivery.channelEnabled { throw DeliveryFailure("the channel is disabled", retryable: false) }
        guard NotificationChannels.sealsAddress(delivery.channel) else { return address }
        if let sealed = delivery.sealedAddress {
            address = try NotificationChannels.openAddress(sealed, channelID: channelID, keyring: keyring)
        } else if let keyring {
            try await pool.withConnection { db in _ = try NotificationChannels.sealPlainAddresses(db, keyring: keyring, ids: [channelID]) }
        }
        do { try settings.targets.check(address, atSend: true) } catch { throw DeliveryFailure("\(error)", retryable: error.isRetryable) }
        return address
    }

    /// Records a failed try: `failed` (retried by the queue) or `dead`; a try that reached the
    /// provider (`sent`) counts against the user's channel, which is marked failing (and reported)
    /// at `failingAfter` in a row — a missing provider configuration or a paused channel does not.
    func fail(_ delivery: DeliveryRow, attempts: Int, _ failure: DeliveryFailure, secrets: [String], now: Date, sent: Bool = true,
              logger: Logger) async throws -> Attempt {
        let reason = SecretScrubber.scrub("\(delivery.channel.rawValue): \(failure.reason)", secrets: secrets)
        let settings = self.settings
        let outcome = try await pool.transaction { db -> (dead: Bool, failing: ChannelRecord?, report: UUID?) in
            var failing: ChannelRecord?
            var report: UUID?
            if sent, let channelID = delivery.channelID, !delivery.recipient.hasPrefix("role:") {
                failing = try DeliveryStore.countFailure(db, channel: channelID, reason: reason, failingAfter: settings.failingAfter, now: now)
                if let failing { report = try Self.reportFailing(db, failing) }
            }
            let dead = !failure.retryable || attempts >= settings.maxAttempts || failing != nil
            let text = dead && failure.retryable && failing == nil ? "\(reason) (gave up after \(attempts) attempts)" : reason
            try DeliveryStore.markFailed(db, delivery: delivery.id, dead: dead, reason: text,
                                         retryAt: now.addingTimeInterval(Self.backoff(attempts)))
            return (dead, failing, report)
        }
        if let report = outcome.report { await NotificationOutbox.announce([report], producer: producer, queue: queue) }
        var metadata: Logger.Metadata = [
            "delivery_id": "\(delivery.id)", "channel": "\(delivery.channel.rawValue)", "attempt": "\(attempts)", "reason": "\(reason)",
        ]
        if let failing = outcome.failing { metadata["channel_failing"] = "\(failing.id)" }
        logger.warning(outcome.dead ? "notification delivery dead-lettered" : "notification delivery failed; the queue retries it", metadata: metadata)
        return outcome.dead ? .dead(reason) : .failed
    }

    /// The in-app notification telling a user one of their channels stopped working.
    static func reportFailing(_ db: PostgresConnection, _ channel: ChannelRecord) throws -> UUID? {
        let since = Int((channel.failingSince ?? Date()).timeIntervalSince1970 * 1000)
        return try NotificationOutbox.insert(db, NewNotification(
            userID: channel.userID, kind: "notification_channel_failing",
            title: "Your \(channel.channel.rawValue) notifications stopped",
            body: "Delivery to \(channel.redactedAddress) failed \(channel.consecutiveFailures) times in a row"
                + (channel.disabledReason.map { " (last: \($0))" } ?? "")
                + ". It is paused: fix it, then re-enable it with `tm notifications channels --user \(channel.userID.uuidString.lowercased()) --enable \(channel.id.uuidString.lowercased())`.",
            priority: .high, payload: ["channel_id": .string(channel.id.uuidString.lowercased()), "channel": .string(channel.channel.rawValue)],
            dedupKey: "notification_channel_failing:\(channel.id.uuidString.lowercased()):\(since)", channels: [.inApp]))
    }

    /// When the queue's retry will come, roughly (5 s doubling, capped at 10 min): shown, not enforced.
    static func backoff(_ attempts: Int) -> TimeInterval { min(600, 5 * pow(2, Double(max(0, attempts - 1)))) }
}

/// Some delivery of a notification failed and will be tried again: the record fails retryably,
/// and the queue's redelivery retries only what is not sent.
public struct NotificationIncomplete: Error, CustomStringConvertible, RetryClassifying {
    public let notification: UUID
    public let reasons: [String]
    public var isRetryable: Bool { true }
    public var description: String { "notification \(notification.uuidString.lowercased()) not fully delivered: \(reasons.joined(separator: "; "))" }
}
