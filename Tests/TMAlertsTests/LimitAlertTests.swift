import Foundation
import Testing
import TestSupport
import TMAlerts
import TMCore
import TMOrders
import TMPostgres
import TMRisk

/// Limit alerts on real rows: the daily loss and turnover the risk engine counts, a warning at 80%
/// and a breach at 100%, once per level per account per (UTC) day however many sweeps run; a
/// breach reduces the account through the kill switch and never lowers an operator's HALT.
@Suite(.serialized) struct LimitAlertTests {
    @Test func warningAndBreachFireOncePerDayHoweverManySweepsRun() async throws {
        let h = try await LimitHarness()
        try h.limits(loss: "1000", turnover: nil)
        try h.lose("850")
        _ = try await h.sweep().sweep(now: h.now)
        _ = try await h.sweep().sweep(now: h.now)
        _ = try await h.sweepTwiceAtOnce(now: h.now)
        #expect(try h.notifications(kind: "limit_warning") == 1)
        #expect(try h.count("SELECT count(*) AS n FROM limit_alert_marks WHERE level = 'warning' AND limit_kind = 'daily_loss'") == 1)
        #expect(try h.notifications(kind: "limit_breach") == 0)
        let warning = try #require(try h.db.query("SELECT severity, priority, title, recipient_role, payload->>'used' AS used FROM notifications WHERE kind = 'limit_warning'").rows.first)
        #expect(try warning.decode("severity", as: String.self) == "warning" && warning.decode("recipient_role", as: String?.self) == nil)
        #expect(try warning.decode("used", as: String.self) == "850" && warning.decode("title", as: String.self).contains("85.0%"))
        #expect(try h.tradingState() == .active)

        let before = try await h.announced()
        try h.lose("150", minute: 10)
        _ = try await h.sweep().sweep(now: h.now)
        _ = try await h.sweep().sweep(now: h.now)
        _ = try await h.sweepTwiceAtOnce(now: h.now)
        #expect(try h.notifications(kind: "limit_breach") == 1)
        #expect(try h.notifications(kind: "limit_breach_admin") == 1)
        #expect(try h.notifications(kind: "limit_warning") == 1)
        #expect(try h.count("SELECT count(*) AS n FROM limit_alert_marks") == 2)
        let breach = try #require(try h.db.query("SELECT severity, priority FROM notifications WHERE kind = 'limit_breach'").rows.first)
        #expect(try breach.decode("severity", as: String.self) == "error" && breach.decode("priority", as: String.self) == "urgent")
        let admin = try #require(try h.db.query("SELECT user_id, recipient_role, to_json(channels)::text AS channels FROM notifications WHERE kind = 'limit_breach_admin'").rows.first)
        #expect(try admin.decode("recipient_role", as: String.self) == "admin" && admin.decode("user_id", as: UUID.self) == h.user)
        #expect(try admin.decode("channels", as: String.self) == #"["in_app","email","webhook","slack","push"]"#)
        // The breach reduces the account through the kill switch, once, recorded.
        #expect(try h.tradingState() == .reducing)
        #expect(try h.count("SELECT count(*) AS n FROM audit_log WHERE action = 'trading.reduce' AND actor = 'system:limit-alerts'") == 1)
        #expect(try await h.announced() > before)
        // Each notification announced once on the notifications queue: warning, breach, admin.
        #expect(try await h.queued() == 3)
        await h.cleanUp()
    }

    @Test func warningFiresAtExactlyEightyPercentAndNotJustUnder() async throws {
        let h = try await LimitHarness()
        try h.limits(loss: nil, turnover: "100000")
        try h.trade("buy", "1", at: "79999.99")
        #expect(try await h.sweep().sweep(now: h.now) == 0)
        #expect(try h.notifications(kind: "limit_warning") == 0)
        try h.trade("buy", "0.01", at: "1", minute: 1)
        #expect(try await h.sweep().sweep(now: h.now) == 1)
        #expect(try h.count("SELECT count(*) AS n FROM notifications WHERE kind = 'limit_warning' AND payload->>'limit' = 'daily_turnover'") == 1)
        #expect(try h.tradingState() == .active)
        // The turnover breach reduces too.
        try h.trade("buy", "1", at: "20000", minute: 2)
        #expect(try await h.sweep().sweep(now: h.now) == 1)
        #expect(try h.count("SELECT count(*) AS n FROM notifications WHERE kind = 'limit_breach' AND payload->>'limit' = 'daily_turnover'") == 1)
        #expect(try h.tradingState() == .reducing)
        await h.cleanUp()
    }

    @Test func aBreachLeavesAnOperatorsHaltInPlace() async throws {
        let h = try await LimitHarness()
        try h.limits(loss: "1000", turnover: nil)
        try TradingControls.set(h.db, scope: .account(h.account), state: .halted, reason: "operator stop", by: "operator:alice")
        try h.lose("1200")
        #expect(try await h.sweep().sweep(now: h.now) == 1)
        #expect(try h.tradingState() == .halted)
        #expect(try h.count("SELECT count(*) AS n FROM audit_log WHERE action = 'trading.reduce'") == 0)
        let body: String = try #require(try h.db.query("SELECT body FROM notifications WHERE kind = 'limit_breach'").rows.first).decode("body")
        #expect(body.contains("stays HALTED"), "\(body)")
        // A breach reached first marks the warning too, without alerting it.
        #expect(try h.notifications(kind: "limit_warning") == 0)
        #expect(try h.count("SELECT count(*) AS n FROM limit_alert_marks WHERE level = 'warning' AND notification_id IS NULL") == 1)
        await h.cleanUp()
    }

    @Test func aNewDayFiresAgain() async throws {
        let h = try await LimitHarness()
        try h.limits(loss: "1000", turnover: nil)
        try h.lose("900")
        #expect(try await h.sweep().sweep(now: h.now) == 1)
        let next = h.day.addingTimeInterval(86400)
        // Yesterday's loss does not count today.
        #expect(try await h.sweep().sweep(now: next.addingTimeInterval(3600)) == 0)
        try h.lose("900", on: next)
        #expect(try await h.sweep().sweep(now: next.addingTimeInterval(10 * 3600)) == 1)
        #expect(try h.notifications(kind: "limit_warning") == 2)
        #expect(try h.count("SELECT count(DISTINCT day) AS n FROM limit_alert_marks") == 2)
        await h.cleanUp()
    }
}
