import Foundation
import Testing
import TestSupport
import TMBrokers
import TMRedis

/// The admission checks a budget's limits smallest first and stops at the first one its log holds
/// too few grants for (`BrokerAdmission`): whatever order the caller lists the limits in, every
/// limit that could be spent is still checked.
@Suite(.serialized, .timeLimit(.minutes(2))) struct AdmissionLimitOrderTests {
    /// A client, a limiter without a breaker, and a budget name of this test's own.
    static func budget(_ label: String) async throws -> (RedisClient, RateLimiter, String) {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        return (redis, RateLimiter(redis: redis), TestServers.uniqueName(label))
    }

    @Test func aLargerLimitListedFirstDoesNotHideASmallerSpentOne() async throws {
        let (redis, limiter, name) = try await Self.budget("largest-first")
        defer { Task { _ = try? await redis.send("DEL", RateLimiter.key(name)); redis.close() } }
        // The log never holds 5 grants here, so a check stopping at the 5-limit would never reach the 2-limit.
        let limits = [RateLimit(5, per: .seconds(60)), RateLimit(2, per: .seconds(60))]
        for call in 1...2 {
            guard case .granted = try await limiter.tryAcquire(name, limits: limits) else {
                Issue.record("call \(call) of 2 was refused")
                return
            }
        }
        guard case .wait(let wait) = try await limiter.tryAcquire(name, limits: limits) else {
            Issue.record("a third call within the minute was granted past the limit of 2")
            return
        }
        #expect(wait > .seconds(50), "until the oldest of the 2 grants leaves the minute: \(wait)")
        #expect(try await redis.send("ZCARD", RateLimiter.key(name)).int == 2, "the refused call took nothing")
    }

    @Test func aLimitAfterTheSmallestIsStillChecked() async throws {
        let (redis, limiter, name) = try await Self.budget("three-limits")
        defer { Task { _ = try? await redis.send("DEL", RateLimiter.key(name)); redis.close() } }
        // Kite's shape: the largest limit far from reached, the middle one spent after 3 calls, the
        // smallest (1 per 5 ms) never spent for long — it must not end the checks while its grant is on record.
        let limits = [RateLimit(1000, per: .seconds(86_400)), RateLimit(3, per: .seconds(60)), RateLimit(1, per: .milliseconds(5))]
        var granted = 0
        var refusal: Duration?
        while refusal == nil && granted < 10 {
            switch try await limiter.tryAcquire(name, limits: limits) {
            case .granted: granted += 1
            case .wait(let wait) where wait <= .milliseconds(6): try await Task.sleep(for: wait)  // the 5 ms limit: wait it out
            case .wait(let wait): refusal = wait
            }
        }
        #expect(granted == 3, "3 per minute: the fourth call is refused")
        #expect((refusal ?? .zero) > .seconds(50), "by the per-minute limit: \(String(describing: refusal))")
        #expect(try await redis.send("ZCARD", RateLimiter.key(name)).int == 3)
    }
}
