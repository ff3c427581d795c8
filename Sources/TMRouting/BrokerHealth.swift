import Foundation
import TMBrokers
import TMCore

/// How each broker's calls have been going, from the calls this process actually made: the
/// router's speed (mean latency) and reliability (error rate).
///
/// A sliding window of each broker's last `window` calls, not a time-decaying average: "3 of the
/// last 100 calls failed" is exact and explainable in a stored route decision, needs no clock (so
/// it is deterministic to test), and forgets a bad spell after `window` good calls however fast or
/// slow they come. What it does not do is age: a broker nobody calls keeps its last picture — an
/// outage is the circuit breaker's business, not this window's.
///
/// Latency is the mean of the window's *successful* calls: a failure's latency says how fast it
/// failed (a refused connection is instant, a timeout is the timeout), not how fast the broker
/// serves; failures count in the error rate instead.
///
/// Guarantees: safe from any thread (one lock per broker, held for a few arithmetic steps, so
/// recording one broker never waits on another); `stats` reflects every `record` that returned
/// before it was called; O(1) per record and per read.
public final class BrokerHealth: Sendable {
    public struct Stats: Sendable, Equatable {
        /// Calls in the window (at most `window`).
        public var calls: Int
        public var failures: Int
        /// Mean latency of the window's successful calls; nil when there was none.
        public var latency: Duration?
        /// failures / calls; 0 before the first call (innocent until measured).
        public var errorRate: Double { calls == 0 ? 0 : Double(failures) / Double(calls) }
    }

    public let window: Int
    /// Indexed by `BrokerKind.ordinal` (no hashing per call).
    private let brokers: [Locked<Ring>]

    public init(window: Int = 100) {
        precondition(window > 0, "a window holds at least one call")
        self.window = window
        brokers = BrokerKind.allCases.map { _ in Locked(Ring(size: window)) }
    }

    /// One call to `broker`: how long it took and whether it failed.
    public func record(broker: BrokerKind, latency: Duration, failed: Bool) {
        // Clamped to an hour, so a window's sum can never overflow whatever a caller measures.
        let nanos = min(max(0, latency.nanoseconds), 3_600_000_000_000)
        brokers[broker.ordinal].withLock { $0.add(nanos: nanos, failed: failed) }
    }

    public func stats(_ broker: BrokerKind) -> Stats {
        brokers[broker.ordinal].withLock { ring in
            Stats(calls: ring.count, failures: ring.failures,
                  latency: ring.successes == 0 ? nil : .nanoseconds(ring.latencySum / Int64(ring.successes)))
        }
    }

    /// The last `size` calls in a circular buffer, with running sums so nothing is rescanned.
    struct Ring {
        var nanos: [Int64]
        var failed: [Bool]
        var next = 0, count = 0, failures = 0, successes = 0
        var latencySum: Int64 = 0

        init(size: Int) {
            nanos = Array(repeating: 0, count: size)
            failed = Array(repeating: false, count: size)
        }

        mutating func add(nanos value: Int64, failed isFailure: Bool) {
            if count == nanos.count {  // full: the oldest call leaves the window
                if failed[next] { failures -= 1 } else { successes -= 1; latencySum -= nanos[next] }
            } else {
                count += 1
            }
            nanos[next] = value
            failed[next] = isFailure
            if isFailure { failures += 1 } else { successes += 1; latencySum += value }
            next = (next + 1) % nanos.count
        }
    }
}

extension Duration {
    /// Whole nanoseconds (saturating), for sums of latencies.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return whole.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
