import Foundation
import TMMarketData
import TMPostgres

/// The price alerts' part of the minute's `alerts-sweep`: marks alerts past `expires_at` expired,
/// re-arms repeat alerts whose cooldown has passed (both conditional updates, safe to race or
/// repeat; evaluators are told through the version counter), then evaluates the alerts in memory
/// against the price cache, so an alert whose price moved without a tick reaching the evaluator
/// (a dropped or dead-lettered tick, a price written by another feed) still fires.
public struct PriceAlertSweep: AlertSweep {
    public let evaluator: PriceAlertEvaluator
    public var name: String { "price" }

    public init(evaluator: PriceAlertEvaluator) { self.evaluator = evaluator }

    public struct Pass: Sendable, Equatable {
        public var expired = 0
        public var rearmed = 0
        public var fired = 0
    }

    public func sweep(now: Date) async throws -> Int {
        let pass = try await run(now: now)
        return pass.expired + pass.rearmed + pass.fired
    }

    public func run(now: Date) async throws -> Pass {
        var pass = Pass()
        (pass.expired, pass.rearmed) = try await evaluator.pool.transaction { db -> (Int, Int) in
            let expired = try db.query("""
                UPDATE price_alerts a SET state = 'expired', expired_at = \(now) WHERE \(fragment: PriceAlertRules.expirable(now: now)) RETURNING a.id
                """).rows.count
            return (expired, try PriceAlertRules.rearm(db, ids: nil, now: now).count)
        }
        if pass.expired + pass.rearmed > 0 { try await PriceAlerts.announce(evaluator.redis, key: evaluator.settings.versionKey) }
        try await evaluator.refreshIfNeeded()
        let instruments = evaluator.instruments
        let nowMs = Int64((now.timeIntervalSince1970 * 1000).rounded())
        let cached = try await PriceCache(redis: evaluator.redis).read(instruments, nowMs: nowMs).compactMap { $0?.tick }
        if !cached.isEmpty { pass.fired = try await evaluator.evaluate(cached).fired }
        return pass
    }
}
