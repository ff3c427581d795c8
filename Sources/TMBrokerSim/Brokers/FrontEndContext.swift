import Foundation

/// What every front end shares: the exchange, the rate limiter and the limits it enforces.
public struct FrontEndContext: Sendable {
    public let exchange: Exchange
    public let limiter: SlidingWindowLimiter
    public let limits: RateLimitPolicy

    public init(exchange: Exchange, limiter: SlidingWindowLimiter, limits: RateLimitPolicy) {
        self.exchange = exchange
        self.limiter = limiter
        self.limits = limits
    }

    /// Admits the request under every (key, limit, window) given; the first refusal wins.
    /// The windows are only built (their keys formatted) when limits are on.
    func admit(_ windows: @autoclosure () -> [(key: String, limit: Int, windowMilliseconds: Int)]) -> SlidingWindowLimiter.Admission? {
        guard limits.enabled else { return nil }
        for window in windows() {
            let admission = limiter.admit(window.key, limit: window.limit, windowMilliseconds: window.windowMilliseconds)
            if !admission.allowed { return admission }
        }
        return nil
    }
}
