import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders

/// A look-up refused at admission (its broker's circuit open) asked nothing: the UNKNOWN order's
/// next look-up waits for the refusal's end instead of the sweep refusing itself every second, and
/// a cancel that went out before such a refusal is a counted attempt, never a deferral.
@Suite(.serialized) struct RefusedLookUpTests {
    @Test func aRefusedLookUpPutsTheNextLookUpAfterTheRefusalEnds() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try await h.redis.send("DEL", CircuitDeferralTests.kiteBreaker)
        let placer = h.placer(timeout: .seconds(1), resendAfter: .seconds(30))
        // Executed, its answer dropped: UNKNOWN, first look-up due a second later.
        try h.fault(#"{"broker":"kite","endpoint":"POST /orders/regular","drop_rate":1,"count":1}"#)
        let key = "refused-look-up"
        let message = UUID().uuidString
        await #expect(throws: PlacementPending.self) { try await placer.handle(h.place(.kite, key: key), fences: CircuitDeferralTests.delivery(message, epoch: 1)) }
        #expect(try h.state(key: key) == "UNKNOWN")
        try await CircuitDeferralTests.openKiteCircuit(h.redis)
        let refusedAt = Date()
        await #expect(throws: PlacementDeferred.self) { try await placer.handle(h.place(.kite, key: key), fences: CircuitDeferralTests.delivery(message, epoch: 2)) }
        try await h.redis.send("DEL", CircuitDeferralTests.kiteBreaker)
        let next: Date = try h.db.query("SELECT next_lookup_at FROM orders WHERE idempotency_key = \(key)").rows[0].decode("next_lookup_at")
        // Kite's cooldown is 15 s; the look-up backoff alone would say 1 s.
        #expect(next >= refusedAt.addingTimeInterval(10), "next look-up \(next), refused at \(refusedAt)")
    }

    @Test func aCancelSentBeforeItsLookUpWasRefusedIsCountedNotDeferred() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try await h.redis.send("DEL", CircuitDeferralTests.kiteBreaker)
        let placer = h.placer()
        let key = "cancel-refused-look-up"
        let placed = try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
        #expect(placed.state == .accepted, "\(placed.text)")
        let orderID = try #require(placed.orderID)
        try await CircuitDeferralTests.openKiteCircuit(h.redis)
        await #expect(throws: PlacementPending.self) {
            try await placer.handle(h.cancel(.kite, order: orderID), fences: PlacementHarness.delivery())
        }
        try await h.redis.send("DEL", CircuitDeferralTests.kiteBreaker)
    }
}
