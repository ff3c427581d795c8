import Foundation
import Logging
import TMCore
import TMMarketData

/// `MarketPriceSource` over market data's price cache (`price:<SYMBOL>:<EXCHANGE>` in Redis).
///
/// Guarantees: a price the cache holds is returned exactly (a value that does not fit the risk
/// side's nine places is ignored, never rounded); a missing or expired entry, or Redis unreachable,
/// answers nil — the check then uses the price it had, and an order is never refused for it.
///
/// Concurrent orders share their reads: the symbols asked for while one read is in flight are read
/// together by the next (one Redis pipeline), each still by a read that began after it asked.
public struct CachedMarketPrices: MarketPriceSource {
    struct Instrument: Hashable, Sendable {
        let symbol: String
        let exchange: String
    }
    let reads: CoalescedReads<Instrument, CachedPrice>
    let logger: Logger

    public init(cache: PriceCache, logger: Logger = Logger(label: "tm.orders.prices")) {
        reads = CoalescedReads { instruments in
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            let found = try await cache.read(instruments.map { (symbol: $0.symbol, exchange: $0.exchange) }, nowMs: nowMs)
            return Dictionary(zip(instruments, found).compactMap { instrument, price in price.map { (instrument, $0) } }, uniquingKeysWith: { a, _ in a })
        }
        self.logger = logger
    }

    public func latestPrice(symbol: String, exchange: String) async -> FixedDecimal? {
        do {
            guard let cached = try await reads.read(Instrument(symbol: symbol, exchange: exchange)) else { return nil }
            return FixedDecimal(exactly: cached.tick.price)
        } catch {
            logger.debug("price cache unreadable; checking against the last known price", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
