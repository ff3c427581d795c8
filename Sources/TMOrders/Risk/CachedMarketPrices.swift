import Foundation
import Logging
import TMCore
import TMMarketData

/// `MarketPriceSource` over market data's price cache (`price:<SYMBOL>:<EXCHANGE>` in Redis).
///
/// Guarantees: a price the cache holds is returned exactly (a value that does not fit the risk
/// side's nine places is ignored, never rounded); a missing or expired entry, or Redis unreachable,
/// answers nil — the check then uses the price it had, and an order is never refused for it.
public struct CachedMarketPrices: MarketPriceSource {
    let cache: PriceCache
    let logger: Logger

    public init(cache: PriceCache, logger: Logger = Logger(label: "tm.orders.prices")) {
        self.cache = cache
        self.logger = logger
    }

    public func latestPrice(symbol: String, exchange: String) async -> FixedDecimal? {
        do {
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            guard let cached = try await cache.read(symbol: symbol, exchange: exchange, nowMs: nowMs) else { return nil }
            return FixedDecimal(exactly: cached.tick.price)
        } catch {
            logger.debug("price cache unreadable; checking against the last known price", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
