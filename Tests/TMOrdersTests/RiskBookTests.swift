import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMPostgres
import TMRisk

/// The resident risk state against the real database: the kill switch (global and per account)
/// picked up by `refreshLimits`, limits changes, the emergency limits when none can be read, stale
/// positions, reservations rebuilt from order rows after a restart, fills and releases.
@Suite(.serialized) struct RiskBookTests {
    let op = "operator:test"

    @Test func aGlobalHaltDeniesNewOrdersOnceRefreshedAndResumeLetsThemThroughAgain() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        let book = try h.book()
        #expect(book.check(h.order(h.main, .buy, 1), orderID: UUID(), now: h.now).passed)
        #expect(try book.refreshLimits(h.db, now: h.now) == false)

        let change = try TradingControls.set(h.db, scope: .global, state: .halted, reason: "exchange outage", by: op)
        #expect(change.previous == .active && change.state == .halted)
        #expect(try book.refreshLimits(h.db, now: h.now) == true)
        #expect(book.check(h.order(h.main, .buy, 1), orderID: UUID(), now: h.now).reason == .tradingHalted)
        // Every account, and reducing orders too: only cancels pass a halt.
        #expect(book.check(h.order(h.second, .buy, 1), orderID: UUID(), now: h.now).reason == .tradingHalted)
        #expect(book.check(h.order(h.main, .sell, 10), orderID: UUID(), now: h.now).reason == .tradingHalted)
        // A worker started during the halt loads it.
        #expect(try h.book().check(h.order(h.second, .buy, 1), orderID: UUID(), now: h.now).reason == .tradingHalted)

        let row = try h.db.query("SELECT trading_state, state_reason, state_by, state_at IS NOT NULL AS at FROM platform_trading_controls").rows[0]
        #expect(try row.decode("trading_state", as: String.self) == "halted" && row.decode("state_reason", as: String.self) == "exchange outage")
        #expect(try row.decode("state_by", as: String.self) == op && row.decode("at", as: Bool.self))
        let audit = try h.db.query("SELECT actor, action, entity_id FROM audit_log ORDER BY id").rows
        #expect(try audit.map { try $0.decode("action", as: String.self) } == ["trading.halt"])
        #expect(try audit[0].decode("entity_id", as: String.self) == "global" && audit[0].decode("actor", as: String.self) == op)

        try TradingControls.set(h.db, scope: .global, state: .active, reason: nil, by: op)
        #expect(try book.refreshLimits(h.db, now: h.now) == true)
        #expect(book.check(h.order(h.main, .buy, 2), orderID: UUID(), now: h.now).passed)
    }

    @Test func anAccountHaltDeniesThatAccountOnlyAndEngagesItsKillSwitch() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        let book = try h.book()
        try TradingControls.set(h.db, scope: .account(h.main), state: .halted, reason: "margin call", by: op)
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.check(h.order(h.main, .buy, 1), orderID: UUID(), now: h.now).reason == .tradingHalted)
        #expect(book.check(h.order(h.second, .buy, 1), orderID: UUID(), now: h.now).passed)
        let halted = try h.db.query("SELECT kill_switch, kill_switch_reason, trading_state FROM trading_limits WHERE account_id = \(h.main)").rows[0]
        #expect(try halted.decode("kill_switch", as: Bool.self) && halted.decode("kill_switch_reason", as: String.self) == "margin call")

        let resumed = try TradingControls.set(h.db, scope: .account(h.main), state: .active, reason: "margin restored", by: op)
        #expect(resumed.previous == .halted)
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.check(h.order(h.main, .buy, 1), orderID: UUID(), now: h.now).passed)
        let row = try h.db.query("SELECT kill_switch, kill_switch_reason, state_reason FROM trading_limits WHERE account_id = \(h.main)").rows[0]
        // Released, with the record of its last engagement kept.
        #expect(try !row.decode("kill_switch", as: Bool.self) && row.decode("kill_switch_reason", as: String.self) == "margin call")
        #expect(try row.decode("state_reason", as: String.self) == "margin restored")
    }

    @Test func aStateAppliedInProcessTakesEffectBeforeThePollAndThePollKeepsIt() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        let book = try h.book()
        try TradingControls.set(h.db, scope: .account(h.second), state: .halted, reason: "limit alert", by: "worker:order-worker")
        book.apply(.halted, to: .account(h.second), now: h.now)
        #expect(book.check(h.order(h.second, .buy, 1), orderID: UUID(), now: h.now).reason == .tradingHalted)
        #expect(book.check(h.order(h.main, .buy, 1), orderID: UUID(), now: h.now).passed)
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.check(h.order(h.second, .buy, 1), orderID: UUID(), now: h.now).reason == .tradingHalted)
    }

    @Test func reducingPassesOnlyOrdersThatReduceAPosition() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        let book = try h.book()
        try TradingControls.set(h.db, scope: .account(h.main), state: .reducing, reason: "wind down", by: op)
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.check(h.order(h.main, .buy, 1), orderID: UUID(), now: h.now).reason == .reduceOnlyWouldIncreasePosition)
        #expect(book.check(h.order(h.main, .sell, 150), orderID: UUID(), now: h.now).reason == .reduceOnlyWouldIncreasePosition)
        #expect(book.check(h.order(h.main, .sell, 60), orderID: UUID(), now: h.now).passed)
        // With that sell working, another 60 would take the position past zero.
        #expect(book.check(h.order(h.main, .sell, 60, at: 1500.05), orderID: UUID(), now: h.now).reason == .reduceOnlyWouldIncreasePosition)
        #expect(book.check(h.order(h.main, .sell, 40, at: 1500.05), orderID: UUID(), now: h.now).passed)
        // The flat account has nothing to reduce.
        #expect(book.check(h.order(h.second, .buy, 1), orderID: UUID(), now: h.now).passed)
    }

    @Test func aChangedLimitAppliesAfterRefreshAndNothingChangedReportsNoChange() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        let book = try h.book()
        #expect(book.check(h.order(h.main, .buy, 20), orderID: UUID(), now: h.now).passed)

        // The user's row: every account of the user.
        try h.db.execute("INSERT INTO trading_limits (user_id, max_order_quantity) VALUES (\(h.user), 10)")
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.check(h.order(h.second, .buy, 11), orderID: UUID(), now: h.now).reason == .quantityExceedsMaximum)
        #expect(book.check(h.order(h.second, .buy, 10), orderID: UUID(), now: h.now).passed)
        #expect(try book.refreshLimits(h.db, now: h.now) == false)
        #expect(try book.refreshLimits(h.db, now: h.now) == false)

        // An account's stricter row applies to it alone.
        try h.db.execute("INSERT INTO trading_limits (user_id, account_id, max_order_quantity) VALUES (\(h.user), \(h.main), 5)")
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.check(h.order(h.main, .buy, 6), orderID: UUID(), now: h.now).reason == .quantityExceedsMaximum)
        #expect(book.check(h.order(h.second, .buy, 6), orderID: UUID(), now: h.now).passed)

        // A platform default fills in what the rows leave open.
        try h.db.execute("UPDATE platform_trading_controls SET max_order_notional = 3000")
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.check(h.order(h.second, .buy, 3, at: 1000.05), orderID: UUID(), now: h.now).reason == .notionalExceedsMaxPerOrder)

        // Rows removed: the limits they set are gone.
        try h.db.execute("DELETE FROM trading_limits")
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.check(h.order(h.main, .buy, 2, at: 1400), orderID: UUID(), now: h.now).passed)
    }

    @Test func theEmergencyLimitsApplyWhenTradingLimitsCannotBeRead() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        try h.db.execute("ALTER TABLE trading_limits RENAME TO trading_limits_unreadable")
        let book = try h.book()
        #expect(book.underEmergencyLimits)
        let limits = try #require(book.limits(account: h.main))
        #expect(limits.maxOrderNotional == 2000 && limits.dailyTurnoverLimit == 10000 && limits.emergencyUntil == h.now.addingTimeInterval(3600))
        let big = book.check(h.order(h.main, .buy, 2, at: 1000.05), orderID: UUID(), now: h.now)
        #expect(big.reason == .notionalExceedsMaxPerOrder && big.underEmergencyLimits)
        #expect(big.denial?.message.contains("emergency limits") == true)
        let small = book.check(h.order(h.main, .buy, 1, at: 1500), orderID: UUID(), now: h.now)
        #expect(small.passed && small.underEmergencyLimits)

        // Readable again: the next poll leaves the emergency, whatever the version says.
        try h.db.execute("ALTER TABLE trading_limits_unreadable RENAME TO trading_limits")
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(!book.underEmergencyLimits)
        let after = book.check(h.order(h.main, .buy, 2, at: 1000.05), orderID: UUID(), now: h.now)
        #expect(after.passed && !after.underEmergencyLimits)
    }

    @Test func aHaltSurvivesLimitsThatCannotBeReadAndPollingFailuresAreTheEmergency() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        try TradingControls.set(h.db, scope: .global, state: .halted, reason: "drill", by: op)
        let book = try h.book()
        try h.db.execute("ALTER TABLE trading_controls_version RENAME TO trading_controls_version_gone")
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.underEmergencyLimits)
        let check = book.check(h.order(h.second, .buy, 1), orderID: UUID(), now: h.now)
        #expect(check.reason == .tradingHalted && check.underEmergencyLimits)
        // Still failing: no change to report.
        #expect(try book.refreshLimits(h.db, now: h.now) == false)
    }

    @Test func positionsOlderThanTenMinutesDenyWithARetryTime() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        let stale = h.syncedAt.addingTimeInterval(601)
        let book = try h.book(now: stale)
        let check = book.check(h.order(h.main, .buy, 1), orderID: UUID(), now: stale)
        #expect(check.reason == .positionsStale && check.denial?.retryAfter != nil)
        #expect(book.check(h.order(h.main, .buy, 1), orderID: UUID(), now: h.syncedAt.addingTimeInterval(599)).passed)

        // Never synced: no positions to trust at all.
        try h.db.execute("UPDATE broker_accounts SET last_sync_at = NULL WHERE id = \(h.second)")
        try book.load(h.db, accounts: [h.second], now: h.now)
        #expect(book.check(h.order(h.second, .buy, 1), orderID: UUID(), now: h.now).reason == .positionsStale)
    }

    @Test func reservationsAreRebuiltFromOpenOrderRowsAfterARestart() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        try h.db.execute("INSERT INTO trading_limits (user_id, account_id, daily_turnover_limit) VALUES (\(h.user), \(h.second), 100000)")
        // Today: 10 bought at 1500 (15,000). Yesterday's fill does not count.
        try h.insertTrade(h.second, quantity: 10, price: "1500", at: h.syncedAt.addingTimeInterval(-3600))
        try h.insertTrade(h.second, quantity: 50, price: "1500", at: h.syncedAt.addingTimeInterval(-86400))
        // Open: 20 sent after the funds were read (holds buying power), 10 left of a partly filled
        // order sent before (the broker's figure has it), 10 routed and not yet sent (holds it).
        try h.insertOrder(h.second, state: "ACCEPTED", quantity: 20, submittedAt: h.syncedAt.addingTimeInterval(10))
        try h.insertOrder(h.second, state: "PARTIALLY_FILLED", quantity: 20, filled: 10, submittedAt: h.syncedAt.addingTimeInterval(-10))
        try h.insertOrder(h.second, state: "ROUTED", quantity: 10)
        // Not reserving: not yet checked, or finished.
        try h.insertOrder(h.second, state: "RECEIVED", quantity: 100)
        try h.insertOrder(h.second, state: "CANCELLED", quantity: 100)
        try h.insertOrder(h.second, state: "REJECTED", quantity: 100)

        let book = try h.book()
        let risk = try #require(book.accountRisk(h.second))
        #expect(risk.turnoverReserved == 60000 && risk.turnoverFilled == 15000)
        #expect(risk.buyingPowerReserved == 45000 && risk.workingOrders.count == 3)
        // 75,000 used: 25,500 more would pass the 100,000, 24,000 does not.
        #expect(book.check(h.order(h.second, .buy, 17), orderID: UUID(), now: h.now).reason == .dailyTurnoverLimitExceeded)
        #expect(book.check(h.order(h.second, .buy, 16), orderID: UUID(), now: h.now).passed)
    }

    @Test func fillsConfirmTheReservationAndReleaseFreesIt() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        try h.db.execute("INSERT INTO trading_limits (user_id, account_id, daily_turnover_limit, daily_loss_limit) VALUES (\(h.user), \(h.second), 20000, 500)")
        let book = try h.book()
        let id = UUID()
        #expect(book.check(h.order(h.second, .buy, 10), orderID: id, now: h.now).passed)
        #expect(book.check(h.order(h.second, .buy, 4, at: 1400), orderID: UUID(), now: h.now).reason == .dailyTurnoverLimitExceeded)

        book.fill(orderID: id, account: h.second, symbol: "INFY", exchange: "NSE", side: .buy, quantity: 4, price: FixedDecimal("1499.95")!)
        var risk = try #require(book.accountRisk(h.second))
        #expect(risk.turnoverReserved == 9000 && risk.turnoverFilled == FixedDecimal("5999.8")!)
        #expect(risk.position(InstrumentKey(symbol: "INFY", exchange: "NSE")) == 4)

        book.release(orderID: id, account: h.second)
        risk = try #require(book.accountRisk(h.second))
        #expect(risk.turnoverReserved == 0 && risk.turnoverFilled == FixedDecimal("5999.8")!)
        #expect(book.check(h.order(h.second, .buy, 4, at: 1400), orderID: UUID(), now: h.now).passed)
    }

    @Test func todaysLossFromFillsAtTheLastPriceStopsOrdersThatAddExposure() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        try h.db.execute("INSERT INTO trading_limits (user_id, account_id, daily_loss_limit) VALUES (\(h.user), \(h.second), 1000)")
        try h.insertTrade(h.second, quantity: 10, price: "1500", at: h.syncedAt.addingTimeInterval(-60))
        let book = try h.book()
        #expect(book.check(h.order(h.second, .buy, 1), orderID: UUID(), now: h.now).passed)
        book.setLastPrice(1400, symbol: "INFY", exchange: "NSE")
        #expect(book.check(h.order(h.second, .buy, 1, at: 1400), orderID: UUID(), now: h.now).reason == .dailyLossLimitReached)
        // The market price outlives a reload of the rows.
        try book.load(h.db, accounts: [h.second], now: h.now)
        #expect(book.check(h.order(h.second, .buy, 1, at: 1400), orderID: UUID(), now: h.now).reason == .dailyLossLimitReached)
    }
}
