import TMQueue

/// Resolves `queue:` targets against the queue catalog (`Queues/*.yaml`).
///
/// Guarantees: a queue target resolves to its manifest or fails naming the known queues; a
/// function target always fails, saying that functions need the functions runtime's resolver.
public struct QueueTargetResolver: ScheduleTargetResolving {
    public let catalog: QueueCatalog

    public init(catalog: QueueCatalog) {
        self.catalog = catalog
    }

    public func queue(for target: ScheduleTarget) throws -> QueueManifest {
        switch target {
        case .queue(let name):
            guard let manifest = catalog[name] else {
                throw ScheduleTargetError(target: target, reason: "no queue '\(name)' in Queues/ (known: \(catalog.names.joined(separator: ", ")))")
            }
            return manifest
        case .function:
            throw ScheduleTargetError(target: target, reason: "function targets need the functions runtime's resolver; this scheduler resolves queues only")
        }
    }
}
