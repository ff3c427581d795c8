import Foundation
import Testing
import TestSupport
import TMAlerts
import TMMarketData

/// Firing exactly once across evaluators, repeats after a cooldown, expiry.
@Suite(.serialized) struct PriceFiringTests {
    /// Two evaluators, each with its own index holding the alert, evaluate 20 ticks that all hit it,
    /// concurrently: one firing (fire count 1), one notification. The effect could be counted twice:
    /// each firing increments the count and writes a notification under a key of its own.
    @Test func oneAlertHitByTwentyConcurrentTicksInTwoEvaluatorsFiresOnce() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let symbol = h.symbol("RACE")
        let alert = try h.alert(symbol, "above", "100")
        let evaluators = [h.evaluator(), h.evaluator()]
        for evaluator in evaluators { try await evaluator.loadAll() }
        #expect(evaluators.allSatisfy { $0.alertCount == 1 })
        let ticks = (0..<20).map { h.tick(symbol, "\(101 + $0)") }
        let fired = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, tick) in ticks.enumerated() {
                group.addTask { try await evaluators[index % 2].evaluate([tick]).fired }
            }
            return try await group.reduce(0, +)
        }
        #expect(fired == 1)
        #expect(try h.fireCount(alert) == 1)
        #expect(try h.notifications(alert) == ["price_alert:\(alert.uuidString.lowercased()):1"])
        #expect(try h.state(alert) == "triggered")
        // Both indexes let the alert go: the loser learned it from its failed update.
        #expect(evaluators.allSatisfy { $0.alertCount == 0 })
    }

    /// A repeat alert re-arms once its cooldown has passed (injected clock), not before; an alert
    /// without repeat never fires twice.
    @Test func aRepeatAlertReArmsAfterItsCooldownAndAOneShotNeverFiresTwice() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let repeating = try h.alert(h.symbol("REP"), "above", "100", cooldown: "10 minutes")
        let once = try h.alert(h.symbol("ONE"), "above", "100")
        let evaluator = h.evaluator()
        let sweep = PriceAlertSweep(evaluator: evaluator)
        func both(_ price: String) async throws { _ = try await evaluator.evaluate([h.tick(h.symbol("REP"), price), h.tick(h.symbol("ONE"), price)]) }

        try await both("101")
        #expect(try h.fireCount(repeating) == 1 && h.fireCount(once) == 1)
        h.advance(5 * 60)
        try await both("102")
        #expect(try h.fireCount(repeating) == 1, "inside the cooldown")
        #expect(try await sweep.run(now: evaluator.now).rearmed == 0)
        #expect(try h.state(repeating) == "triggered", "the sweep does not re-arm inside the cooldown")
        h.advance(6 * 60)
        try await both("103")
        #expect(try h.fireCount(repeating) == 2, "re-armed after 10 minutes")
        #expect(try h.notifications(repeating) == ["price_alert:\(repeating.uuidString.lowercased()):1", "price_alert:\(repeating.uuidString.lowercased()):2"])
        #expect(try h.fireCount(once) == 1 && h.notifications(once).count == 1)
        // The sweep re-arms a repeat alert whose cooldown passed (state back to active), never a one-shot.
        h.advance(11 * 60)
        #expect(try await sweep.run(now: evaluator.now).rearmed == 1)
        #expect(try h.state(repeating) == "active" && h.state(once) == "triggered")
        try await both("104")
        #expect(try h.fireCount(repeating) == 3 && h.fireCount(once) == 1)
    }

    /// An alert that expires while in the evaluator's memory does not fire; the sweep marks it expired.
    @Test func anExpiredAlertDoesNotFireAndTheSweepMarksIt() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let symbol = h.symbol("EXP")
        let alert = try h.alert(symbol, "above", "100", expiresAt: h.clock.current.addingTimeInterval(60))
        let evaluator = h.evaluator()
        try await evaluator.loadAll()
        #expect(evaluator.alertCount == 1)
        h.advance(120)
        #expect(try await evaluator.evaluate([h.tick(symbol, "101")]).fired == 0)
        #expect(try h.fireCount(alert) == 0 && h.notifications(alert).isEmpty)
        #expect(try h.state(alert) == "active")
        let pass = try await PriceAlertSweep(evaluator: evaluator).run(now: evaluator.now)
        #expect(pass.expired == 1)
        let row = try h.db.query("SELECT state, expired_at FROM price_alerts WHERE id = \(alert)").rows[0]
        #expect(try row.decode("state", as: String.self) == "expired" && row.decode("expired_at", as: Date?.self) != nil)
        #expect(try await evaluator.evaluate([h.tick(symbol, "102")]).fired == 0)
        #expect(try h.fireCount(alert) == 0)
    }

    /// A batch whose transaction fails is retried without losing its cross: the evaluator judges
    /// the cross alerts of its instruments again from their stored last seen prices.
    @Test func aFailedBatchLosesNoCrossWhenRetried() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let symbol = h.symbol("RETRY")
        let alert = try h.alert(symbol, "cross_up", "100", lastSeen: "99")
        let evaluator = h.evaluator()
        _ = try await evaluator.evaluate([h.tick(symbol, "99.5")])
        // The firing's notification cannot be written: the whole transaction rolls back.
        try h.db.execute("ALTER TABLE notifications ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        let batch = [h.tick(symbol, "101")]
        await #expect(throws: (any Error).self) { try await evaluator.evaluate(batch) }
        #expect(try h.fireCount(alert) == 0)
        try h.db.execute("ALTER TABLE notifications DROP CONSTRAINT refuse_all")
        #expect(try await evaluator.evaluate(batch).fired == 1, "the redelivered batch still crosses")
        #expect(try h.fireCount(alert) == 1 && h.notifications(alert).count == 1)
    }

    /// The sweep fires an alert from the price cache when no tick reached the evaluator.
    @Test func theSweepFiresFromThePriceCacheWithoutATick() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let symbol = h.symbol("CACHE")
        let alert = try h.alert(symbol, "below", "50")
        let evaluator = h.evaluator()
        let nowMs = Int64(h.clock.current.timeIntervalSince1970 * 1000)
        try await PriceCache(redis: h.redis).store(PriceTick(symbol: symbol, exchange: h.exchange, price: 49, source: "kite", atMs: nowMs), ttl: .seconds(60))
        let pass = try await PriceAlertSweep(evaluator: evaluator).run(now: evaluator.now)
        #expect(pass.fired == 1)
        #expect(try h.fireCount(alert) == 1 && h.notifications(alert).count == 1)
    }
}
