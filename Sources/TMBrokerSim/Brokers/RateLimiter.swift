import Foundation

/// Sliding-window request counters, one per (key, window), for the brokers' documented limits.
///
/// Guarantees: at most `limit` requests are admitted in any window of `windowMilliseconds` (a true
/// sliding window over admission times, not fixed buckets, so a burst across a boundary is still
/// refused); refused requests are not counted; thread-safe.
public final class SlidingWindowLimiter: @unchecked Sendable {
    public struct Admission: Sendable {
        public let allowed: Bool
        /// Requests admitted in the window, including this one when allowed.
        public let used: Int
        /// When refused: how long until the oldest admission leaves the window.
        public let retryAfterMilliseconds: Int

        /// `Retry-After` in whole seconds, at least 1.
        public var retryAfterSeconds: Int { max(1, (retryAfterMilliseconds + 999) / 1000) }
    }

    private let lock = NSLock()
    private var windows: [String: [Int]] = [:]
    private let clock: @Sendable () -> Date

    public init(clock: @escaping @Sendable () -> Date) { self.clock = clock }

    /// Admits one request of weight `cost` under `key` if the window has room.
    public func admit(_ key: String, limit: Int, windowMilliseconds: Int, cost: Int = 1) -> Admission {
        let now = Timestamps.milliseconds(clock())
        lock.lock()
        defer { lock.unlock() }
        var times = windows[key] ?? []
        let cutoff = now - windowMilliseconds
        if let firstKept = times.firstIndex(where: { $0 > cutoff }) { times.removeFirst(firstKept) } else { times.removeAll() }
        guard times.count + cost <= limit else {
            windows[key] = times
            return Admission(allowed: false, used: times.count, retryAfterMilliseconds: max(1, (times.first ?? now) + windowMilliseconds - now))
        }
        times.append(contentsOf: repeatElement(now, count: cost))
        windows[key] = times
        return Admission(allowed: true, used: times.count, retryAfterMilliseconds: 0)
    }

    /// Requests admitted under `key` in the last window, without admitting one.
    public func used(_ key: String, windowMilliseconds: Int) -> Int {
        let cutoff = Timestamps.milliseconds(clock()) - windowMilliseconds
        return lock.withLock { windows[key]?.filter { $0 > cutoff }.count ?? 0 }
    }

    public func reset() { lock.withLock { windows.removeAll() } }
}

/// The broker limits the simulator enforces; `off` for tests and benchmarks that must not hit them.
public struct RateLimitPolicy: Sendable {
    public var enabled: Bool
    /// Kite: orders per second and per minute per API key; other endpoints per second.
    public var kiteOrdersPerSecond = 10
    public var kiteOrdersPerMinute = 400
    public var kiteOthersPerSecond = 10
    /// Kite: one quote request (`/quote`, `/quote/ltp`, `/quote/ohlc`) per this window (Kite: 1/s).
    public var kiteQuoteWindowMilliseconds = 1000
    /// Upstox: orders per second and per minute; other endpoints per second.
    public var upstoxOrdersPerSecond = 10
    public var upstoxOrdersPerMinute = 500
    public var upstoxOthersPerSecond = 50
    /// Alpaca: requests per minute per key.
    public var alpacaPerMinute = 200
    /// Binance: request weight per minute and orders per 10 seconds.
    public var binanceWeightPerMinute = 6000
    public var binanceOrdersPer10Seconds = 100

    public init(enabled: Bool = true) { self.enabled = enabled }
}
