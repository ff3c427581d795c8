import TMQueue

/// Resolves both kinds of target: `queue:` through the queue catalog, `function:` through the
/// function runtime's lookup (the function's invocation queue, `fn:<name>`), which the caller
/// supplies so the scheduler does not depend on the runtime.
///
/// Guarantees: a function that is not deployed (no manifest) is refused with the runtime's reason
/// (naming the functions that are), so `tm schedules` can say why a schedule is not firing.
public struct FunctionTargetResolver: ScheduleTargetResolving {
    public let queues: QueueTargetResolver
    private let invocationQueue: @Sendable (String) throws -> QueueManifest

    public init(queues: QueueTargetResolver, invocationQueue: @escaping @Sendable (String) throws -> QueueManifest) {
        self.queues = queues
        self.invocationQueue = invocationQueue
    }

    public func queue(for target: ScheduleTarget) throws -> QueueManifest {
        guard case .function(let name) = target else { return try queues.queue(for: target) }
        do {
            return try invocationQueue(name)
        } catch {
            throw ScheduleTargetError(target: target, reason: "function '\(name)' is not deployed: \(error)")
        }
    }
}
