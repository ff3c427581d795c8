import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders

/// The stored risk decision's `checked_at` is an instant: ISO 8601 with its zone, like every other
/// time the views print (before session 20 it was written without one: `2026-12-06T02:05:30.972`).
@Suite(.serialized) struct RiskDecisionTimeTests {
    @Test
    func theRiskDecisionsCheckTimeCarriesItsZone() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let result = try await h.placer().handle(h.place(.kite, key: "checked-at"), fences: PlacementHarness.delivery())
        #expect(result.state == .accepted, "\(result.text)")
        let checkedAt: String? = try h.db.query("""
            SELECT risk_decision ->> 'checked_at' AS checked_at FROM orders WHERE idempotency_key = 'checked-at'
            """).rows.first?.decode("checked_at")
        let text = try #require(checkedAt)
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        #expect(parser.date(from: text) != nil, "checked_at '\(text)' is not an instant with a zone")
    }
}
