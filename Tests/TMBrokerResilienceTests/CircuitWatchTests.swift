import Foundation
import Testing
import TestSupport
import TMBrokers
import TMRedis

/// The router's cached view of the real breakers in Redis: open while the breaker refuses calls,
/// closed again when its cooldown ends, and reading never takes the half-open probe's turn.
@Suite(.serialized) struct CircuitWatchTests {
    static func settings(threshold: Int, cooldown: Duration) -> CircuitBreaker.Settings {
        var settings = CircuitBreaker.Settings()
        settings.threshold = threshold
        settings.cooldown = cooldown
        return settings
    }

    @Test func seesARealBreakerOpenAndItsCooldownEnd() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let settings = Self.settings(threshold: 2, cooldown: .seconds(60))
        let breaker = CircuitBreaker(name: TestServers.uniqueName("watch-kite"), settings: settings, redis: redis)
        let other = CircuitBreaker(name: TestServers.uniqueName("watch-upstox"), settings: settings, redis: redis)
        defer { Task { _ = try? await redis.send("DEL", breaker.key, other.key) } }
        let watch = CircuitWatch(breakers: [.kite: breaker, .upstox: other])

        try await watch.refresh()
        #expect(!watch.isOpen(.kite) && !watch.isOpen(.upstox))

        try await breaker.record(success: false)
        try await watch.refresh()
        #expect(!watch.isOpen(.kite), "one failure under the threshold leaves it closed")

        #expect(try await breaker.record(success: false) == .open)
        #expect(!watch.isOpen(.kite), "the cache changes only on a refresh")
        let refreshed = ContinuousClock.now
        try await watch.refresh()
        #expect(watch.isOpen(.kite))
        #expect(!watch.isOpen(.upstox), "breakers are per broker")
        #expect(!watch.isOpen(.alpaca), "a broker without a breaker counts as closed")
        // Once the cooldown has passed the breaker would let a probe through: not open, without a refresh.
        #expect(!watch.isOpen(.kite, at: refreshed + settings.cooldown + .seconds(5)))

        // Reading is not asking: the breaker is still open (not moved to half-open) and still refuses.
        #expect(try await breaker.state() == .open)
        await #expect(throws: CircuitBreaker.Open.self) { try await breaker.allow() }
    }

    @Test func aBrokerAllowingAProbeIsNotOpen() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let breaker = CircuitBreaker(name: TestServers.uniqueName("watch-probe"), settings: Self.settings(threshold: 1, cooldown: .milliseconds(200)),
                                     redis: redis)
        defer { Task { _ = try? await redis.send("DEL", breaker.key) } }
        let watch = CircuitWatch(breakers: [.binance: breaker])
        #expect(try await breaker.record(success: false) == .open)
        // Wait for the breaker's own verdict (not a timer): once it lets the probe through, the
        // probe is out and the circuit refuses others again until the probe's cooldown.
        try await eventually("the breaker lets a probe through") { (try? await breaker.allow()) != nil }
        try await watch.refresh()
        #expect(try await breaker.state() == .halfOpen)
        try await eventually("the probe's turn lapses") { try await breaker.refusal() == nil }
        try await watch.refresh()
        #expect(!watch.isOpen(.binance), "a probe may go: the router may send there")
    }
}
