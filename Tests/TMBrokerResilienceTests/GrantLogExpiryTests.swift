import Foundation
import Testing
import TestSupport
@testable import TMBrokers
import TMRedis

/// The admission script's grant log expiry and its common answer (`BrokerAdmission`), against real
/// Redis: the log always outlives its newest grant by its longest window (so no grant a window can
/// still count expires), its expiry is written only when that is no longer so, and the bare-integer
/// answer is given only when there is nothing to record.
@Suite(.serialized, .timeLimit(.minutes(2))) struct GrantLogExpiryTests {
    /// 3 a minute: the log must live 61 s (the window + 1 s) past each grant.
    static let limits = [RateLimit(3, per: .seconds(60))]
    static let keep: Int64 = 61_000

    func pttl(_ redis: RedisClient, _ key: String) async throws -> Int64 {
        try #require(try await redis.send("PTTL", key).int)
    }

    @Test func theLogOutlivesItsNewestGrantByItsLongestWindow() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let limiter = RateLimiter(redis: redis)
        let name = TestServers.uniqueName("expiry")
        let log = limiter.key(name)
        defer { Task { _ = try? await redis.send("DEL", log) } }

        // A new log gets its expiry at once.
        guard case .granted = try await limiter.tryAcquire(name, limits: Self.limits) else { Issue.record("refused"); return }
        let first = try await pttl(redis, log)
        #expect(first > Self.keep, "a new log lives past its window: \(first) ms")

        // An expiry that has run down below the window (time passing, as far as the log can tell) is
        // moved out by the next grant, past that grant's window again.
        #expect(try await redis.send("PEXPIRE", log, 5_000).int == 1)
        guard case .granted = try await limiter.tryAcquire(name, limits: Self.limits) else { Issue.record("refused"); return }
        let moved = try await pttl(redis, log)
        #expect(moved > Self.keep, "the grant's window is covered again: \(moved) ms")
        #expect(try await redis.send("ZCARD", log).int == 2, "no grant was lost")

        // With more than the window left, a grant does not write the expiry again (its only write
        // is its ZADD): the time left only runs down.
        let before = try await pttl(redis, log)
        guard case .granted = try await limiter.tryAcquire(name, limits: Self.limits) else { Issue.record("refused"); return }
        let after = try await pttl(redis, log)
        #expect(after <= before, "not moved while enough is left: \(before) → \(after) ms")
        #expect(after > Self.keep)
    }

    @Test func theBareAnswerOnlyWhenThereIsNothingToRecord() async throws {
        let f = try await BrokerAdmissionTests.Fixture(cooldown: .seconds(60), threshold: 3)
        defer { Task { await f.cleanUp() } }
        let (redis, breaker, limiter, budget) = (f.redis, f.breaker, f.limiter, f.budget)
        let limits = [RateLimit(100, per: .seconds(60))]

        // Closed, nothing on record: the script's answer is the bare time, read as nothing to record.
        let call = BrokerAdmission.call(breaker: breaker, budget: (limiter.key(budget), limits))
        let reply = try await redis.run(BrokerAdmission.script, keys: call.keys, arguments: call.arguments)
        #expect(reply.int != nil && reply.array == nil, "the common answer is a bare integer: \(reply)")
        guard case .admitted(let at, let record) = BrokerAdmission.outcome(reply) else { Issue.record("\(reply)"); return }
        #expect(at > 1_700_000_000_000, "the server's time in ms: \(at)")
        #expect(record == false)

        // Closed with a failure on record (under the threshold): the success must be recorded to
        // clear it, so the answer is the full one.
        #expect(try await breaker.record(success: false) == .closed)
        #expect(try await limiter.admit(budget, limits: limits, maxWait: .zero) == true, "a closed circuit with failures on record")
        #expect(try await breaker.record(success: true) == .closed)
        #expect(try await limiter.admit(budget, limits: limits, maxWait: .zero) == false, "cleared: nothing to record again")
        // Circuit only (no budget): the same answers.
        #expect(try await breaker.allow() == false)
        #expect(try await breaker.record(success: false) == .closed)
        #expect(try await breaker.allow() == true)
    }

    /// Several limits on one log (Kite's orders: 10 a second, 400 a minute, 5,000 a day): the log
    /// outlives its newest grant by the LONGEST window, not the first or the shortest — else the
    /// day's grants would expire within seconds and its limit go unenforced.
    @Test func theLogOutlivesTheLongestOfSeveralWindows() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let limiter = RateLimiter(redis: redis)
        let name = TestServers.uniqueName("longest")
        let log = limiter.key(name)
        defer { Task { _ = try? await redis.send("DEL", log) } }
        let limits = BrokerRateLimits.limits(.kite, .order)
        #expect(limits.map(\.window).max() == .seconds(86_400), "the day window is the one the log must cover")
        guard case .granted = try await limiter.tryAcquire(name, limits: limits) else { Issue.record("refused"); return }
        let first = try await pttl(redis, log)
        #expect(first > 86_401_000, "the log outlives the day window: \(first) ms")
        // Run down below the day window (though past the second's and the minute's): moved out again.
        #expect(try await redis.send("PEXPIRE", log, 120_000).int == 1)
        guard case .granted = try await limiter.tryAcquire(name, limits: limits) else { Issue.record("refused"); return }
        let moved = try await pttl(redis, log)
        #expect(moved > 86_401_000, "moved past the day window again: \(moved) ms")
    }
}
