import Foundation
import TMCore

/// The latest price of each of some instruments as an operator should see it (`tm prices`):
/// the cached value, its previous close, who observed it and how long ago — and whether it is
/// `fresh`, `stale` (older than three poll intervals: market-data should have refreshed it) or
/// `missing` (nothing cached: never priced, or expired after the TTL).
public struct PriceBoard: Sendable {
    public enum Status: String, Sendable { case fresh, stale, missing }

    public struct Row: Sendable {
        public var symbol: String
        public var exchange: String
        public var cached: CachedPrice?
        public var status: Status

        public var json: JSONValue {
            var members: [(key: String, value: JSONValue)] = [("symbol", .string(symbol)), ("exchange", .string(exchange)),
                                                              ("status", .string(status.rawValue))]
            if let cached {
                members += [("price", .string(DecimalText.plain(cached.tick.price))),
                            ("previous_close", cached.tick.previousClose.map { .string(DecimalText.plain($0)) } ?? .null),
                            ("source", .string(cached.tick.source)), ("at_ms", .number(String(cached.tick.atMs))),
                            ("age_ms", .number(String(cached.ageMs)))]
            }
            return .object(members)
        }
    }

    /// How old a price may be before it is shown as stale.
    public let staleAfterMs: Int64

    public init(pollInterval: Duration) {
        staleAfterMs = max(3000, 3 * (pollInterval.components.seconds * 1000 + pollInterval.components.attoseconds / 1_000_000_000_000_000))
    }

    public func rows(_ instruments: [(symbol: String, exchange: String)], cache: PriceCache, nowMs: Int64) async throws -> [Row] {
        let cached = try await cache.read(instruments, nowMs: nowMs)
        return zip(instruments, cached).map { instrument, price in
            let status: Status = price.map { $0.ageMs > staleAfterMs ? .stale : .fresh } ?? .missing
            return Row(symbol: instrument.symbol, exchange: instrument.exchange, cached: price, status: status)
        }
    }
}
