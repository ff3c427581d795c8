import Foundation
import TMCore
import TMRedis

/// Every broker's circuit as last read from Redis, for readers that cannot afford a round trip per
/// question (the router asks once per order). `refresh` reads each breaker (one read-only script per
/// broker: the breakers' keys live in different cluster slots); `run(every:)` keeps doing so.
///
/// Staleness: a circuit that opens is seen at the next refresh (at most `interval` late); an order
/// routed to it meanwhile is refused fast by `ResilientBrokerAdapter` — which asks Redis itself and
/// stays the authority — as `.unavailable`, a definite "not sent". A circuit whose cooldown ends
/// counts as closed from that instant without a refresh (the refusal is stored as an instant), so a
/// quiet router never shuns a recovered broker; the cached instant is computed from the moment
/// the refresh began, so it never outlasts the breaker's own refusal. A failed refresh keeps the
/// previous picture.
///
/// Guarantees: `isOpen` takes a lock and compares two instants — no I/O; it answers true only
/// while the breaker, as last read, would refuse a call (open within its cooldown, or half-open
/// with its probe out), never for a circuit that would let the next call through.
public final class CircuitWatch: Sendable {
    private let breakers: [BrokerKind: CircuitBreaker]
    private let refusingUntil = Locked<[BrokerKind: ContinuousClock.Instant]>([:])

    /// The breakers `ResilientBrokerAdapter` uses (one per broker, named by it), with the same settings.
    public convenience init(redis: RedisClient, settings: CircuitBreaker.Settings = .init()) {
        self.init(breakers: Dictionary(uniqueKeysWithValues: BrokerKind.allCases.map {
            ($0, CircuitBreaker(name: $0.rawValue, settings: settings, redis: redis))
        }))
    }

    /// Watches the given breakers; brokers without one always count as closed.
    public init(breakers: [BrokerKind: CircuitBreaker]) { self.breakers = breakers }

    /// Reads every breaker now; throws the first failure (after reading the others).
    public func refresh() async throws {
        var firstError: (any Error)?
        for (broker, breaker) in breakers.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let asked = ContinuousClock.now
            do {
                let left = try await breaker.refusal()
                refusingUntil.withLock { $0[broker] = left.map { asked + $0 } }
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
    }

    /// Whether `broker`'s circuit refuses calls at `now`, as of the last refresh.
    public func isOpen(_ broker: BrokerKind, at now: ContinuousClock.Instant = .now) -> Bool {
        guard let until = refusingUntil.withLock({ $0[broker] }) else { return false }
        return now < until
    }

    /// Refreshes every `interval` until the task is cancelled; a failed refresh is retried at the
    /// next tick (the last picture stands meanwhile).
    public func run(every interval: Duration = .milliseconds(500)) async {
        while !Task.isCancelled {
            try? await refresh()
            try? await Task.sleep(for: interval)
        }
    }
}
