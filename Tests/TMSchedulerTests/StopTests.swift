import Foundation
import Testing
import TestSupport
import TMCore
import TMQueue
@testable import TMScheduler

/// Stopping a scheduler: the tick in flight finishes, no other starts. While Postgres is
/// unreachable every tick spends the pool's reconnect budget, so a stop that waited for the whole
/// round of schedules held a SIGTERM for seconds per schedule.
@Suite struct StopTests {
    /// Resolves through the fixture's queues, counting the ticks that start, and stops the service
    /// (through `stop`) from inside the first tick — i.e. while a tick is in flight.
    final class StoppingResolver: ScheduleTargetResolving, @unchecked Sendable {
        let inner: any ScheduleTargetResolving
        let ticks = Locked(0)
        let stop: @Sendable () -> Void

        init(inner: any ScheduleTargetResolving, stop: @escaping @Sendable () -> Void) {
            self.inner = inner
            self.stop = stop
        }

        func queue(for target: ScheduleTarget) throws -> QueueManifest {
            let tick = ticks.withLock { $0 += 1; return $0 }
            if tick == 1 { stop() }
            return try inner.queue(for: target)
        }
    }

    /// Cancels the task once both the request and the task exist, whichever comes first.
    final class StopSwitch: @unchecked Sendable {
        private let state = Locked<(requested: Bool, task: Task<Void, Never>?)>((false, nil))

        func request() {
            let task = state.withLock { $0.requested = true; return $0.task }
            task?.cancel()
        }

        func attach(_ task: Task<Void, Never>) {
            let requested = state.withLock { $0.task = task; return $0.requested }
            if requested { task.cancel() }
        }
    }

    @Test func aStopStartsNoFurtherTickAfterTheOneInFlight() async throws {
        try await withScheduler { world in
            let queue = try world.addQueue()
            for _ in 0..<3 { try world.addSchedule(expression: "rate(1 second)", queue: queue) }
            let catalog = try ScheduleCatalog.load(directory: world.directory.appendingPathComponent("Schedules"))
            let queues = QueueTargetResolver(catalog: try QueueCatalog.load(directory: world.directory.appendingPathComponent("Queues")))
            let stop = StopSwitch()
            let resolver = StoppingResolver(inner: queues, stop: { stop.request() })
            let service = SchedulerService(catalog: catalog, resolver: resolver, redis: world.redis, pool: world.pool,
                                           options: SchedulerOptions(resource: world.lock, leaseTTL: .seconds(2), tick: .milliseconds(200)))
            let running = Task { await service.run() }
            stop.attach(running)
            await running.value

            #expect(resolver.ticks.current == 1, "ticks started: \(resolver.ticks.current) of 3 schedules")
            #expect(try await world.leader() == nil, "the lease is released")
        }
    }
}
