import Foundation
import Testing
import TMCore
import TMOrders
import TMRisk

/// The risk book past its first hour of unreadable limits, and the words of `FUNDS_UNKNOWN` when
/// the funds were read but hold nothing in the instrument's currency.
@Suite(.serialized) struct RiskBookFallbackTests {
    @Test func anHourAfterTheLimitsBecameUnreadableOrdersAreHaltedUntilTheyCanBeReadAgain() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        try h.db.execute("ALTER TABLE trading_limits RENAME TO trading_limits_unreadable")
        let book = try h.book()
        #expect(book.underEmergencyLimits)
        // Polls keep failing for the hour and beyond: the emergency began at the first failure.
        #expect(try book.refreshLimits(h.db, now: h.now.addingTimeInterval(1800)) == false)
        let inTheHour = book.check(h.order(h.main, .buy, 1, at: 1500), orderID: UUID(), now: h.now.addingTimeInterval(3599))
        #expect(inTheHour.reason != .tradingHalted, "\(inTheHour)")
        let after = book.check(h.order(h.main, .buy, 1, at: 1500), orderID: UUID(), now: h.now.addingTimeInterval(3600))
        #expect(after.reason == .tradingHalted && after.underEmergencyLimits, "\(after)")
        #expect(after.denial?.message.contains("emergency limits expired") == true, "\(after)")

        // Readable again: the limits in the table decide again.
        try h.db.execute("ALTER TABLE trading_limits_unreadable RENAME TO trading_limits")
        #expect(try book.refreshLimits(h.db, now: h.now))
        #expect(book.check(h.order(h.main, .buy, 1, at: 1500), orderID: UUID(), now: h.now).passed)
    }

    @Test func fundsInAnotherCurrencyAreNamedNotCalledUnloaded() throws {
        let h = try RiskHarness()
        defer { h.cleanUp() }
        try h.db.execute("INSERT INTO instruments (exchange, symbol, lot_size, tick_size, tradable, currency) VALUES ('NASDAQ', 'AAPL', 1, 0.01, true, 'USD')")
        try h.db.execute("DELETE FROM account_funds WHERE account_id = \(h.second)")
        let book = try h.book()
        let usd = PlaceOrder(idempotencyKey: "k-usd", accountID: h.main, symbol: "AAPL", exchange: "NASDAQ", side: .buy, quantity: 1,
                             type: .limit, limitPrice: 190)
        let denied = book.check(usd, orderID: UUID(), now: h.now)
        #expect(denied.reason == .fundsUnknown)
        #expect(denied.denial?.message == "the account has no funds in USD, the instrument's currency (its funds are in INR)", "\(denied)")
        // No funds read at all: the engine's own words.
        let unread = book.check(h.order(h.second, .buy, 1, at: 1500), orderID: UUID(), now: h.now)
        #expect(unread.reason == .fundsUnknown && unread.denial?.message == RiskEngine.fundsNotLoaded, "\(unread)")
    }
}
