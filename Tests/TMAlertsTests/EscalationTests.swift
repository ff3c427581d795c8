import Foundation
import Testing
import TestSupport
@testable import TMAlerts
import TMCore
import TMNotify
import TMPostgres
import TMQueue
import TMRedis

/// A migrated database with one user, alerts raised at a fixed instant (`raisedAt`), and a scratch
/// notifications queue; the sweep's clock is `raisedAt` plus minutes (no sleeping).
final class EscalationHarness: LimitEscalationStore, @unchecked Sendable {
    let user = UUID()
    /// 2026-03-02 10:00:00 UTC.
    let raisedAt = Date(timeIntervalSince1970: 1_772_445_600)

    init() async throws {
        try await super.init(prefix: "tm_escalate")
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'escalate@example.com')")
    }

    /// An alert as a producer writes it, raised at `raisedAt`.
    func alert(_ severity: AlertSeverity?, expiresAt: Date? = nil) throws -> UUID {
        let id = try NotificationOutbox.insert(db, NewNotification(
            userID: user, kind: "test_alert", title: "INFY above 1500", body: "INFY traded at 1501.", priority: .high, severity: severity,
            dedupKey: "test:\(UUID().uuidString)", expiresAt: expiresAt))!
        try db.execute("UPDATE notifications SET created_at = \(raisedAt) WHERE id = \(id)")
        return id
    }

    func at(minutes: Double) -> Date { raisedAt.addingTimeInterval(minutes * 60) }

    func sweep() -> EscalationSweep {
        EscalationSweep(pool: pool, producer: producer, queue: notifications)
    }

    @discardableResult
    func sweep(at minutes: Double) async throws -> Int { try await sweep().sweep(now: at(minutes: minutes)) }

    func sweepTwiceAtOnce(at minutes: Double) async throws {
        let (first, second) = (sweep(), sweep())
        async let a = first.sweep(now: at(minutes: minutes))
        async let b = second.sweep(now: at(minutes: minutes))
        _ = try await (a, b)
    }

    struct Step: Equatable, CustomStringConvertible {
        var step: Int
        var channels: [String]
        var role: String?
        var dedupKey: String
        var description: String { "step \(step) \(channels) \(role ?? "user") \(dedupKey)" }
    }

    func steps(of alert: UUID) throws -> [Step] {
        try db.query("""
            SELECT escalation_step, array_to_string(channels, ',') AS channels, recipient_role, dedup_key FROM notifications
            WHERE escalation_of = \(alert) ORDER BY escalation_step
            """).rows.map {
            Step(step: try $0.decode("escalation_step"), channels: (try $0.decode("channels", as: String.self)).split(separator: ",").map(String.init),
                 role: try $0.decode("recipient_role"), dedupKey: try $0.decode("dedup_key"))
        }
    }
}

/// The escalation matrix on real rows with an injected clock: nothing before 15:00, step 1 at
/// 15:00, step 2 at 30:00, each once however many sweeps run; acknowledged or expired alerts stop.
@Suite(.serialized) struct EscalationTests {
    func key(_ alert: UUID, _ step: Int) -> String { "escalation:\(alert.uuidString.lowercased()):\(step)" }

    @Test func stepsComeAtFifteenAndThirtyMinutesOnTheMatrixsChannelsOnce() async throws {
        let h = try await EscalationHarness()
        let warning = try h.alert(.warning), error = try h.alert(.error), critical = try h.alert(.critical), info = try h.alert(.info)
        let plain = try h.alert(nil)
        #expect(try await h.sweep(at: 14 + 59.0 / 60) == 0)
        for alert in [warning, error, critical, info, plain] { #expect(try h.steps(of: alert).isEmpty) }

        try await h.sweep(at: 15)
        try await h.sweep(at: 15)
        try await h.sweepTwiceAtOnce(at: 15)
        #expect(try h.steps(of: warning) == [.init(step: 1, channels: ["slack"], role: nil, dedupKey: key(warning, 1))])
        #expect(try h.steps(of: error) == [.init(step: 1, channels: ["email", "slack", "sms"], role: "manager", dedupKey: key(error, 1))])
        #expect(try h.steps(of: critical) == [.init(step: 1, channels: ["email", "slack", "sms"], role: "executive", dedupKey: key(critical, 1))])
        #expect(try await h.queued() == 3)

        #expect(try await h.sweep(at: 29 + 59.0 / 60) == 0)
        try await h.sweep(at: 30)
        try await h.sweep(at: 30)
        try await h.sweepTwiceAtOnce(at: 30)
        #expect(try h.steps(of: warning).count == 1)
        #expect(try h.steps(of: error) == [.init(step: 1, channels: ["email", "slack", "sms"], role: "manager", dedupKey: key(error, 1)),
                                           .init(step: 2, channels: ["sms"], role: nil, dedupKey: key(error, 2))])
        #expect(try h.steps(of: critical) == [.init(step: 1, channels: ["email", "slack", "sms"], role: "executive", dedupKey: key(critical, 1)),
                                              .init(step: 2, channels: ["call"], role: "on_call", dedupKey: key(critical, 2))])
        for alert in [info, plain] { #expect(try h.steps(of: alert).isEmpty) }
        #expect(try await h.queued() == 5)
        // A step keeps the alert's user and severity, and is no alert of its own to escalate.
        let step = try #require(try h.db.query("SELECT user_id, severity, kind FROM notifications WHERE escalation_of = \(error) AND escalation_step = 2").rows.first)
        #expect(try step.decode("user_id", as: UUID.self) == h.user && step.decode("severity", as: String.self) == "error")
        #expect(try await h.sweep(at: 120) == 0)
        #expect(try h.count("SELECT count(*) AS n FROM notifications WHERE escalation_of IS NOT NULL") == 5)
        await h.cleanUp()
    }

    /// Two sweeps at once, made deterministic: the second reads while the first has written the
    /// step but not committed, so only the step's dedup key can keep it from writing it again.
    @Test func aSweepThatReadBeforeAnotherCommittedWritesNoSecondStep() async throws {
        let h = try await EscalationHarness()
        let alert = try h.alert(.error)
        let first = try h.database.connect()
        defer { first.close() }
        try first.simpleQuery("BEGIN")
        #expect(try EscalationSweep.escalate(first, now: h.at(minutes: 15), after: nil, limit: 10).steps.count == 1)
        async let second = h.sweep(at: 15)
        try await eventually("the second sweep waits for the alert's lock") {
            try h.count("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") == 1
        }
        try first.simpleQuery("COMMIT")
        #expect(try await second == 0)
        #expect(try h.steps(of: alert).map(\.step) == [1])
        await h.cleanUp()
    }

    @Test func acknowledgingStopsFurtherSteps() async throws {
        let h = try await EscalationHarness()
        let early = try h.alert(.critical), late = try h.alert(.error)
        #expect(try Escalation.acknowledge(id: early, actor: "operator:alice", db: h.db) == .acknowledged(alert: early, at: try h.acknowledgedAt(early)))
        try await h.sweep(at: 15)
        #expect(try h.steps(of: early).isEmpty)
        #expect(try h.steps(of: late).count == 1)
        // Acknowledging through the step the manager received acknowledges its alert.
        let step: UUID = try #require(try h.db.query("SELECT id FROM notifications WHERE escalation_of = \(late)").rows.first).decode("id")
        let acked = try Escalation.acknowledge(id: step, actor: "operator:bob", db: h.db)
        #expect(acked == .acknowledged(alert: late, at: try h.acknowledgedAt(late)))
        #expect(try Escalation.acknowledge(id: late, actor: "operator:bob", db: h.db) == .alreadyAcknowledged(alert: late, at: try h.acknowledgedAt(late)))
        try await h.sweep(at: 30)
        #expect(try h.steps(of: early).isEmpty)
        #expect(try h.steps(of: late).count == 1)
        #expect(try h.count("SELECT count(*) AS n FROM audit_log WHERE action = 'alert.acknowledge'") == 2)
        await h.cleanUp()
    }

    @Test func expiredAlertsDoNotEscalate() async throws {
        let h = try await EscalationHarness()
        let expiring = try h.alert(.error, expiresAt: h.at(minutes: 20)), gone = try h.alert(.critical, expiresAt: h.at(minutes: 10))
        try await h.sweep(at: 15)
        #expect(try h.steps(of: expiring).count == 1)
        #expect(try h.steps(of: gone).isEmpty)
        try await h.sweep(at: 30)
        #expect(try h.steps(of: expiring).count == 1)
        await h.cleanUp()
    }

    @Test func acknowledgingRefusesUnknownIdsAndNotificationsWithoutSeverity() async throws {
        let h = try await EscalationHarness()
        let plain = try h.alert(nil)
        #expect(throws: EscalationError.self) { try Escalation.acknowledge(id: UUID(), actor: "operator:alice", db: h.db) }
        do {
            _ = try Escalation.acknowledge(id: plain, actor: "operator:alice", db: h.db)
            Issue.record("a notification without severity was acknowledged")
        } catch let error as EscalationError {
            #expect(error.description.contains("has no severity"))
        }
        #expect(try h.count("SELECT count(*) AS n FROM notifications WHERE acknowledged_at IS NOT NULL") == 0)
        #expect(try h.count("SELECT count(*) AS n FROM audit_log") == 0)
        await h.cleanUp()
    }
}

extension EscalationHarness {
    func acknowledgedAt(_ alert: UUID) throws -> Date {
        try db.query("SELECT acknowledged_at FROM notifications WHERE id = \(alert)").rows[0].decode("acknowledged_at")
    }
}
