import Foundation
import Testing
import TestSupport
import TMCore
import TMNotify

/// Trade confirmations from trade-events: once per fill, only for users who asked.
@Suite(.serialized) struct TradeConfirmationTests {
    func event(_ user: UUID, trade: UUID, event: String = "trade.created") -> String {
        """
        {"event":"\(event)","account_id":"\(UUID().uuidString.lowercased())","user_id":"\(user.uuidString.lowercased())",\
        "trade_id":"\(trade.uuidString.lowercased())","broker_trade_id":"T-1","broker_order_id":"O-1","symbol":"INFY","side":"buy",\
        "quantity":"10","price":"1501.20","fee":"2.50","executed_at":"2026-12-05T04:00:00Z","revision":"r1"}
        """
    }

    @Test func aFillIsConfirmedOnceAndOnlyWhenTheUserAskedForIt() async throws {
        let h = try NotifierHarness()
        let confirmations = TradeConfirmations(pool: h.pool, producer: nil)
        let trade = UUID()
        // No preference for trade confirmations (a '*' row does not count): nothing.
        try NotificationChannels.setPreference(h.db, userID: h.user, kind: "*", channels: [.inApp, .email])
        #expect(try await confirmations.handle(event(h.user, trade: trade)) == .notAsked)

        try NotificationChannels.setPreference(h.db, userID: h.user, kind: "trade_confirmation", channels: [.inApp, .webhook])
        guard case .notified(let id) = try await confirmations.handle(event(h.user, trade: trade)) else {
            Issue.record("a fill of a user who asked must be confirmed"); return
        }
        // The same event again (a redelivery, a second publication): no second notification.
        #expect(try await confirmations.handle(event(h.user, trade: trade)) == .duplicate)
        // An update of the trade, or the order path's state change, is not a fill.
        #expect(try await confirmations.handle(event(h.user, trade: trade, event: "trade.updated")) == .notAFill("trade.updated"))
        let rows = try h.db.query("SELECT id, title, kind FROM notifications WHERE user_id = \(h.user)").rows
        #expect(rows.count == 1)
        #expect(try rows[0].decode("title", as: String.self) == "Bought 10 INFY at 1501.20")
        // Delivered on the channels the preference names.
        try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader", secret: NotifierHarness.webhookSecret)
        try await h.notifier().deliver(id)
        #expect(try h.deliveries(id).map(\.channel) == ["in_app", "webhook"] && h.webhook.accepted.count == 1)
    }
}
