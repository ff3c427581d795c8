import Foundation
import TMRedis

/// A function's reserved concurrency, counted in Redis so that every dispatcher on every machine
/// shares one limit.
///
/// A sorted set per function holds the running invocations, each scored by the time its slot
/// expires (timeout + kill grace + margin: by then the dispatcher has killed the process). A
/// dispatcher that dies without releasing therefore frees its slots by expiry, never leaks them.
///
/// Guarantees: at most `limit` unexpired slots exist at any moment (acquire is one atomic
/// script); `release` only removes the caller's own slot.
public struct ReservedConcurrency: Sendable {
    public let function: String
    public let limit: Int
    /// How long a slot lives if it is never released.
    public let lease: Duration
    private let redis: RedisClient

    public init(function: String, limit: Int, lease: Duration, redis: RedisClient) {
        self.function = function
        self.limit = limit
        self.lease = lease
        self.redis = redis
    }

    public var key: String { Self.key(function) }
    public static func key(_ function: String) -> String { "tm:{fn:\(function)}:running" }

    /// Times are the Redis server's, so dispatchers with skewed clocks still agree on expiry.
    /// KEYS: running. ARGV: limit, member, lease ms → 1 taken | 0 full
    static let acquireScript = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
        redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
        redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
        return 1
        """)

    /// Takes a slot for `invocationID` if one is free now.
    public func tryAcquire(_ invocationID: String) async throws -> Bool {
        let reply = try await redis.run(Self.acquireScript, keys: [key], arguments: [limit, invocationID, lease.milliseconds])
        return reply.int == 1
    }

    /// Waits for a slot (polling with a short backoff), or returns false when `shouldStop` says so.
    public func acquire(_ invocationID: String, shouldStop: @Sendable () -> Bool = { false }) async throws -> Bool {
        var pause = Duration.milliseconds(2)
        while !shouldStop() {
            if try await tryAcquire(invocationID) { return true }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
        return false
    }

    public func release(_ invocationID: String) async throws {
        try await redis.send("ZREM", key, invocationID)
    }

    /// Invocations holding a slot right now (expired slots excluded).
    public func running() async throws -> Int {
        let time = try await redis.send("TIME").array ?? []
        let now = (Int64(time.first?.string ?? "") ?? 0) * 1000 + (Int64(time.last?.string ?? "") ?? 0) / 1000
        return Int(try await redis.send("ZCOUNT", key, "(\(now)", "+inf").int ?? 0)
    }
}
