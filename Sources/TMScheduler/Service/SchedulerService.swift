import Foundation
import Logging
import TMCore
import TMLocks
import TMPostgres
import TMQueue
import TMRedis

/// How a scheduler campaigns and ticks.
public struct SchedulerOptions: Sendable {
    /// The lock every scheduler of one system campaigns for.
    public var resource = "scheduler:leader"
    /// The leader lease; a dead leader is replaced within about this long.
    public var leaseTTL: Duration = .seconds(10)
    /// The longest the leader sleeps between ticks (it wakes sooner for a due slot).
    public var tick: Duration = .milliseconds(500)

    public init(resource: String = "scheduler:leader", leaseTTL: Duration = .seconds(10), tick: Duration = .milliseconds(500)) {
        self.resource = resource
        self.leaseTTL = leaseTTL
        self.tick = tick
    }
}

/// The scheduler service (`tm schedule run`): campaigns for leadership and, while leader, fires
/// every enabled schedule's due slots.
///
/// Guarantees: each slot is fired at most once (see `SlotFirer`) and, while some scheduler
/// leads, at least once or deliberately not — missed slots by the misfire policy, overlapping
/// ones by the overlap policy, each recorded in `schedule_firings` with the reason. A schedule
/// whose target cannot be resolved, or whose firing fails, is logged and retried next tick;
/// the others keep running. Several services can run at once: one leads, the others stand by.
public final class SchedulerService: Sendable {
    public let catalog: ScheduleCatalog
    public let options: SchedulerOptions
    let firer: SlotFirer
    let overlap: OverlapCheck
    let election: LeaderElection
    let logger: Logger
    /// The last problem logged per schedule, so a persistent one is logged once, not every tick.
    private let problems = Locked<[String: String]>([:])

    public init(
        catalog: ScheduleCatalog, resolver: any ScheduleTargetResolving, redis: RedisClient, pool: PostgresPool,
        options: SchedulerOptions = SchedulerOptions(), logger: Logger = Logger(label: "tm.scheduler")
    ) {
        let store = FiringStore(pool: pool)
        self.catalog = catalog
        self.options = options
        self.firer = SlotFirer(store: store, redis: redis, resolver: resolver)
        self.overlap = OverlapCheck(store: store, redis: redis)
        self.election = LeaderElection(redis: redis, resource: options.resource, ttl: options.leaseTTL, logger: logger)
        self.logger = logger
    }

    /// Runs until the task is cancelled; on cancellation a leader finishes the tick in flight (one
    /// schedule's), starts no other, and releases the lease.
    public func run() async {
        logger.info("scheduler started", metadata: [
            "schedules": "\(catalog.schedules.map(\.name).joined(separator: ","))", "lock": "\(options.resource)",
        ])
        await election.run { term in try await self.lead(term) }
    }

    /// The leader's loop: tick, then sleep until the next due slot or `options.tick`.
    func lead(_ term: LeaderTerm) async throws {
        try await firer.store.claim(by: try term.authority())
        while true {
            try Task.checkCancellation()
            _ = try term.authority()
            let now = Date()
            var wake = now.addingTimeInterval(options.tick.seconds)
            for schedule in catalog.schedules where schedule.enabled {
                // A stop lets the tick in flight finish but starts no other: while Postgres is
                // unreachable each tick spends the pool's reconnect budget, so finishing the round
                // would hold a SIGTERM for seconds per schedule.
                try Task.checkCancellation()
                do {
                    // A tick once begun is finished: it runs in a task of its own, which a shutdown
                    // (cancellation) does not interrupt between reserving a slot and enqueueing it.
                    // A lost lease still stops it, at its next write.
                    let next = try await Task { try await self.tick(schedule, now: now, term: term) }.value
                    if let next { wake = min(wake, next) }
                    problem(schedule.name, nil)
                } catch let error as LockError {
                    throw error  // deposed: no schedule may fire any more
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    problem(schedule.name, "\(error)")
                }
            }
            try await Task.sleep(for: .milliseconds(max(Int64(wake.timeIntervalSinceNow * 1000), 5)))
        }
    }

    /// One schedule's turn: finish interrupted and buffered slots, then fire (or record) the due ones.
    /// Returns the next fire time, so the loop can wake for it.
    func tick(_ schedule: ScheduleManifest, now: Date, term: LeaderTerm) async throws -> Date? {
        let queue = try firer.resolver.queue(for: schedule.target)
        let store = firer.store
        var buffered = false
        for firing in try await store.unsettled(of: schedule.name) {
            let slot = schedule.slot(firing.slot)
            if firing.state == .buffered, try await overlap.previousRunIsActive(schedule, before: firing.slot, queue: queue) {
                buffered = true
                continue
            }
            switch try await firer.complete(schedule, slot: slot, queue: queue, by: term.authority) {
            case .unconfirmed(let row):
                logger.error("slot not confirmed and not sent again", metadata: [
                    "schedule": "\(schedule.name)", "slot": "\(slot.utc)", "detail": "\(row.detail ?? "")"])
            case let outcome:
                log("fired", schedule, slot, trigger: firing.trigger, ["message_id": "\(outcome.messageID ?? "")", "was": "\(firing.state.rawValue)"])
            }
        }

        // Due slots come after the latest one that has a row; a schedule without any starts when first seen.
        let start: Date
        if let latest = try await store.latestSlot(of: schedule.name) {
            start = latest
        } else {
            start = try await store.firstSeen(schedule.name, now: now, by: try term.authority())
        }
        let plan = DuePlan.make(schedule.times, after: start, now: now, grace: schedule.misfireGrace, policy: schedule.misfire)
        if plan.missed > 0 {
            logger.warning("missed slots", metadata: [
                "schedule": "\(schedule.name)", "missed": "\(plan.missed)", "misfire": "\(schedule.misfire)",
                "firing": "\(plan.fire.filter { $0.trigger == .catchUp }.count)",
            ])
        }
        for instant in plan.skipped {
            try await firer.record(schedule, at: instant, .skippedMisfire, trigger: .schedule, queue: queue.name,
                                   detail: "missed while no scheduler ran (misfire: \(schedule.misfire))", by: try term.authority())
        }
        for due in plan.fire {
            let slot = schedule.slot(due.slot)
            // Busy with a slot already buffered: skipped, like overlap: skip.
            let busy = schedule.overlap != .allow
                ? try await overlap.previousRunIsActive(schedule, before: due.slot, queue: queue) : false
            switch (busy, busy && buffered ? .skip : schedule.overlap) {
            case (true, .skip):
                let reason = buffered ? "the previous run is still going and a slot is already buffered" : "the previous run is still going"
                try await firer.record(schedule, at: due.slot, .skippedOverlap, trigger: due.trigger, queue: queue.name,
                                       detail: reason, by: try term.authority())
                log("skipped (overlap)", schedule, slot, trigger: due.trigger, [:])
            case (true, .bufferOne):
                try await firer.record(schedule, at: due.slot, .buffered, trigger: due.trigger, queue: queue.name,
                                       detail: "waits for the previous run to end", by: try term.authority())
                buffered = true
                log("buffered", schedule, slot, trigger: due.trigger, [:])
            default:
                switch try await firer.fire(schedule, at: due.slot, trigger: due.trigger, by: term.authority) {
                case .fired(let id), .completed(let id):
                    log("fired", schedule, slot, trigger: due.trigger, ["message_id": "\(id)"])
                case .firedByAnother, .alreadyHandled, .unconfirmed:
                    break
                }
            }
        }
        return schedule.times.next(after: now)
    }

    private func log(_ message: Logger.Message, _ schedule: ScheduleManifest, _ slot: Slot, trigger: Firing.Trigger, _ extra: Logger.Metadata) {
        logger.info(message, metadata: extra.merging([
            "schedule": "\(schedule.name)", "slot": "\(slot.utc)", "trigger": "\(trigger.rawValue)",
        ]) { $1 })
    }

    /// Logs a schedule's problem when it appears or changes, and its end once.
    private func problem(_ schedule: String, _ problem: String?) {
        let previous = problems.withLock { problems in
            defer { problems[schedule] = problem }
            return problems[schedule]
        }
        guard previous != problem else { return }
        if let problem {
            logger.error("schedule not firing", metadata: ["schedule": "\(schedule)", "reason": "\(problem)"])
        } else if previous != nil {
            logger.info("schedule firing again", metadata: ["schedule": "\(schedule)"])
        }
    }
}
