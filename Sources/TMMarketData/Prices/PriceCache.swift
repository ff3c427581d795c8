import Foundation
import TMCore
import TMQueue
import TMRedis

/// A price as the cache holds it, with its age at the time of reading.
public struct CachedPrice: Sendable, Hashable {
    public var tick: PriceTick
    /// Milliseconds since the price was observed, by the reader's clock.
    public var ageMs: Int64
}

/// The latest price of each instrument in Redis (`CacheKeys.price`): a hash of `price`,
/// `previous_close`, `source`, `at_ms`, expiring after a short TTL.
///
/// Guarantees: a write never replaces a newer observation with an older one (the compare on
/// `at_ms` and the write run in one script), so a slow poller cannot roll a price back; a price
/// nobody refreshes expires after its TTL, so a reader sees "missing", never a stale value passed
/// off as current; `previous_close` survives a tick that does not carry it.
public struct PriceCache: Sendable {
    public let redis: RedisClient

    public init(redis: RedisClient) { self.redis = redis }

    private static let write = RedisScript("""
        local at = redis.call('HGET', KEYS[1], 'at_ms')
        if at and tonumber(at) > tonumber(ARGV[4]) then return 0 end
        redis.call('HSET', KEYS[1], 'price', ARGV[1], 'source', ARGV[3], 'at_ms', ARGV[4])
        if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'previous_close', ARGV[2]) end
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        return 1
        """)

    /// Stores `tick` unless the cache holds a newer one. Returns whether it was stored.
    @discardableResult
    public func store(_ tick: PriceTick, ttl: Duration) async throws -> Bool {
        let (keys, arguments) = Self.call(tick, ttl: ttl)
        return try await redis.run(Self.write, keys: keys, arguments: arguments).int == 1
    }

    /// Stores each tick as `store` would, in one round trip; whether each was stored, in order.
    public func store(_ ticks: [PriceTick], ttl: Duration) async throws -> [Bool] {
        guard !ticks.isEmpty else { return [] }
        let calls = ticks.map { Self.call($0, ttl: ttl) }
        let replies = try await redis.withConnection { connection in
            try connection.runPipelined(Self.write, calls: calls.map { (keys: $0.keys, arguments: $0.arguments) })
        }
        return try replies.map { try $0.get().int == 1 }
    }

    private static func call(_ tick: PriceTick, ttl: Duration) -> (keys: [String], arguments: [String]) {
        let ttlMs = max(1, Int64(ttl.components.seconds) * 1000 + ttl.components.attoseconds / 1_000_000_000_000_000)
        return ([CacheKeys.price(symbol: tick.symbol, exchange: tick.exchange)],
                [DecimalText.plain(tick.price), tick.previousClose.map(DecimalText.plain) ?? "", tick.source, String(tick.atMs), String(ttlMs)])
    }

    /// The cached prices of `instruments` (symbol, exchange), in order; nil where none is cached.
    public func read(_ instruments: [(symbol: String, exchange: String)], nowMs: Int64) async throws -> [CachedPrice?] {
        guard !instruments.isEmpty else { return [] }
        let commands = instruments.map { RedisCommand("HMGET", CacheKeys.price(symbol: $0.symbol, exchange: $0.exchange), "price", "previous_close", "source", "at_ms") }
        let replies = try await redis.pipeline(commands)
        return zip(instruments, replies).map { instrument, reply in
            guard case .success(let value) = reply, let fields = value.array, fields.count == 4,
                  let priceText = fields[0].string, let price = DecimalText.parse(priceText),
                  let source = fields[2].string, let atText = fields[3].string, let at = Int64(atText) else { return nil }
            let tick = PriceTick(symbol: instrument.symbol, exchange: instrument.exchange, price: price,
                                 previousClose: fields[1].string.flatMap(DecimalText.parse), source: source, atMs: at)
            return CachedPrice(tick: tick, ageMs: max(0, nowMs - at))
        }
    }

    public func read(symbol: String, exchange: String, nowMs: Int64) async throws -> CachedPrice? {
        try await read([(symbol: symbol, exchange: exchange)], nowMs: nowMs)[0]
    }
}
