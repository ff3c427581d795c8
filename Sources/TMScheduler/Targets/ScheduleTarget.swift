import TMQueue

/// Where a schedule's slots go: a function (invoked through its invocation queue) or a queue.
public enum ScheduleTarget: Sendable, Hashable, CustomStringConvertible {
    case function(String)
    case queue(String)

    public var description: String {
        switch self {
        case .function(let name): return "function:\(name)"
        case .queue(let name): return "queue:\(name)"
        }
    }
}

/// Turns a schedule's target into the queue its slots are enqueued on. The scheduler is given
/// one, so the functions runtime can plug in how functions are invoked.
public protocol ScheduleTargetResolving: Sendable {
    /// The queue a schedule's target is invoked through (a function's invocation queue, or the named queue),
    /// or an error naming why it cannot be (unknown queue, function not deployed).
    func queue(for target: ScheduleTarget) throws -> QueueManifest
}

/// Why a target cannot be fired, said so an operator knows what to fix.
public struct ScheduleTargetError: Error, Sendable, Equatable, CustomStringConvertible {
    public let target: ScheduleTarget
    public let reason: String

    public init(target: ScheduleTarget, reason: String) {
        self.target = target
        self.reason = reason
    }

    public var description: String { "target \(target): \(reason)" }
}
