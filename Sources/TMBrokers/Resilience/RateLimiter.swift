import Foundation
import TMCore
import TMRedis

/// A limit of `limit` calls in any window of `window`.
public struct RateLimit: Sendable, Hashable, CustomStringConvertible {
    public let limit: Int
    public let window: Duration

    public init(_ limit: Int, per window: Duration) {
        self.limit = limit
        self.window = window
    }

    public var description: String { "\(limit) per \(window.components.seconds)s" }
}

/// Brokers' rate limits held in Redis, so every process calling a broker with the same key shares
/// one budget (function executables are separate processes).
///
/// A sliding-window log per (name, limit): a sorted set of grant times. Several limits (Kite: 10/s,
/// 400/min, 5000/day) are checked and taken in one script, all or none, with the Redis server's
/// clock, so the processes' clocks do not matter.
///
/// Guarantees: in ANY window of a limit's length, at most `limit` calls are granted — not merely per
/// fixed second — because each grant is checked against the grants of the exact window before it.
public struct RateLimiter: Sendable {
    private let redis: RedisClient

    public init(redis: RedisClient) { self.redis = redis }

    public static func key(_ name: String, _ limit: RateLimit) -> String {
        "tm:{rl:\(name)}:\(limit.limit)/\(limit.window.milliseconds)"
    }

    /// KEYS: one sorted set per limit. ARGV: member, (limit, window ms)... → {1, grant ms} | {0, wait ms}
    static let script = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local wait = 0
        for i, key in ipairs(KEYS) do
          local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
          redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
          if redis.call('ZCARD', key) >= limit then
            local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
            wait = math.max(wait, tonumber(oldest[2]) + window - now + 1)
          end
        end
        if wait > 0 then return {0, wait} end
        for i, key in ipairs(KEYS) do
          redis.call('ZADD', key, now, ARGV[1])
          redis.call('PEXPIRE', key, tonumber(ARGV[2 * i + 1]) + 1000)
        end
        return {1, now}
        """)

    /// The outcome of one attempt: granted at the Redis server's time, or the wait before one fits.
    public enum Attempt: Sendable, Equatable {
        case granted(atMillis: Int64)
        case wait(Duration)
    }

    /// Takes one call from every limit now, or says how long to wait before one would fit.
    public func tryAcquire(_ name: String, limits: [RateLimit]) async throws -> Attempt {
        guard !limits.isEmpty else { return .granted(atMillis: 0) }
        var arguments: [any RedisArgumentConvertible] = ["\(UInt64.random(in: 0...UInt64.max))"]
        for limit in limits { arguments += [limit.limit, limit.window.milliseconds] }
        let reply = try await redis.run(Self.script, keys: limits.map { Self.key(name, $0) }, arguments: arguments)
        let parts = reply.array ?? []
        guard parts.count == 2, parts[0].int == 1 else { return .wait(.milliseconds(parts.last?.int ?? 1)) }
        return .granted(atMillis: parts[1].int ?? 0)
    }


    /// Waits for room (at most `maxWait`), else throws `BrokerError.rateLimited` with the wait.
    public func acquire(_ name: String, limits: [RateLimit], maxWait: Duration) async throws {
        let deadline = ContinuousClock.now + maxWait
        while true {
            guard case .wait(let wait) = try await tryAcquire(name, limits: limits) else { return }
            guard ContinuousClock.now + wait <= deadline else { throw BrokerError.rateLimited(retryAfter: wait) }
            try await Task.sleep(for: wait)
        }
    }
}
