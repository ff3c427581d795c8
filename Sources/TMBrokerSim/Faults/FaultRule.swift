import Foundation

/// One injected fault: which requests it matches and what it does to them.
///
/// Matching: `broker` (nil = every broker), `method` (nil = any), and a path prefix on the broker's
/// own path (after `/kite`, `/upstox`...; empty = every path). Effects, combinable: added latency,
/// a hang before answering, an error rate with a status, a burst of 429s, or executing the request
/// and then closing the connection without a response. `remaining` (when set) is how many more
/// requests the rule applies to before it is removed.
public struct FaultRule: Sendable {
    public internal(set) var id: String
    public var broker: Broker?
    public var method: String?
    public var pathPrefix: String
    public var latencyMilliseconds: Int
    /// Probability (0...1) that a matching request is answered with `status` instead of being served.
    public var errorRate: Double
    public var status: Int
    /// How many more matching requests get the broker's 429.
    public var burst429: Int
    public var hangMilliseconds: Int
    public var dropResponseAfterExecute: Bool
    /// Probability (0...1) that a matching request is executed and its response dropped
    /// (with `dropResponseAfterExecute`; 1 drops every one).
    public var dropRate: Double
    public var remaining: Int?

    public init(id: String, broker: Broker? = nil, method: String? = nil, pathPrefix: String = "", latencyMilliseconds: Int = 0,
                errorRate: Double = 0, status: Int = 503, burst429: Int = 0, hangMilliseconds: Int = 0,
                dropResponseAfterExecute: Bool = false, dropRate: Double = 1, remaining: Int? = nil) {
        self.id = id
        self.broker = broker
        self.method = method
        self.pathPrefix = pathPrefix
        self.latencyMilliseconds = latencyMilliseconds
        self.errorRate = errorRate
        self.status = status
        self.burst429 = burst429
        self.hangMilliseconds = hangMilliseconds
        self.dropResponseAfterExecute = dropResponseAfterExecute
        self.dropRate = dropRate
        self.remaining = remaining
    }

    func matches(_ broker: Broker, _ method: String, _ path: String) -> Bool {
        (self.broker == nil || self.broker == broker) && (self.method == nil || self.method == method) && path.hasPrefix(pathPrefix)
    }

    /// True once nothing is left for the rule to do.
    var isSpent: Bool {
        if let remaining, remaining <= 0 { return true }
        let onlyBurst = latencyMilliseconds == 0 && errorRate == 0 && hangMilliseconds == 0 && !dropResponseAfterExecute
        return onlyBurst && burst429 <= 0
    }
}

/// What the matching rules do to one request, decided up front.
public struct FaultPlan: Sendable {
    public enum Outcome: Sendable, Equatable {
        case serve
        case error(status: Int)
        case rateLimited
        case dropAfterExecute
    }

    public var latencyMilliseconds = 0
    public var hangMilliseconds = 0
    public var outcome = Outcome.serve
    /// Ids of the rules that applied, for the log.
    public var ruleIDs: [String] = []
}
