import Foundation
import Logging
import TMCore
import TMNotify
import TMPostgres
import TMQueue

/// The escalation of unacknowledged alerts: each notification with a severity that is not itself
/// a step, not acknowledged and not expired takes the steps of `EscalationPolicy.steps(for:)` (the
/// matrix lives there) once each is due, as new notifications through the outbox.
///
/// Guarantees:
/// - Step n of an alert is a notification with dedup key `escalation:<alert id>:<n>`, so it is
///   written once however many sweeps run, at once or again; it carries the step's channels and
///   recipient role, points at its alert (`escalation_of`, `escalation_step`) and keeps the
///   alert's user, severity, action URL and expiry.
/// - A step is due at the alert's `created_at` plus the step's `after`, compared with the injected
///   `now`; an alert acknowledged (`Escalation.acknowledge`) or expired before the sweep reads it
///   takes no step: the sweep locks the alerts it steps, and acknowledging locks the same row, so an
///   acknowledgement either precedes the sweep's read or waits for its commit.
/// - Only steps due and not yet written are read: an alert between its steps costs nothing.
public struct EscalationSweep: AlertSweep {
    public let name = "escalation"

    private let pool: PostgresPool
    private let producer: QueueProducer?
    private let queue: String
    private let batchSize: Int
    private let logger: Logger

    /// `producer` announces each step to the notifier (nil: its sweep of pending rows finds them) on
    /// `queue`; `batchSize`: alerts locked and stepped per transaction.
    public init(pool: PostgresPool, producer: QueueProducer?, queue: String = NotificationOutbox.queue, batchSize: Int = 500,
                logger: Logger = Logger(label: "tm.alerts.escalation")) {
        self.pool = pool
        self.producer = producer
        self.queue = queue
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    /// Returns how many steps it wrote.
    public func sweep(now: Date) async throws -> Int {
        var after: Due? = nil
        var written = 0
        while true {
            let (from, limit) = (after, batchSize)
            let page = try await pool.transaction { db in try Self.escalate(db, now: now, after: from, limit: limit) }
            await NotificationOutbox.announce(page.steps, producer: producer, queue: queue)
            written += page.steps.count
            if !page.steps.isEmpty { logger.info("escalation steps", metadata: ["count": "\(page.steps.count)"]) }
            guard let last = page.last, page.read == batchSize else { return written }
            after = last
        }
    }

    /// A step due: step `step` of alert `alert` (pages are read in this order).
    struct Due: Sendable {
        var alert: UUID
        var step: Int
    }

    struct Page: Sendable {
        var steps: [UUID] = []
        var read = 0
        /// The last step read: the next page starts after it.
        var last: Due?
    }

    /// The matrix as rows: each severity's steps, numbered from 1, with their delay in seconds.
    private static let policy: [(severity: AlertSeverity, step: Int, after: Double)] = AlertSeverity.allCases.flatMap { severity in
        EscalationPolicy.steps(for: severity).enumerated().map { (severity, $0.offset + 1, $0.element.after.seconds) }
    }

    /// One page of the steps due and not yet written, their alerts locked; writes them. In the
    /// caller's transaction. A step another sweep wrote after this one's read is refused by its
    /// dedup key (this read cannot see it, the insert does).
    static func escalate(_ db: PostgresConnection, now: Date, after cursor: Due?, limit: Int) throws -> Page {
        let severities = "{" + policy.map(\.severity.rawValue).joined(separator: ",") + "}"
        let steps = "{" + policy.map { String($0.step) }.joined(separator: ",") + "}"
        let delays = "{" + policy.map { String($0.after) }.joined(separator: ",") + "}"
        let next: PostgresQuery = cursor.map { "(n.id, policy.step) > (\($0.alert), \($0.step))" } ?? "true"
        let rows = try db.query("""
            SELECT n.id, n.user_id, n.kind, n.title, n.body, n.severity, n.action_url, n.expires_at, n.created_at, policy.step
            FROM notifications n
            JOIN unnest(\(severities)::text[], \(steps)::int[], \(delays)::float8[]) AS policy(severity, step, after_seconds)
              ON policy.severity = n.severity
            WHERE n.escalation_of IS NULL AND n.acknowledged_at IS NULL
              AND (n.expires_at IS NULL OR n.expires_at > \(now))
              AND n.created_at <= \(now)::timestamptz - make_interval(secs => policy.after_seconds)
              AND NOT EXISTS (SELECT 1 FROM notifications s WHERE s.escalation_of = n.id AND s.escalation_step = policy.step)
              AND \(fragment: next)
            ORDER BY n.id, policy.step LIMIT \(limit)
            FOR UPDATE OF n
            """).rows
        var page = Page(read: rows.count)
        for row in rows {
            let alert = try Alert(row)
            let number: Int = try row.decode("step")
            page.last = Due(alert: alert.id, step: number)
            let step = EscalationPolicy.steps(for: alert.severity)[number - 1]
            if let id = try NotificationOutbox.insert(db, alert.step(number, step)) { page.steps.append(id) }
        }
        return page
    }

    /// The alert as the sweep reads it.
    struct Alert {
        var id: UUID
        var user: UUID
        var kind: String
        var title: String
        var body: String
        var severity: AlertSeverity
        var actionURL: String?
        var expiresAt: Date?
        var createdAt: Date

        init(_ row: PostgresRow) throws {
            id = try row.decode("id")
            user = try row.decode("user_id")
            kind = try row.decode("kind")
            title = try row.decode("title")
            body = try row.decode("body")
            let text: String = try row.decode("severity")
            guard let severity = AlertSeverity(rawValue: text) else { throw EscalationError("notification \(id) has an unknown severity '\(text)'") }
            self.severity = severity
            actionURL = try row.decode("action_url")
            expiresAt = try row.decode("expires_at")
            createdAt = try row.decode("created_at")
        }

        /// Step `number` (1, 2, ...) of this alert as a notification.
        func step(_ number: Int, _ step: EscalationStep) -> NewNotification {
            let alertID = id.uuidString.lowercased()
            let minutes = Int(step.after.seconds / 60)
            let whom = step.recipientRole.map { "the \($0.replacingOccurrences(of: "_", with: " "))" } ?? "you"
            let title = String("Unacknowledged for \(minutes) min: \(self.title)".prefix(200))
            let note = "\n\nNot acknowledged after \(minutes) minutes: escalated to \(whom) (step \(number)). Acknowledge with `tm alerts ack \(alertID)`."
            let body = String(self.body.prefix(4000 - note.count)) + note
            return NewNotification(
                userID: user, kind: "alert_escalation", title: title, body: body,
                priority: severity == .warning ? .high : .urgent, severity: severity,
                payload: .object([("alert_id", .string(alertID)), ("alert_kind", .string(kind)), ("step", .number(String(number))),
                                  ("after_minutes", .number(String(minutes))), ("severity", .string(severity.rawValue))]),
                dedupKey: Escalation.dedupKey(alert: id, step: number), actionURL: actionURL, expiresAt: expiresAt,
                channels: step.channels, recipientRole: step.recipientRole, escalation: (of: id, step: number))
        }
    }
}

/// A notification that cannot be escalated or acknowledged, with the reason.
public struct EscalationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
