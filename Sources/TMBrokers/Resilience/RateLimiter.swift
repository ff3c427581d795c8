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
/// A sliding-window log per budget: a sorted set of its newest grant times (as many as its largest
/// limit). Several limits (Kite: 10/s, 400/min, 5000/day) are checked on the one log — a limit of
/// L per window W is spent while the L-th newest grant is younger than W — and taken in one script
/// (`BrokerAdmission`), all or none, with the Redis server's clock, so the processes' clocks do
/// not matter.
///
/// Guarantees: in ANY window of a limit's length, at most `limit` calls are granted — not merely per
/// fixed second — because each grant is checked against the grants of the exact window before it.
/// A limiter `sharingSlotWith` a breaker keeps its logs under the breaker's hash tag, so a broker
/// call's circuit and budget are checked by one script (`admit`).
public struct RateLimiter: Sendable {
    private let redis: RedisClient
    /// The breaker whose hash slot the logs share (nil: each budget in a slot of its own).
    public let breaker: CircuitBreaker?

    public init(redis: RedisClient, sharingSlotWith breaker: CircuitBreaker? = nil) {
        self.redis = redis
        self.breaker = breaker
    }

    /// The grant log of budget `name`: every limit of the budget counts on it.
    public static func key(_ name: String, sharingSlotWith breaker: CircuitBreaker? = nil) -> String {
        breaker.map { "\($0.key):rl:\(name)" } ?? "tm:{rl:\(name)}"
    }

    public func key(_ name: String) -> String { Self.key(name, sharingSlotWith: breaker) }

    /// The outcome of one attempt: granted at the Redis server's time, or the wait before one fits.
    public enum Attempt: Sendable, Equatable {
        case granted(atMillis: Int64)
        case wait(Duration)
    }

    /// Takes one call from every limit now, or says how long to wait before one would fit.
    public func tryAcquire(_ name: String, limits: [RateLimit]) async throws -> Attempt {
        guard !limits.isEmpty else { return .granted(atMillis: 0) }
        switch try await BrokerAdmission.run(redis, breaker: nil, budget: (key(name), limits)) {
        case .admitted(let at, _): return .granted(atMillis: at)
        case .budgetSpent(let wait), .circuitOpen(let wait): return .wait(wait)
        }
    }

    /// Waits for room (at most `maxWait`), else throws `BrokerError.rateLimited` with the wait.
    public func acquire(_ name: String, limits: [RateLimit], maxWait: Duration) async throws {
        let deadline = ContinuousClock.now + maxWait
        while true {
            guard case .wait(let wait) = try await tryAcquire(name, limits: limits) else { return }
            try await Self.sleep(wait, before: deadline)
        }
    }

    /// Lets one call through `breaker`'s circuit and takes it from the budget, in one script: waits
    /// for budget (at most `maxWait`, re-checking the circuit each time), else throws
    /// `BrokerError.rateLimited` with the wait; an open circuit throws `CircuitBreaker.Open` and
    /// takes nothing. Returns whether the call's success must be recorded (as `CircuitBreaker.allow`).
    public func admit(_ name: String, limits: [RateLimit], maxWait: Duration) async throws -> Bool {
        guard let breaker, !limits.isEmpty else {
            try await acquire(name, limits: limits, maxWait: maxWait)
            return try await breaker?.allow() ?? false
        }
        let deadline = ContinuousClock.now + maxWait
        while true {
            switch try await BrokerAdmission.run(redis, breaker: breaker, budget: (key(name), limits)) {
            case .admitted(_, let recordSuccess): return recordSuccess
            case .circuitOpen(let wait): throw CircuitBreaker.Open(name: breaker.name, retryAfter: wait)
            case .budgetSpent(let wait): try await Self.sleep(wait, before: deadline)
            }
        }
    }

    private static func sleep(_ wait: Duration, before deadline: ContinuousClock.Instant) async throws {
        guard ContinuousClock.now + wait <= deadline else { throw BrokerError.rateLimited(retryAfter: wait) }
        try await Task.sleep(for: wait)
    }
}
