import Foundation
import TMCore
import TMManifest

/// One queue as declared in `Queues/<name>.yaml`: how its messages are delivered, retried,
/// dead-lettered and kept.
///
/// Guarantees: every value has been validated (a manifest that loads is one the runtime can honour);
/// the defaults are the ones a queue gets when its file says nothing.
public struct QueueManifest: Sendable, Hashable {
    /// Retry delays: exponential from `base`, capped at `cap`, with jitter.
    public struct Backoff: Sendable, Hashable {
        public enum Jitter: String, Sendable, CaseIterable { case full, equal, none }
        public var base: Duration = .seconds(1)
        public var cap: Duration = .seconds(300)
        public var jitter: Jitter = .full

        public init(base: Duration = .seconds(1), cap: Duration = .seconds(300), jitter: Jitter = .full) {
            self.base = base
            self.cap = cap
            self.jitter = jitter
        }

        /// The ceiling of the delay before retry number `attempt` (1 = the first retry).
        public func ceiling(forRetry attempt: Int) -> Duration {
            let exponent = min(max(attempt - 1, 0), 40)
            let millis = min(Double(base.milliseconds) * pow(2, Double(exponent)), Double(cap.milliseconds))
            return .milliseconds(Int64(millis))
        }

        /// A delay for retry number `attempt`: full jitter draws uniformly from [0, ceiling] (the
        /// spread that keeps a failed batch from retrying in lockstep); equal jitter from
        /// [ceiling/2, ceiling]; none is the ceiling itself.
        public func delay(forRetry attempt: Int) -> Duration {
            let ceiling = ceiling(forRetry: attempt).milliseconds
            switch jitter {
            case .none: return .milliseconds(ceiling)
            case .full: return .milliseconds(Int64.random(in: 0...max(ceiling, 0)))
            case .equal: return .milliseconds(ceiling / 2 + Int64.random(in: 0...max(ceiling - ceiling / 2, 0)))
            }
        }
    }

    /// How long finished and dead work stays answerable.
    public struct Retention: Sendable, Hashable {
        /// How long a finished message's idempotency record answers duplicates and replays.
        public var completed: Duration = .seconds(86_400)
        /// How long dead letters are kept before trimming.
        public var deadLetters: Duration = .seconds(14 * 86_400)
        public init(completed: Duration = .seconds(86_400), deadLetters: Duration = .seconds(14 * 86_400)) {
            self.completed = completed
            self.deadLetters = deadLetters
        }
    }

    public var name: String
    public var description: String?
    /// Number of streams; messages with the same shard key always land on the same shard.
    public var shards: Int = 1
    /// The payload field whose value picks the shard (e.g. `account_id`), for per-key ordering.
    public var shardBy: String?
    /// A delivered message not acknowledged (or heartbeated) within this time is reclaimed.
    public var visibilityTimeout: Duration = .seconds(30)
    /// Handler attempts before a message is dead-lettered.
    public var maxDeliveries: Int = 3
    /// Reclaims after crashes or lost consumers before a message is dead-lettered as a poison pill.
    /// Crashes do not use up `maxDeliveries`: only a handler's own failure does.
    public var maxReclaims: Int = 5
    public var backoff = Backoff()
    /// How long a message may keep being deferred (`RetryDeferring`: nothing was done, run again
    /// not before a time) without its deferrals counting against `maxDeliveries`, from its first
    /// deferral. Past it, a deferral counts as a failed attempt, and the last one dead-letters the
    /// message as `deferral_exhausted`: a dependency that never recovers still ends the message.
    public var maxDeferral: Duration = .seconds(600)
    /// Backlog (ready + delayed) above which enqueue is refused: backpressure, never a silent trim.
    public var maxLength: Int = 100_000
    public var maxPayloadBytes: Int = 256 * 1024
    /// Handlers running at once in one consumer process.
    public var concurrency: Int = 8
    /// Messages fetched per read.
    public var batchSize: Int = 32
    public var retention = Retention()

    public init(name: String) { self.name = name }
}

/// A queue manifest that cannot be used, naming the file, the field and the reason.
public typealias QueueManifestError = ManifestError
