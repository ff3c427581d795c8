import Foundation
import Testing
import TestSupport
import TMAlerts
import TMPostgres

/// The firing writes, in the one statement that fires (`PriceFiring`), the notification of each row it
/// fired and of no other, numbered by that row's new fire count.
@Suite(.serialized) struct PriceFiringRowTests {
    /// What the notifications table holds for one alert, oldest first.
    struct Row: Equatable {
        var id: UUID
        var kind: String
        var title: String
        var body: String
        var priority: String
        var dedupKey: String
    }

    func rows(_ h: PriceHarness, _ alert: UUID) throws -> [Row] {
        try h.db.query("""
            SELECT id, kind, title, body, priority, dedup_key FROM notifications
            WHERE payload->>'alert_id' = \(alert.uuidString.lowercased()) ORDER BY dedup_key
            """).rows.map {
            Row(id: try $0.decode("id"), kind: try $0.decode("kind"), title: try $0.decode("title"), body: try $0.decode("body"),
                priority: try $0.decode("priority"), dedupKey: try $0.decode("dedup_key"))
        }
    }

    /// Whether the stored payload (jsonb) equals `json`.
    func payload(_ h: PriceHarness, _ dedupKey: String, is json: String) throws -> Bool {
        try h.db.query("SELECT payload = \(json)::jsonb AS same FROM notifications WHERE dedup_key = \(dedupKey)").rows.first?.decode("same") ?? false
    }

    /// A repeat alert with a note fires twice (re-armed after its cooldown): each notification says its
    /// number in the body, the payload and the dedup key; a one-shot CHANGE_PERCENT alert fired in the
    /// same batch gets its own, with the previous close. The batch's report names the rows written.
    @Test func eachFiringWritesItsOwnNumberedNotification() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let rep = h.symbol("REP"), pct = h.symbol("PCT")
        let repeating = try h.alert(rep, "above", "100", cooldown: "10 minutes")
        try h.db.execute("UPDATE price_alerts SET note = 'take profit, \"half\"' WHERE id = \(repeating)")
        let moved = try h.alert(pct, "change_percent", "5")
        let evaluator = h.evaluator()
        let key = repeating.uuidString.lowercased(), movedKey = moved.uuidString.lowercased()

        let first = try await evaluator.evaluate([h.tick(rep, "101"), h.tick(pct, "106", previousClose: "100")])
        #expect(first.fired == 2)
        h.advance(11 * 60)
        let second = try await evaluator.evaluate([h.tick(rep, "102.5")])
        #expect(second.fired == 1)

        let fired = try rows(h, repeating)
        #expect(fired.map(\.dedupKey) == ["price_alert:\(key):1", "price_alert:\(key):2"])
        #expect(fired.map(\.body) == [
            "\(rep) (NSE) is at 101: your alert for at or above 100 fired (firing 1); it re-arms after its cooldown. Note: take profit, \"half\"",
            "\(rep) (NSE) is at 102.5: your alert for at or above 100 fired (firing 2); it re-arms after its cooldown. Note: take profit, \"half\"",
        ])
        #expect(fired.allSatisfy { $0.title == "\(rep) at or above 100" && $0.kind == "price_alert" && $0.priority == "high" })
        #expect(try payload(h, "price_alert:\(key):2", is: """
            {"alert_id": "\(key)", "symbol": "\(rep)", "exchange": "NSE", "condition": "above", "threshold": "100", "price": "102.5", "fire_count": 2}
            """))
        let once = try rows(h, moved)
        #expect(once.map(\.dedupKey) == ["price_alert:\(movedKey):1"])
        #expect(once.map(\.body) == ["\(pct) (NSE) is at 106: your alert for moved 5% or more from the previous close fired (previous close 100)."])
        #expect(try payload(h, "price_alert:\(movedKey):1", is: """
            {"alert_id": "\(movedKey)", "symbol": "\(pct)", "exchange": "NSE", "condition": "change_percent", "threshold": "5", "price": "106",
             "previous_close": "100", "fire_count": 1}
            """))
        try #require(fired.count == 2 && once.count == 1)
        #expect(Set(first.notifications) == Set([fired[0].id, once[0].id]))
        #expect(second.notifications == [fired[1].id])
    }

    /// A batch hits two alerts; one was cancelled behind the evaluator's back, so the update fires only
    /// the other: only the fired one gets a notification, and the report counts one firing.
    @Test func aHitTheUpdateDoesNotFireWritesNoNotification() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let symbol = h.symbol("MIX")
        let live = try h.alert(symbol, "above", "100")
        let cancelled = try h.alert(symbol, "above", "99")
        let evaluator = h.evaluator()
        try await evaluator.loadAll()
        try h.db.execute("UPDATE price_alerts SET state = 'cancelled' WHERE id = \(cancelled)")

        let report = try await evaluator.evaluate([h.tick(symbol, "101")])
        #expect(report.hit == 2 && report.fired == 1)
        #expect(try h.notifications(live) == ["price_alert:\(live.uuidString.lowercased()):1"])
        #expect(try h.notifications(cancelled) == [])
        #expect(try h.state(cancelled) == "cancelled" && h.fireCount(cancelled) == 0)
        #expect(report.notifications == (try rows(h, live)).map(\.id))
    }
}
