import Foundation
import TMCore
import TMRedis

/// A broker's circuit breaker, shared by every process through Redis: after `threshold` failures
/// within `window` it opens and calls fail fast for `cooldown`; then one probe call is let through
/// (half-open) — its success closes the circuit, its failure opens it again.
///
/// Failures are the broker being down or unreachable (unavailable, unknown outcome, unreadable
/// answers), never a refusal or a rate limit: a broker rejecting bad orders is healthy.
///
/// Guarantees: state changes are single scripts (no lost update between processes); at most one
/// probe is in flight while half-open (a probe whose process died frees its turn after `cooldown`).
public struct CircuitBreaker: Sendable {
    public enum State: String, Sendable { case closed, open, halfOpen = "half_open" }

    public struct Settings: Sendable {
        public var threshold = 5
        public var window: Duration = .seconds(30)
        public var cooldown: Duration = .seconds(15)
        public init() {}
    }

    /// The breaker refused the call.
    public struct Open: Error, Sendable, CustomStringConvertible {
        public let name: String
        public let retryAfter: Duration
        public var description: String { "circuit open for \(name); next probe in \(retryAfter.components.seconds)s" }
    }

    public let name: String
    public let settings: Settings
    private let redis: RedisClient

    public init(name: String, settings: Settings = Settings(), redis: RedisClient) {
        self.name = name
        self.settings = settings
        self.redis = redis
    }

    public var key: String { "tm:{cb:\(name)}" }

    /// KEYS: breaker hash. ARGV: success (1|0), threshold, window ms → new state
    static let recordScript = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
        if ARGV[1] == '1' then
          -- Only the half-open probe closes an open circuit: a call that started before the circuit
          -- opened and succeeds late says nothing about the broker now.
          if state == 'open' then return 'open' end
          if state == 'half_open' then redis.call('DEL', KEYS[1]) end
          if state == 'closed' then redis.call('HDEL', KEYS[1], 'failures', 'window_start') end
          return 'closed'
        end
        if state == 'half_open' then
          redis.call('HSET', KEYS[1], 'state', 'open', 'since', now)
          return 'open'
        end
        if state == 'open' then return 'open' end
        local start = tonumber(redis.call('HGET', KEYS[1], 'window_start') or '0')
        local failures = 0
        if now - start <= tonumber(ARGV[3]) then failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') else start = now end
        failures = failures + 1
        if failures >= tonumber(ARGV[2]) then
          redis.call('HSET', KEYS[1], 'state', 'open', 'since', now, 'failures', 0, 'window_start', now)
          return 'open'
        end
        redis.call('HSET', KEYS[1], 'failures', failures, 'window_start', start)
        return 'closed'
        """)

    /// Throws `Open` when the call must not go out now (moving an open circuit past its cooldown to
    /// half-open: this call is the probe). Returns whether the call's success must be recorded
    /// (`BrokerAdmission.Outcome.admitted`). The same script as a broker call's budget:
    /// `RateLimiter.admit` checks both in one round trip.
    @discardableResult
    public func allow() async throws -> Bool {
        switch try await BrokerAdmission.run(redis, breaker: self, budget: nil) {
        case .admitted(_, let recordSuccess): return recordSuccess
        case .circuitOpen(let wait), .budgetSpent(let wait): throw Open(name: name, retryAfter: wait)
        }
    }

    @discardableResult
    public func record(success: Bool) async throws -> State {
        let reply = try await redis.run(Self.recordScript, keys: [key], arguments: [success ? "1" : "0", settings.threshold, settings.window.milliseconds])
        return State(rawValue: reply.string ?? "closed") ?? .closed
    }

    /// KEYS: breaker hash. ARGV: cooldown ms → ms the breaker still refuses calls, or -1 when the
    /// next call would be let through. Reads only: unlike `allow`, never moves open to half-open.
    static let refusalScript = RedisScript("""
        local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
        if state == 'closed' then return -1 end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local left = tonumber(redis.call('HGET', KEYS[1], 'since') or '0') + tonumber(ARGV[1]) - now
        if left <= 0 then return -1 end
        return left
        """)

    /// How much longer `allow` would refuse a call, as of now (nil: the next call would go out —
    /// closed, or open/half-open past the cooldown so a probe may go). For watchers such as the
    /// router, which must not take the probe's turn by asking.
    public func refusal() async throws -> Duration? {
        let reply = try await redis.run(Self.refusalScript, keys: [key], arguments: [settings.cooldown.milliseconds])
        guard let left = reply.int, left > 0 else { return nil }
        return .milliseconds(left)
    }

    public func state() async throws -> State {
        State(rawValue: try await redis.send("HGET", key, "state").string ?? "closed") ?? .closed
    }
}
