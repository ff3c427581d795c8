import Foundation
import Testing
import TestSupport
import TMLocks
import TMQueue
@testable import TMScheduler

/// Exactly-once firing, each guarantee pinned without timing: interleavings are built step by step
/// (a reservation, then another writer, then the first one's completion), and "time passing" is a
/// row's recorded instant moved back.
@Suite struct ExactlyOnceFiringTests {
    /// A schedule onto a fresh queue, its manifest and an in-process firer.
    func setUp(_ world: SchedulerFixture) throws -> (schedule: ScheduleManifest, queue: QueueManifest, firer: SlotFirer) {
        let queue = try world.addQueue()
        let name = try world.addSchedule(expression: "rate(1 minute)", queue: queue)
        let service = try world.service()
        let schedule = try service.catalog.schedule(name)
        return (schedule, try service.firer.resolver.queue(for: schedule.target), service.firer)
    }

    /// As a crash between the enqueue and the confirmation leaves it: pending, sent, unconfirmed.
    func unconfirm(_ world: SchedulerFixture, _ slot: Slot, sentAgo: String = "1 second") async throws {
        try await world.pool.execute("""
            UPDATE schedule_firings SET state = 'pending', message_id = NULL, fired_at = NULL,
              enqueue_sent_at = now() - \(sentAgo)::interval
            WHERE schedule = \(slot.schedule) AND slot = \(slot.instant)
            """)
    }

    static let instant = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func twoFirersOfOneSlotEnqueueOnceAndExactlyOneSaysItFired() async throws {
        try await withScheduler { world in
            let (schedule, queue, firer) = try setUp(world)
            let other = SlotFirer(store: FiringStore(pool: world.pool), redis: world.redis, resolver: firer.resolver)
            let slots = (0..<12).map { Self.instant.addingTimeInterval(Double($0) * 60) }
            for instant in slots {
                async let a = firer.fire(schedule, at: instant, trigger: .manual, by: { .cli("a") })
                async let b = other.fire(schedule, at: instant, trigger: .schedule, by: { .cli("b") })
                let outcomes = try await [a, b]
                let claimed = outcomes.filter { if case .fired = $0 { true } else if case .completed = $0 { true } else { false } }
                #expect(claimed.count == 1, "\(outcomes)")
                #expect(Set(outcomes.map(\.messageID)).count == 1, "\(outcomes)")
            }
            #expect(try await world.enqueuedSlots(queue.name).sorted() == slots.map { Slot.iso8601($0, in: .gmt) })
        }
    }

    /// A caller that reserved the slot but completes it after another caller confirmed it reports
    /// `firedByAnother`, not `fired`: exactly one report of `fired` per slot, by construction.
    @Test func aReserverOvertakenByAnotherWriterReportsFiredByAnother() async throws {
        try await withScheduler { world in
            let (schedule, queue, firer) = try setUp(world)
            let slot = schedule.slot(Self.instant)
            guard case .created = try await world.store.reserve(slot, state: .pending, trigger: .manual, queue: queue.name, by: .cli("slow")) else {
                Issue.record("the slot had a row"); return
            }
            let overtaking = try await firer.fire(schedule, at: Self.instant, trigger: .manual, by: { .cli("fast") })
            guard case .completed(let id) = overtaking else { Issue.record("not completed: \(overtaking)"); return }
            let slow = try await firer.complete(schedule, slot: slot, queue: queue, jitter: false, by: { .cli("slow") })
            #expect(slow == .firedByAnother(messageID: id))
            #expect(try await world.enqueuedSlots(queue.name) == [slot.utc])
        }
    }

    /// The idempotency key: a firing interrupted after its enqueue landed is completed by
    /// enqueueing again under the slot's key, which returns the first message.
    @Test func anInterruptedFiringIsCompletedWithoutASecondMessage() async throws {
        try await withScheduler { world in
            let (schedule, queue, firer) = try setUp(world)
            let slot = schedule.slot(Self.instant)
            guard case .fired(let first) = try await firer.fire(schedule, at: Self.instant, trigger: .manual, by: { .cli("a") }) else {
                Issue.record("not fired"); return
            }
            try await unconfirm(world, slot)
            let completion = try await firer.complete(schedule, slot: slot, queue: queue, jitter: false, by: { .cli("b") })
            #expect(completion == .completed(messageID: first))
            #expect(try await world.enqueuedSlots(queue.name) == [slot.utc])
            #expect(try await world.firings(schedule.name).map(\.state) == [.enqueued])
        }
    }

    /// The row is the authority: once the first send is older than the key's record can be (here
    /// the record is gone, as it would be after the queue's retention), a late completion sends
    /// nothing and records why.
    @Test func aLateCompletionAfterTheIdempotencyRecordExpiredIsNotSentAgain() async throws {
        try await withScheduler { world in
            let (schedule, queue, firer) = try setUp(world)
            let slot = schedule.slot(Self.instant)
            guard case .fired = try await firer.fire(schedule, at: Self.instant, trigger: .manual, by: { .cli("a") }) else {
                Issue.record("not fired"); return
            }
            try await unconfirm(world, slot, sentAgo: "2 days")
            let keys = QueueKeys(queue: queue.name, shard: 0)
            #expect(try await world.redis.send("DEL", keys.idempotency(slot.key)).int == 1)

            let completion = try await firer.complete(schedule, slot: slot, queue: queue, jitter: false, by: { .cli("b") })
            guard case .unconfirmed(let row) = completion else { Issue.record("sent again: \(completion)"); return }
            #expect(row.state == .unconfirmed && row.detail?.contains(slot.key) == true, "\(row)")
            #expect(try await world.enqueuedSlots(queue.name) == [slot.utc], "the slot's message was enqueued a second time")
            // Settled: the leader's next pass does not try again.
            #expect(try await world.store.unsettled(of: schedule.name).isEmpty)
        }
    }

    /// A reserved slot whose enqueue was never sent is sent however late: nothing can be on the queue.
    @Test func aReservedSlotNeverSentIsSentHoweverLate() async throws {
        try await withScheduler { world in
            let (schedule, queue, firer) = try setUp(world)
            let slot = schedule.slot(Self.instant)
            _ = try await world.store.reserve(slot, state: .pending, trigger: .schedule, queue: queue.name, by: .cli("crashed"))
            try await world.pool.execute("UPDATE schedule_firings SET created_at = now() - interval '30 days' WHERE schedule = \(schedule.name)")
            let completion = try await firer.complete(schedule, slot: slot, queue: queue, jitter: false, by: { .cli("b") })
            guard case .completed = completion else { Issue.record("not completed: \(completion)"); return }
            #expect(try await world.enqueuedSlots(queue.name) == [slot.utc])
        }
    }

    /// The leader's own check, before Postgres is asked: once its lease may have expired (a pause),
    /// the term refuses to write at all.
    @Test func aLeaderTermRefusesAuthorityOnceItsLeaseMayHaveExpired() async throws {
        try await withScheduler { world in
            let lock = DistributedLock(redis: world.redis)
            let lease = try #require(try await lock.tryAcquire(world.lock, ttl: .milliseconds(200)))
            let term = LeaderTerm(lease: lease, identity: LeaderElection.identity(lease))
            try await eventually("the lease's local expiry") { lease.mayHaveExpired }
            #expect(throws: LockError.leaseLost(resource: world.lock)) { try term.authority() }

            let live = LeaderTerm(lease: try await lock.acquire(world.lock, ttl: .seconds(30), waitUpTo: .seconds(20)),
                                  identity: LeaderElection.identity(lease))
            #expect(throws: Never.self) { try live.authority() }
            live.lose()
            #expect(throws: LockError.leaseLost(resource: world.lock)) { try live.authority() }
        }
    }
}
