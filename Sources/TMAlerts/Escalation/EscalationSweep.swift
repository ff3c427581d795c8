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
/// - Alerts whose steps are all taken are no longer read.
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
        var after: UUID? = nil
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

    struct Page: Sendable {
        var steps: [UUID] = []
        var read = 0
        /// The last alert read: the next page starts after it (alerts are read in id order).
        var last: UUID?
    }

    /// The severities with steps, and how many each has.
    private static let policy: [(severity: AlertSeverity, steps: [EscalationStep])] =
        AlertSeverity.allCases.map { ($0, EscalationPolicy.steps(for: $0)) }.filter { !$0.1.isEmpty }

    /// One page of alerts that may take a step, locked; writes the steps due. In the caller's transaction.
    static func escalate(_ db: PostgresConnection, now: Date, after cursor: UUID?, limit: Int) throws -> Page {
        let severities = "{" + policy.map(\.severity.rawValue).joined(separator: ",") + "}"
        let counts = "{" + policy.map { String($0.steps.count) }.joined(separator: ",") + "}"
        let earliest = policy.flatMap(\.steps).map(\.after.seconds).min() ?? 0
        let next: PostgresQuery = cursor.map { "n.id > \($0)" } ?? "true"
        let rows = try db.query("""
            SELECT n.id, n.user_id, n.kind, n.title, n.body, n.severity, n.action_url, n.expires_at, n.created_at
            FROM notifications n JOIN unnest(\(severities)::text[], \(counts)::int[]) AS policy(severity, steps) ON policy.severity = n.severity
            WHERE n.escalation_of IS NULL AND n.acknowledged_at IS NULL
              AND (n.expires_at IS NULL OR n.expires_at > \(now))
              AND n.created_at <= \(now.addingTimeInterval(-earliest))
              AND \(fragment: next)
              AND (SELECT count(*) FROM notifications s WHERE s.escalation_of = n.id) < policy.steps
            ORDER BY n.id LIMIT \(limit)
            FOR UPDATE OF n
            """).rows
        var page = Page(read: rows.count)
        for row in rows {
            let alert = try Alert(row)
            page.last = alert.id
            for (index, step) in EscalationPolicy.steps(for: alert.severity).enumerated()
            where alert.createdAt.addingTimeInterval(step.after.seconds) <= now {
                if let id = try NotificationOutbox.insert(db, alert.step(index + 1, step)) { page.steps.append(id) }
            }
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
