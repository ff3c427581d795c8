import Foundation
import Testing
import TMAlerts
import TMMarketData

/// The firing as one statement (`PriceAlertEvaluator.fireStatement`): only the alerts its
/// conditional UPDATE wins get a notification, and the notification's number is the row's.
@Suite(.serialized) struct PriceFireStatementTests {
    /// Another evaluator fired a repeat alert twice and it was re-armed: this evaluator's index
    /// still says no firing. Its hit fires nothing (the row is not at the count its notification would
    /// name), it re-reads the row, and its next hit is firing 3 with notification 3.
    @Test func aStaleFireCountFiresNothingAndTheNextFiringHasTheRowsNumber() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let symbol = h.symbol("CNT")
        let alert = try h.alert(symbol, "above", "100", cooldown: "10 minutes")
        let key = { (n: Int) in "price_alert:\(alert.uuidString.lowercased()):\(n)" }
        let a = h.evaluator(), b = h.evaluator()
        try await b.loadAll()
        #expect(try await a.evaluate([h.tick(symbol, "101")]).fired == 1)
        h.advance(11 * 60)
        #expect(try await a.evaluate([h.tick(symbol, "102")]).fired == 1)
        // Re-armed as the sweep does, its version bump not seen yet by b.
        try h.db.execute("UPDATE price_alerts SET state = 'active' WHERE id = \(alert)")
        #expect(try h.fireCount(alert) == 2)

        let stale = try await b.evaluate([h.tick(symbol, "103")])
        #expect(stale.hit == 1 && stale.fired == 0 && stale.notifications.isEmpty)
        #expect(try h.fireCount(alert) == 2 && h.state(alert) == "active")
        let next = try await b.evaluate([h.tick(symbol, "104")])
        #expect(next.fired == 1 && next.notifications.count == 1)
        #expect(try h.fireCount(alert) == 3)
        #expect(try h.notifications(alert) == [key(1), key(2), key(3)])
    }

    /// An alert cancelled behind the index's back (its version bump not seen yet) is hit but cannot
    /// fire: no notification is written for it.
    @Test func aHitThatCannotFireWritesNoNotification() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let symbol = h.symbol("CAN")
        let cancelled = try h.alert(symbol, "above", "100")
        let live = try h.alert(symbol, "above", "90")
        let evaluator = h.evaluator()
        try await evaluator.loadAll()
        try h.db.execute("UPDATE price_alerts SET state = 'cancelled' WHERE id = \(cancelled)")
        let report = try await evaluator.evaluate([h.tick(symbol, "101")])
        #expect(report.hit == 2 && report.fired == 1 && report.notifications.count == 1)
        #expect(try h.notifications(cancelled).isEmpty && h.state(cancelled) == "cancelled")
        #expect(try h.notifications(live) == ["price_alert:\(live.uuidString.lowercased()):1"])
    }
}
