import Foundation
import TMCore

/// How many requests each broker endpoint received, and how many of them the broker's rate limits
/// (or a 429 fault) refused: what a test counts to see a client keep a broker's budget
/// (`GET /admin/requests?broker=kite`), without timing anything itself.
///
/// Guarantees: every broker request that got an answer is counted once, under its broker, method
/// and path (the query left out); thread-safe; `/admin/reset` empties it.
public final class RequestLog: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [Broker: [String: (answered: Int, rateLimited: Int)]] = [:]

    public init() {}

    func record(_ broker: Broker, method: String, path: String, status: Int) {
        let endpoint = method + " " + path
        lock.withLock {
            var count = counts[broker, default: [:]][endpoint] ?? (0, 0)
            count.answered += 1
            if status == 429 { count.rateLimited += 1 }
            counts[broker, default: [:]][endpoint] = count
        }
    }

    /// `{"GET /quote/ohlc": {"answered": 3, "rate_limited": 0}, ...}` for one broker.
    func json(_ broker: Broker) -> JSONValue {
        let endpoints = lock.withLock { counts[broker] ?? [:] }
        return .object(endpoints.keys.sorted().map { endpoint in
            let count = endpoints[endpoint]!
            return (key: endpoint, value: .object([("answered", .number(String(count.answered))), ("rate_limited", .number(String(count.rateLimited)))]))
        })
    }

    func reset() { lock.withLock { counts.removeAll() } }
}
