import Foundation
import Testing
import TestSupport
@testable import TMBrokers
import TMRedis

/// A broker call's circuit and budget, checked and taken by one script (`BrokerAdmission`), against
/// real Redis: neither refusal spends what the other guards.
@Suite(.serialized, .timeLimit(.minutes(2))) struct BrokerAdmissionTests {
    /// A breaker opening at the `threshold`-th failure (the first by default), and a budget in its slot.
    struct Fixture {
        let redis: RedisClient
        let breaker: CircuitBreaker
        let limiter: RateLimiter
        let budget = TestServers.uniqueName("acct")

        init(cooldown: Duration, threshold: Int = 1) async throws {
            redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
            var settings = CircuitBreaker.Settings()
            settings.threshold = threshold
            settings.cooldown = cooldown
            breaker = CircuitBreaker(name: TestServers.uniqueName("admit"), settings: settings, redis: redis)
            limiter = RateLimiter(redis: redis, sharingSlotWith: breaker)
        }

        func cleanUp() async {
            _ = try? await redis.send("DEL", breaker.key, limiter.key(budget))
            redis.close()
        }
    }

    @Test func anOpenCircuitTakesNothingFromTheBudget() async throws {
        let f = try await Fixture(cooldown: .seconds(60))
        defer { Task { await f.cleanUp() } }
        let (redis, breaker, limiter, budget) = (f.redis, f.breaker, f.limiter, f.budget)
        let limits = [RateLimit(5, per: .seconds(60))]

        #expect(try await limiter.admit(budget, limits: limits, maxWait: .zero) == false, "closed, no failures on record: nothing to record")
        #expect(try await redis.send("ZCARD", limiter.key(budget)).int == 1)
        #expect(try await breaker.record(success: false) == .open)
        for _ in 0..<3 {
            await #expect(throws: CircuitBreaker.Open.self) { _ = try await limiter.admit(budget, limits: limits, maxWait: .seconds(1)) }
        }
        #expect(try await redis.send("ZCARD", limiter.key(budget)).int == 1, "the refused calls spent no budget")
        #expect(try await breaker.state() == .open)
    }

    @Test func aSpentBudgetLeavesTheHalfOpenProbeItsTurn() async throws {
        let f = try await Fixture(cooldown: .milliseconds(200))
        defer { Task { await f.cleanUp() } }
        let (redis, breaker, limiter, budget) = (f.redis, f.breaker, f.limiter, f.budget)
        let limits = [RateLimit(1, per: .seconds(60))]

        _ = try await limiter.admit(budget, limits: limits, maxWait: .zero)  // the budget is spent for a minute
        #expect(try await breaker.record(success: false) == .open)
        // Past the cooldown the next admitted call would be the probe (the breaker's own verdict,
        // read without taking the turn).
        try await eventually("the cooldown has passed") { (try? await breaker.refusal()) == .some(nil) }
        do {
            _ = try await limiter.admit(budget, limits: limits, maxWait: .zero)
            Issue.record("admitted past a spent budget")
        } catch let error as BrokerError {
            guard case .rateLimited(let after) = error else { Issue.record("\(error)"); return }
            #expect((after ?? .zero) > .seconds(50))
        }
        #expect(try await breaker.state() == .open, "a call refused by its budget did not take the probe's turn")
        // With budget, the next call is the probe: its success must be recorded (it closes the circuit).
        try await redis.send("DEL", limiter.key(budget))
        #expect(try await limiter.admit(budget, limits: limits, maxWait: .zero) == true)
        #expect(try await breaker.state() == .halfOpen)
        #expect(try await breaker.record(success: true) == .closed)
    }
}
