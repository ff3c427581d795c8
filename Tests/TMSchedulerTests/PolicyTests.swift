import Foundation
import Testing
import TestSupport
import TMCore
import TMQueue
import TMRedis
@testable import TMScheduler

/// Misfire and overlap policies, and the completion of interrupted firings, with in-process
/// scheduler services over the real Redis and Postgres.
@Suite struct PolicyTests {
    /// Runs a scheduler service until `body` returns, then stops it (stepping down).
    func running(_ service: SchedulerService, _ body: () async throws -> Void) async throws {
        let task = Task { await service.run() }
        do {
            try await body()
        } catch {
            task.cancel()
            await task.value
            throw error
        }
        task.cancel()
        await task.value
    }

    @Test func missedSlotsFollowEachMisfirePolicy() async throws {
        try await withScheduler { world in
            let queue = try world.addQueue()
            let grace = "misfire_grace: 1s\n"
            let skip = try world.addSchedule(expression: "rate(2 seconds)", queue: queue, settings: grace + "misfire: skip")
            let once = try world.addSchedule(expression: "rate(2 seconds)", queue: queue, settings: grace + "misfire: fire-once")
            let catchUp = try world.addSchedule(expression: "rate(2 seconds)", queue: queue, settings: grace + "misfire: catch-up\ncatch_up_limit: 2")
            let names = [skip, once, catchUp]

            try await running(try world.service()) {
                for name in names {
                    try await eventually("\(name) to fire") { try await world.firings(name).contains { $0.state == .enqueued } }
                }
            }
            var lastBefore: [String: Date] = [:]
            for name in names { lastBefore[name] = try await world.firings(name).last?.slot }
            // Down for 3+ slots past the grace.
            try await Task.sleep(for: .seconds(8))
            let restartedAt = Date()
            try await running(try world.service()) {
                for name in names {
                    try await eventually("\(name) to fire on time again") {
                        try await world.firings(name).contains { $0.slot > restartedAt && $0.state == .enqueued }
                    }
                }
            }

            for name in names {
                let firings = try await world.firings(name)
                let after = firings.filter { $0.slot > lastBefore[name]! }
                let missed = after.filter { $0.state == .skippedMisfire || $0.trigger == .catchUp }
                let caughtUp = after.filter { $0.trigger == .catchUp }
                let skipped = after.filter { $0.state == .skippedMisfire }
                let context = "\(name): \(after.map { "\(Slot.iso8601($0.slot, in: .gmt)) \($0.state.rawValue) \($0.trigger.rawValue)" })"
                #expect(missed.count >= 3, "\(context)")
                let allEnqueued = caughtUp.allSatisfy { $0.state == .enqueued }
                #expect(allEnqueued, "\(context)")
                let latestFire = skipped.map(\.slot).max().map { latest in caughtUp.allSatisfy { latest < $0.slot } } ?? true
                #expect(latestFire, "the most recent missed slots fire: \(context)")
                switch name {
                case skip: #expect(caughtUp.isEmpty, "\(context)")
                case once: #expect(caughtUp.count == 1, "\(context)")
                default: #expect(caughtUp.count == 2, "\(context)")
                }
                // No gaps and no doubles: every slot has one row, whatever became of it.
                let gaps = zip(firings, firings.dropFirst()).filter { Int($1.slot.timeIntervalSince($0.slot).rounded()) != 2 }
                #expect(gaps.isEmpty, "\(context)")
            }
            // The queue holds exactly the enqueued slots.
            let enqueued = try await names.asyncFlatMap { try await world.firings($0).filter { $0.state == .enqueued } }
            #expect(try await world.enqueuedSlots(queue).count == enqueued.count)
        }
    }

    @Test func slotsThatOverlapAnUnfinishedRunFollowTheOverlapPolicy() async throws {
        try await withScheduler { world in
            let (skipQueue, bufferQueue, allowQueue) = (try world.addQueue(), try world.addQueue(), try world.addQueue())
            let skip = try world.addSchedule(expression: "rate(1 second)", queue: skipQueue, settings: "overlap: skip")
            let buffer = try world.addSchedule(expression: "rate(1 second)", queue: bufferQueue, settings: "overlap: buffer-one")
            let allow = try world.addSchedule(expression: "rate(1 second)", queue: allowQueue, settings: "overlap: allow")

            try await running(try world.service()) {
                // Nobody consumes: the first run of each never finishes. A slot's row is written
                // `pending` before its policy is applied, so only decided slots are judged (on a
                // loaded machine the newest one may still be pending when read).
                func decided(_ name: String) async throws -> [Firing] { try await world.firings(name).filter { $0.state != .pending } }
                try await eventually("three slots of each") {
                    for name in [skip, buffer, allow] {
                        if try await decided(name).count < 4 { return false }
                    }
                    return true
                }
                let skipped = try await decided(skip)
                #expect(skipped.first?.state == .enqueued)
                #expect(skipped.dropFirst().allSatisfy { $0.state == .skippedOverlap }, "\(skipped.map(\.state))")
                let buffered = try await decided(buffer)
                #expect(buffered.map(\.state).prefix(2) == [.enqueued, .buffered], "\(buffered.map(\.state))")
                #expect(buffered.dropFirst(2).allSatisfy { $0.state == .skippedOverlap }, "\(buffered.map(\.state))")
                #expect(try await decided(allow).allSatisfy { $0.state == .enqueued })

                // The first runs finish: the buffered slot fires at once, and skip fires again.
                let consumers = try [skipQueue, bufferQueue].map { queue in
                    let manifest = try QueueCatalog.load(directory: world.directory.appendingPathComponent("Queues")).manifest(queue)
                    var options = QueueConsumer.Options()
                    options.blockTimeout = .milliseconds(200)
                    let consumer = QueueConsumer(manifest: manifest, redis: world.redis.configuration, options: options) { _ in nil }
                    return (consumer, Task { try await consumer.run() })
                }
                let bufferedSlot = buffered[1].slot
                try await eventually("the buffered slot to fire") {
                    try await world.firings(buffer).first { $0.slot == bufferedSlot }?.state == .enqueued
                }
                try await eventually("skip to fire again") { try await world.firings(skip).filter { $0.state == .enqueued }.count >= 2 }
                for (consumer, task) in consumers {
                    consumer.stop()
                    try await task.value
                }
            }
            let allowed = try await world.firings(allow)
            expectEverySlotOnce(allowed, every: 1, queued: try await world.enqueuedSlots(allowQueue), "allow")
            // A buffered slot fires after the run it waited for, once.
            let buffered = try await world.firings(buffer)
            let fired = buffered.filter { $0.state == .enqueued }
            #expect(Set(fired.map(\.key)).count == fired.count)
            #expect(fired[1].firedAt! > fired[0].firedAt!)
        }
    }

    @Test func anInterruptedFiringIsCompletedOnceByTheNextLeader() async throws {
        try await withScheduler { world in
            let queue = try world.addQueue()
            let name = try world.addSchedule(expression: "rate(1 hour)", queue: queue)
            let service = try world.service()
            let schedule = try service.catalog.schedule(name)
            // Two slots a crashed leader left pending: one before its enqueue, one after it.
            let hour = 3600.0
            let now = Date().timeIntervalSince1970
            let (early, late) = (Date(timeIntervalSince1970: (now / hour).rounded(.down) * hour - hour),
                                 Date(timeIntervalSince1970: (now / hour).rounded(.down) * hour))
            for instant in [early, late] {
                _ = try await world.store.reserve(schedule.slot(instant), state: .pending, trigger: .schedule, queue: queue, by: .cli("crashed"))
            }
            let producer = QueueProducer(redis: world.redis, catalog: try QueueCatalog.load(directory: world.directory.appendingPathComponent("Queues")))
            try await producer.enqueue(queue, OutgoingMessage(payload: schedule.message(for: late), key: schedule.slot(late).key, shardKey: schedule.slot(late).key))

            try await running(service) {
                try await eventually("the pending slots to be completed") { try await world.firings(name).allSatisfy { $0.state == .enqueued } }
            }
            #expect(try await world.enqueuedSlots(queue).sorted() == [early, late].map { Slot.iso8601($0, in: .gmt) })
        }
    }
}

extension Sequence {
    func asyncFlatMap<T>(_ transform: (Element) async throws -> [T]) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result += try await transform(element) }
        return result
    }
}
