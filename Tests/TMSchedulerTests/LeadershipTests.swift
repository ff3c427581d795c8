import Foundation
import Testing
import TestSupport
import TMLocks
import TMQueue
@testable import TMScheduler

/// Several `tm schedule run` processes over one schedule: one leads, and every slot is enqueued
/// exactly once — across a SIGKILLed leader and a paused (deposed) one.
@Suite struct LeadershipTests {
    /// A queue, a `rate(1 second)` schedule onto it and two schedulers (lease 2 s), run for a while
    /// after the first slot fired; returns the one leading then and the other.
    func twoSchedulersFiring(
        _ world: SchedulerFixture, for duration: Duration
    ) async throws -> (queue: String, schedule: String, leader: ChildProcess, standby: ChildProcess) {
        let queue = try world.addQueue()
        let schedule = try world.addSchedule(expression: "rate(1 second)", queue: queue)
        let schedulers = [try world.startScheduler(leaseTTL: "2s"), try world.startScheduler(leaseTTL: "2s")]
        try await eventually("the first slot") { try await !world.firings(schedule).isEmpty }
        try await Task.sleep(for: duration)
        let leading = try #require(try await world.leader())
        let leader = try #require(schedulers.first { $0.pid == leading.pid })
        let standby = try #require(schedulers.first { $0.pid != leading.pid })
        return (queue, schedule, leader, standby)
    }

    @Test func twoSchedulersEnqueueEverySlotExactlyOnce() async throws {
        try await withScheduler { world in
            let queue = try world.addQueue()
            let schedule = try world.addSchedule(expression: "rate(1 second)", queue: queue)
            let schedulers = [try world.startScheduler(), try world.startScheduler()]
            try await eventually("the first slot") { try await !world.firings(schedule).isEmpty }
            try await Task.sleep(for: .seconds(8))
            for scheduler in schedulers { scheduler.terminate() }
            #expect(schedulers.allSatisfy { !$0.isRunning })

            let firings = try await world.firings(schedule)
            #expect(firings.count >= 6, "\(firings.count) slots in 8 s")
            // Which scheduler leads, and whether a loaded machine made it change hands, is timing:
            // the guarantee is that every slot was enqueued once, whoever fired it.
            expectEverySlotOnce(firings, every: 1, queued: try await world.enqueuedSlots(queue), world.logs())
            #expect(try await world.leader() == nil, "a stopped leader withdraws its identity")
        }
    }

    @Test func aKilledLeaderIsReplacedWithinTheLeaseAndNoSlotIsLostOrDoubled() async throws {
        try await withScheduler { world in
            let (queue, schedule, leader, standby) = try await twoSchedulersFiring(world, for: .seconds(3))

            leader.kill()
            let killedAt = ContinuousClock.now
            try await eventually("the standby to lead") { try await world.leader()?.pid == standby.pid }
            // The lease (2 s) runs out, then the standby's next try (every ttl/3) wins: printed, not
            // asserted — a loaded machine stretches it, and the guarantee is what gets fired.
            print("leader takeover after SIGKILL: \(ContinuousClock.now - killedAt)")
            try await Task.sleep(for: .seconds(4))
            standby.terminate()

            let firings = try await world.firings(schedule)
            let tokens = Set(firings.compactMap(\.fencingToken))
            // At least the killed leader's token and the standby's; a loaded machine may also have
            // handed the 2 s lease over before the kill (a third token) — timing, not the guarantee.
            #expect(tokens.count >= 2, "both leaders fired: \(tokens)")
            expectEverySlotOnce(firings, every: 1, queued: try await world.enqueuedSlots(queue), world.logs())
        }
    }

    @Test func aPausedLeaderFiresNothingOnceAnotherTookOver() async throws {
        try await withScheduler { world in
            let (queue, schedule, stale, other) = try await twoSchedulersFiring(world, for: .seconds(2))
            let first = try #require(try await world.leader())

            stale.pause()
            try await eventually("the other to lead") { try await world.leader()?.pid == other.pid }
            let second = try #require(try await world.leader())
            try await Task.sleep(for: .seconds(2))
            stale.resume()
            try await Task.sleep(for: .seconds(4))
            #expect(stale.isRunning, "the deposed leader stands by instead of crashing")
            #expect(try await world.leader()?.pid == other.pid)
            for scheduler in [stale, other] { scheduler.terminate() }

            let firings = try await world.firings(schedule)
            let byStale = firings.filter { $0.fencingToken == first.fencingToken }
            let byOther = firings.filter { $0.fencingToken == second.fencingToken }
            #expect(!byStale.isEmpty && !byOther.isEmpty)
            #expect(byStale.map(\.slot).max()! < byOther.map(\.slot).min()!, "the paused leader fired after the takeover")
            #expect(byStale.count + byOther.count == firings.count)
            expectEverySlotOnce(firings, every: 1, queued: try await world.enqueuedSlots(queue), world.logs())
        }
    }

    /// The fence itself, without process timing: a leader whose lease was taken over cannot write
    /// a firing row, so it never enqueues — even if it does not know it was deposed.
    @Test func aDeposedLeadersWriteIsRefusedByTheFencingToken() async throws {
        try await withScheduler { world in
            let queue = try world.addQueue()
            let name = try world.addSchedule(expression: "rate(1 second)", queue: queue)
            let service = try world.service()
            let schedule = try service.catalog.schedule(name)
            let lock = DistributedLock(redis: world.redis)
            let old = try #require(try await lock.tryAcquire(world.lock, ttl: .seconds(30)))
            try await world.store.claim(by: .leader(old, identity: "old"))
            // The old lease runs out during a pause (its key vanishes), and another scheduler wins.
            try await world.redis.send("DEL", DistributedLock.ownerKey(world.lock))
            let new = try #require(try await lock.tryAcquire(world.lock, ttl: .seconds(30)))
            try await world.store.claim(by: .leader(new, identity: "new"))

            let slot = Slot.wholeSeconds(Date())
            await #expect(throws: LockError.staleFencingToken(resource: world.lock, token: old.fencingToken)) {
                try await service.firer.fire(schedule, at: slot, trigger: .schedule, by: { .leader(old, identity: "old") })
            }
            #expect(try await world.firings(name).isEmpty)
            #expect(try await world.enqueuedSlots(queue).isEmpty)

            let outcome = try await service.firer.fire(schedule, at: slot, trigger: .schedule, by: { .leader(new, identity: "new") })
            guard case .fired = outcome else { Issue.record("not fired: \(outcome)"); return }
            #expect(try await world.enqueuedSlots(queue) == [Slot.iso8601(slot, in: .gmt)])
        }
    }
}
