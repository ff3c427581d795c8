import Foundation
import Testing
import TestSupport
@testable import TMBrokers
import TMRedis

/// Where a grant sits in its log (`BrokerAdmission`, against real Redis): at the Redis server's
/// millisecond, exactly the time the admission answers — every window of the rate limiter counts it
/// from there. (The script writes the score as integer text, not as a Lua number that Redis would
/// format itself: the text must still be that millisecond, neither seconds nor rounded.)
@Suite(.serialized, .timeLimit(.minutes(1))) struct GrantScoreTests {
    /// The server's clock in ms, as the script computes it from `TIME`.
    func serverMillis(_ redis: RedisClient) async throws -> Int64 {
        let t = try #require(try await redis.send("TIME").array)
        return try #require(t[0].int) * 1000 + (try #require(t[1].int)) / 1000
    }

    @Test func aGrantIsLoggedAtTheMillisecondItWasAdmitted() async throws {
        let f = try await BrokerAdmissionTests.Fixture(cooldown: .seconds(60), threshold: 3)
        defer { Task { await f.cleanUp() } }
        let log = f.limiter.key(f.budget)
        let limits = [RateLimit(100, per: .seconds(60))]
        for n in 1...3 {
            let before = try await serverMillis(f.redis)
            let call = BrokerAdmission.call(breaker: f.breaker, budget: (log, limits))
            let reply = try await f.redis.run(BrokerAdmission.script, keys: call.keys, arguments: call.arguments)
            let after = try await serverMillis(f.redis)
            guard case .admitted(let at, _) = BrokerAdmission.outcome(reply) else { Issue.record("refused: \(reply)"); return }
            #expect(at >= before && at <= after, "the server's millisecond: \(before) ≤ \(at) ≤ \(after)")
            // The call's member is its third argument; its score, as Redis stores and answers it.
            let member = String(decoding: call.arguments[2].bytes, as: UTF8.self)
            let score = try await f.redis.send("ZSCORE", log, member)
            #expect(score.string == String(at), "grant \(n) logged at \(score), admitted at \(at)")
            #expect(try await f.redis.send("ZCARD", log).int == Int64(n))
        }
    }
}
