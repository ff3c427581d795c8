import Foundation
import Testing
import TestSupport
import TMBrokers
import TMRedis

/// Kite's quote endpoints have a budget of their own (Kite: 1 request per second); other brokers'
/// quotes are reads like any other, on the read budget as before.
@Suite struct QuoteBudgetTests {
    @Test func kiteQuotesSpendTheQuoteBudgetAndOthersTheReadBudget() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let instruments = [InstrumentRef(symbol: "INFY", exchange: "NSE", brokerToken: nil)]
        let kite = ResilientBrokerAdapter(ScriptedBroker(.kite), budgetKey: TestServers.uniqueName("acct"), redis: redis)
        _ = try await kite.lastPrices(instruments, credentials: .plain(apiKey: "k"))
        let quote = kite.limiter.key(BrokerRateLimits.budget(.kite, key: kite.budgetKey, .quote))
        let read = kite.limiter.key(BrokerRateLimits.budget(.kite, key: kite.budgetKey, .read))
        #expect(quote != read)
        #expect(try await redis.send("ZCARD", quote).int == 1)
        #expect(try await redis.send("ZCARD", read).int == 0)
        #expect(BrokerRateLimits.limits(.kite, .quote) == [RateLimit(1, per: .milliseconds(1100))])

        let upstox = ResilientBrokerAdapter(ScriptedBroker(.upstox), budgetKey: TestServers.uniqueName("acct"), redis: redis)
        _ = try await upstox.lastPrices(instruments, credentials: .plain(apiKey: "k"))
        #expect(BrokerRateLimits.budget(.upstox, key: upstox.budgetKey, .quote) == BrokerRateLimits.budget(.upstox, key: upstox.budgetKey, .read))
        #expect(try await redis.send("ZCARD", upstox.limiter.key(BrokerRateLimits.budget(.upstox, key: upstox.budgetKey, .read))).int == 1)
    }
}
