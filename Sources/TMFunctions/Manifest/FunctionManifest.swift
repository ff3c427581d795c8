import Foundation
import TMManifest
import TMQueue

/// One function as declared in `Functions/<name>/function.yaml`: what invokes it and how.
///
/// Guarantees: every value has been validated when it loads; `invocationQueue` and
/// `consumedQueue(_:)` are the only places that decide which queue a function's messages live in.
public struct FunctionManifest: Sendable, Hashable {
    /// What invokes the function besides direct invocations (`tm invoke`, schedules).
    public enum Trigger: Sendable, Hashable {
        /// Every message of the queue (a consumer group of its own when several functions share it).
        case queue(String)
        /// Only schedules and direct invocations.
        case schedules
    }

    /// Per-function overrides of the trigger queue's retry settings.
    public struct Retry: Sendable, Hashable {
        public var maxDeliveries: Int?
        public var backoff: QueueManifest.Backoff?
        public init(maxDeliveries: Int? = nil, backoff: QueueManifest.Backoff? = nil) {
            self.maxDeliveries = maxDeliveries
            self.backoff = backoff
        }
    }

    public var name: String
    public var description: String?
    /// The executable's name (default: the function's name), found next to `tm` or in `TM_FUNCTIONS_BIN`.
    public var executable: String
    public var trigger: Trigger = .schedules
    /// Past this an invocation gets SIGTERM, then SIGKILL after `killGrace`, and counts as a `timeout`.
    public var timeout: Duration = .seconds(60)
    public var killGrace: Duration = .seconds(5)
    /// The most invocations running at once, across every dispatcher (counted in Redis).
    public var reservedConcurrency: Int = 4
    /// Records per invocation, and how long a partial batch waits for more.
    public var batchSize: Int = 1
    public var batchWindow: Duration = .zero
    /// Keep the process for further invocations (one request per line).
    public var warm = false
    /// A warm process is replaced after this many invocations, or after idling this long.
    public var maxInvocationsPerProcess: Int = 1000
    public var idleTimeout: Duration = .seconds(300)
    /// Added to the allow-listed environment the dispatcher passes (`FunctionEnvironment`).
    public var environment: [String: String] = [:]
    /// The secret variables the function gets (each one of `FunctionEnvironment.secrets`); no
    /// other function sees them.
    public var secrets: [String] = []
    /// The most bytes the result may take on stdout (past it the invocation fails as `garbage`),
    /// and the most stderr bytes kept and forwarded per invocation.
    public var maxOutput: Int = 1 << 20
    public static let maxOutputRange = 1024...(256 << 20)
    public var retry = Retry()

    public init(name: String) {
        self.name = name
        self.executable = name
    }

    /// The derived queue that carries direct invocations of this function (schedules, `tm invoke --async`).
    public var invocationQueueName: String { Self.invocationQueueName(name) }

    public static func invocationQueueName(_ function: String) -> String { "fn:\(function)" }

    /// The manifest of the invocation queue: a plain queue with this function's retry settings.
    public var invocationQueue: QueueManifest {
        var queue = QueueManifest(name: invocationQueueName)
        queue.description = "Direct invocations of the function \(name) (schedules, tm invoke)."
        // Heartbeats keep a running invocation owned however long it takes: a short timeout only
        // decides how soon a dead dispatcher's invocations run elsewhere.
        queue.visibilityTimeout = .seconds(6)
        queue.maxLength = 10_000
        return applyingOverrides(to: queue)
    }

    /// The queue this function consumes for messages of `trigger`: the queue itself when the function
    /// is its only subscriber, else a subscription queue `<queue>@<function>` fed by the router.
    public func consumedQueue(_ trigger: QueueManifest, shared: Bool) -> QueueManifest {
        var queue = trigger
        if shared {
            queue.name = "\(trigger.name)@\(name)"
            queue.description = "The \(name) function's copy of every message of \(trigger.name)."
        }
        return applyingOverrides(to: queue)
    }

    func applyingOverrides(to queue: QueueManifest) -> QueueManifest {
        var queue = queue
        if let max = retry.maxDeliveries { queue.maxDeliveries = max }
        if let backoff = retry.backoff { queue.backoff = backoff }
        // How many messages a dispatcher holds and fetches is the consumer's business
        // (`Dispatcher.consumerOptions`), not the queue's.
        return queue
    }
}

/// A function manifest that cannot be used, naming the file, the field and the reason.
public typealias FunctionManifestError = ManifestError
