import Foundation
import Testing
import TestSupport
import TMAlerts
import TMMarketData

/// Each condition at, just above and just below its threshold (one alert per case, each on its own
/// instrument, all evaluated in one batch), against the rows: fired once, or still active.
@Suite(.serialized) struct PriceConditionTests {
    /// (name, condition, threshold, previous price or close, the price, fires?)
    static let cases: [(String, String, String, String?, String, Bool)] = [
        ("AAT", "above", "100", nil, "100", true),
        ("AAB", "above", "100", nil, "100.000000001", true),
        ("ABE", "above", "100", nil, "99.999999999", false),
        ("BAT", "below", "100", nil, "100", true),
        ("BAB", "below", "100", nil, "100.000000001", false),
        ("BBE", "below", "100", nil, "99.999999999", true),
        // CHANGE_PERCENT 5 from a close of 200: |price / 200 − 1| × 100 ≥ 5, both ways.
        ("CUP", "change_percent", "5", "200", "210", true),
        ("CDN", "change_percent", "5", "200", "190", true),
        ("CUA", "change_percent", "5", "200", "210.000000001", true),
        ("CUB", "change_percent", "5", "200", "209.999999999", false),
        ("CDA", "change_percent", "5", "200", "190.000000001", false),
        ("CDB", "change_percent", "5", "200", "189.999999999", true),
        // cross_up 100: previous < 100 ≤ price.
        ("UAT", "cross_up", "100", "99", "100", true),
        ("UAB", "cross_up", "100", "99", "100.000000001", true),
        ("UBE", "cross_up", "100", "99", "99.999999999", false),
        ("UFR", "cross_up", "100", "100", "101", false),  // from the threshold itself: not from below
        // cross_down 100: previous > 100 ≥ price.
        ("DAT", "cross_down", "100", "101", "100", true),
        ("DAB", "cross_down", "100", "101", "100.000000001", false),
        ("DBE", "cross_down", "100", "101", "99.999999999", true),
        ("DFR", "cross_down", "100", "100", "99", false),
    ]

    @Test func eachConditionAtJustAboveAndJustBelowItsThreshold() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        var alerts: [String: UUID] = [:]
        for (name, condition, threshold, _, _, _) in Self.cases { alerts[name] = try h.alert(h.symbol(name), condition, threshold) }
        let evaluator = h.evaluator()
        // First the previous prices (crosses) and closes (CHANGE_PERCENT): nothing fires on them.
        let first = Self.cases.compactMap { name, condition, _, previous, _, _ -> PriceTick? in
            guard let previous else { return nil }
            return condition == "change_percent" ? h.tick(h.symbol(name), previous, previousClose: previous) : h.tick(h.symbol(name), previous)
        }
        #expect(try await evaluator.evaluate(first).fired == 0)
        let report = try await evaluator.evaluate(Self.cases.map { name, _, _, _, price, _ in h.tick(h.symbol(name), price) })
        #expect(report.fired == Self.cases.filter { $0.5 }.count)
        for (name, _, _, _, price, fires) in Self.cases {
            let id = alerts[name]!
            #expect(try h.state(id) == (fires ? "triggered" : "active"), "\(name) at \(price)")
            #expect(try h.notifications(id) == (fires ? ["price_alert:\(id.uuidString.lowercased()):1"] : []), "\(name) at \(price)")
        }
        let fired = try #require(try h.db.query("SELECT title, body, priority, severity, user_id FROM notifications WHERE payload->>'alert_id' = \(alerts["AAT"]!.uuidString.lowercased())").rows.first)
        #expect(try fired.decode("title", as: String.self) == "\(h.symbol("AAT")) at or above 100")
        #expect(try fired.decode("body", as: String.self).contains("is at 100"))
        #expect(try fired.decode("priority", as: String.self) == "high" && fired.decode("severity", as: String?.self) == nil)
        #expect(try fired.decode("user_id", as: UUID.self) == h.user)
    }

    /// Crosses follow the batch's ticks in order; levels look at each instrument's latest price only.
    @Test func crossesFollowTheSequenceAndLevelsTheLatestPrice() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let up = try h.alert(h.symbol("SEQ"), "cross_up", "100")
        let down = try h.alert(h.symbol("SEQ"), "cross_down", "100")
        let above = try h.alert(h.symbol("LVL"), "above", "100")
        let evaluator = h.evaluator()
        _ = try await evaluator.evaluate([h.tick(h.symbol("SEQ"), "99")])
        // Up through 100 and back below within one batch: both crosses happened.
        _ = try await evaluator.evaluate([h.tick(h.symbol("SEQ"), "101"), h.tick(h.symbol("SEQ"), "98"),
                                          h.tick(h.symbol("LVL"), "101"), h.tick(h.symbol("LVL"), "99")])
        #expect(try h.fireCount(up) == 1 && h.fireCount(down) == 1)
        #expect(try h.fireCount(above) == 0, "the latest price, 99, is below the threshold")
        let prices = try h.db.query("SELECT condition, triggered_price::text AS p FROM price_alerts WHERE id IN (\(up), \(down))").rows
            .map { (try $0.decode("condition", as: String.self), try $0.decode("p", as: String.self)) }
        #expect(Dictionary(uniqueKeysWithValues: prices) == ["cross_up": "101", "cross_down": "98"])
    }

    /// A new evaluator judges a cross from the stored last seen price; one that sees a fall below
    /// the threshold without firing stores it, so the next evaluator sees the rise as a cross.
    @Test func crossesAreJudgedFromTheStoredLastSeenPrice() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let seeded = try h.alert(h.symbol("SDD"), "cross_up", "100", lastSeen: "99")
        let above = try h.alert(h.symbol("RST"), "cross_up", "100", lastSeen: "101")
        let first = h.evaluator()
        _ = try await first.evaluate([h.tick(h.symbol("SDD"), "100"), h.tick(h.symbol("RST"), "99")])
        #expect(try h.fireCount(seeded) == 1)
        #expect(try h.fireCount(above) == 0)
        #expect(try h.db.query("SELECT last_seen_price::text AS p FROM price_alerts WHERE id = \(above)").rows[0].decode("p", as: String.self) == "99")
        // A restarted evaluator (nothing in memory) sees the rise from 99 as a cross.
        _ = try await h.evaluator().evaluate([h.tick(h.symbol("RST"), "100.5")])
        #expect(try h.fireCount(above) == 1)
    }
}
