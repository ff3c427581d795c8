import Foundation
import TMCore
import TMQueue
import TMRedis

/// The users' live portfolio values in Redis (`CacheKeys.portfolio`): the valuation's JSON
/// (`PortfolioValuation.json`), expiring after `ttl` (five minutes by default).
///
/// Guarantees: a write never replaces a valuation computed later (`computed_at_ms`) with an older
/// one — the compare and the write run in one script, so of two valuers racing for a user the
/// newer result stays, whatever order they finish in; every write sets the TTL, so a portfolio
/// nobody revalues disappears instead of being read as current.
public struct PortfolioCache: Sendable {
    public static let defaultTTL: Duration = .seconds(300)

    public let redis: RedisClient
    public let ttl: Duration

    public init(redis: RedisClient, ttl: Duration = PortfolioCache.defaultTTL) {
        self.redis = redis
        self.ttl = ttl
    }

    private static let write = RedisScript("""
        local current = redis.call('GET', KEYS[1])
        if current then
            local ok, stored = pcall(cjson.decode, current)
            if ok and type(stored) == 'table' and tonumber(stored['computed_at_ms']) and tonumber(stored['computed_at_ms']) > tonumber(ARGV[2]) then
                return 0
            end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
        return 1
        """)

    /// Stores `valuation` unless the cache holds one computed later. Returns whether it was stored.
    @discardableResult
    public func store(_ valuation: PortfolioValuation) async throws -> Bool {
        let stored = try await redis.run(Self.write, keys: [CacheKeys.portfolio(user: valuation.userID.uuidString.lowercased())],
                                         arguments: [valuation.json.text, String(valuation.computedAtMs), String(max(1, ttl.milliseconds))])
        return stored.int == 1
    }

    /// The cached valuation of `user`, nil when none (expired, or never computed).
    public func read(user: UUID) async throws -> PortfolioValuation? {
        let reply = try await redis.send("GET", CacheKeys.portfolio(user: user.uuidString.lowercased()))
        guard let bytes = reply.bytes else { return nil }
        return try PortfolioValuation(json: try JSONValue.parse(bytes))
    }
}
