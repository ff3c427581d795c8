import Foundation
import Testing
import TestSupport
import TMCore
import TMPostgres
import TMQueue
import TMRedis

/// Consumers dying and Redis restarting: nothing is lost, nothing is done twice.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ConsumerFailureTests {
    @Test func aConsumerKilledMidHandlerIsReclaimedAfterTheVisibilityTimeout() async throws {
        let fixture = try await WorkerFixture { $0.visibilityTimeout = .seconds(2) }
        defer { Task { await fixture.cleanUp() } }
        let (queue, db) = (fixture.queue, fixture.db)

        // It sleeps far longer than any stall of a loaded machine: it must be killed mid-handler, never finish.
        let doomed = try fixture.worker("doomed", ["--sleep-ms", "60000", "--visibility-ms", "2000"])
        let sent = try await queue.enqueue(#"{"order":"o-1"}"#)
        try await eventually("the first worker started the handler") {
            try db.query("SELECT count(*)::int AS n FROM test_attempts").rows[0].decode("n", as: Int.self) == 1
        }
        doomed.kill()
        let killedAt = ContinuousClock.now
        let survivor = try fixture.worker("survivor", ["--sleep-ms", "100", "--visibility-ms", "2000"])
        defer { survivor.terminate() }
        try await eventually("the message's effect") {
            try db.query("SELECT count(*)::int AS n FROM test_effects").rows[0].decode("n", as: Int.self) == 1
        }
        let reclaimedAfter = ContinuousClock.now - killedAt
        let effect = try db.query("SELECT message_id, consumer FROM test_effects").rows[0]
        #expect(try effect.decode("message_id", as: String.self) == sent.id)
        #expect(try effect.decode("consumer", as: String.self) == "survivor")
        let attempts = try db.query("SELECT consumer, deliveries, epoch FROM test_attempts ORDER BY at").rows
        #expect(try attempts.map { try $0.decode("consumer", as: String.self) } == ["doomed", "survivor"])
        #expect(try attempts[1].decode("deliveries", as: Int.self) == 2)
        #expect(try attempts[1].decode("epoch", as: Int64.self) > attempts[0].decode("epoch", as: Int64.self))
        // Not before the visibility timeout (the first consumer might only have been slow).
        #expect(reclaimedAfter >= .milliseconds(1500))
        try await eventually("acknowledged") { try await queue.streamLength() == 0 }
        #expect(try await queue.deadLetters().isEmpty)
    }

    @Test func aPausedConsumerThatLostItsMessageCannotOverwriteTheNewerResult() async throws {
        let fixture = try await WorkerFixture { $0.visibilityTimeout = .seconds(1) }
        defer { Task { await fixture.cleanUp() } }
        let (queue, db) = (fixture.queue, fixture.db)

        let paused = try fixture.worker("paused", ["--sleep-ms", "1500", "--visibility-ms", "1000"])
        defer { paused.terminate() }
        try await queue.enqueue(#"{"order":"o-2"}"#)
        try await eventually("the first worker started") {
            try db.query("SELECT count(*)::int AS n FROM test_attempts").rows[0].decode("n", as: Int.self) == 1
        }
        paused.child.pause()  // frozen mid-handler: no heartbeats, the visibility timeout runs out
        let successor = try fixture.worker("successor", ["--sleep-ms", "0", "--visibility-ms", "1000"])
        defer { successor.terminate() }
        try await eventually("the successor's effect") {
            try db.query("SELECT count(*)::int AS n FROM test_effects WHERE consumer = 'successor'").rows[0].decode("n", as: Int.self) == 1
        }
        paused.child.resume()  // wakes up, finishes its handler and tries to write with its old epoch
        try await eventually("the paused worker's late write was attempted") {
            try db.query("SELECT count(*)::int AS n FROM test_runs WHERE consumer = 'paused'").rows[0].decode("n", as: Int.self) == 1
        }
        let effect = try db.query("SELECT consumer, epoch FROM test_effects").rows
        #expect(effect.count == 1)
        #expect(try effect[0].decode("consumer", as: String.self) == "successor")
        let late = try db.query("SELECT applied FROM test_runs WHERE consumer = 'paused'").rows[0]
        #expect(try late.decode("applied", as: Bool.self) == false)
        try await eventually("acknowledged once") { try await queue.streamLength() == 0 }
        #expect(try await queue.deadLetters().isEmpty)
    }

    @Test func sigtermFinishesInFlightWorkWithinTheGraceAndLeavesTheRestForReclaim() async throws {
        let fixture = try await WorkerFixture { $0.visibilityTimeout = .seconds(1) }
        defer { Task { await fixture.cleanUp() } }
        let queue = fixture.queue
        func count(_ sql: PostgresQuery) throws -> Int { try fixture.count(sql) }

        // Graceful: three handlers of 800 ms in flight, a 5 s grace: all three finish, then it exits.
        let graceful = try fixture.worker("graceful", ["--sleep-ms", "800", "--visibility-ms", "1000", "--concurrency", "3", "--grace-ms", "5000"])
        for i in 0..<3 { try await queue.enqueue("{\"n\":\(i)}") }
        try await eventually("three in flight") { try count("SELECT count(*)::int AS n FROM test_attempts") == 3 }
        graceful.child.signal(SIGTERM)
        #expect(try graceful.child.wait(timeout: .seconds(10)) == 0)
        #expect(try count("SELECT count(*)::int AS n FROM test_effects") == 3)
        #expect(try await queue.streamLength() == 0)

        // Past the grace: a 10 s handler, a 300 ms grace: the process exits without settling the
        // message, which stays pending and is handled by the next consumer.
        let impatient = try fixture.worker("impatient", ["--sleep-ms", "10000", "--visibility-ms", "1000", "--grace-ms", "300"])
        try await queue.enqueue(#"{"n":99}"#)
        try await eventually("in flight") { try count("SELECT count(*)::int AS n FROM test_attempts WHERE consumer = 'impatient'") == 1 }
        impatient.child.signal(SIGTERM)
        #expect(try impatient.child.wait(timeout: .seconds(10)) == 0)
        #expect(try count("SELECT count(*)::int AS n FROM test_effects") == 3)
        #expect(try await queue.streamLength() == 1)
        let next = try fixture.worker("next", ["--sleep-ms", "0", "--visibility-ms", "1000"])
        defer { next.terminate() }
        try await eventually("handled by the next consumer") { try count("SELECT count(*)::int AS n FROM test_effects") == 4 }
        try await eventually("acknowledged") { try await queue.streamLength() == 0 }
    }

    @Test func soakWithAConsumerKilledEverySecondLosesNothingAndDuplicatesNothing() async throws {
        let total = Int(ProcessInfo.processInfo.environment["TM_SOAK_MESSAGES"] ?? "") ?? 20_000
        let fixture = try await WorkerFixture { $0.visibilityTimeout = .seconds(2); $0.maxLength = total + 1 }
        defer { Task { await fixture.cleanUp() } }
        let (queue, db) = (fixture.queue, fixture.db)

        var ids = Set<String>()
        for chunk in stride(from: 0, to: total, by: 1000) {
            let batch = (chunk..<min(chunk + 1000, total)).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8)) }
            for result in try await queue.producer.enqueueBatch(queue.name, batch) { ids.insert(try result.get().id) }
        }
        #expect(ids.count == total)

        func start(_ i: Int, _ generation: Int) throws -> WorkerProcess {
            try fixture.worker("w\(i).\(generation)", ["--visibility-ms", "2000", "--concurrency", "8"])
        }
        var workers = try (0..<4).map { try start($0, 0) }
        defer { workers.forEach { $0.terminate() } }
        func effects() throws -> Int { try db.query("SELECT count(*)::int AS n FROM test_effects").rows[0].decode("n", as: Int.self) }

        let started = ContinuousClock.now
        var kills = 0
        while try effects() < total {
            guard ContinuousClock.now - started < .seconds(180) else { break }
            try await Task.sleep(for: .seconds(1))
            let victim = kills % workers.count
            workers[victim].kill()
            kills += 1
            workers[victim] = try start(victim, kills)
        }
        let elapsed = ContinuousClock.now - started

        let recorded = Set(try db.query("SELECT message_id FROM test_effects").rows.map { try $0.decode("message_id", as: String.self) })
        let runs = try db.query("SELECT count(*)::int AS n, count(*) FILTER (WHERE NOT applied)::int AS absorbed FROM test_runs").rows[0]
        let lost = ids.subtracting(recorded).count
        let duplicated = try db.query("SELECT count(*)::int - count(DISTINCT message_id)::int AS d FROM test_effects").rows[0].decode("d", as: Int.self)
        let reexecuted = try runs.decode("absorbed", as: Int.self)
        print("soak: \(total) messages, 4 consumer processes, \(kills) SIGKILLs in \(DurationText.format(elapsed)): lost \(lost), duplicated \(duplicated), re-executed after a kill \(reexecuted) (absorbed by the effect's key)")
        #expect(lost == 0)
        #expect(duplicated == 0)
        #expect(recorded.isSubset(of: ids))
        #expect(kills >= 2)
        try await eventually("the stream drained") { try await queue.streamLength() == 0 }
        #expect(try await queue.deadLetters().isEmpty)
    }

    @Test func consumersCarryOnAcrossARedisRestartAndLoseNothing() async throws {
        let server = try EphemeralRedis.start()
        defer { server.destroy() }
        let queue = try await TestQueue({ $0.visibilityTimeout = .seconds(2) }, redisURL: server.url)
        defer { Task { await queue.cleanUp() } }
        let total = 3000
        var ids = Set<String>()
        for chunk in stride(from: 0, to: total, by: 500) {
            let batch = (chunk..<min(chunk + 500, total)).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8)) }
            for result in try await queue.producer.enqueueBatch(queue.name, batch) { ids.insert(try result.get().id) }
        }
        let handled = Locked<Set<String>>([])
        let handler: QueueHandler = { delivery in
            try await Task.sleep(for: .milliseconds(1))
            handled.withLock { _ = $0.insert(delivery.id) }
            return nil
        }
        let consumers = [queue.consume(handler), queue.consume(handler)]
        try await eventually("a third handled") { handled.current.count >= total / 3 }
        try server.restart()
        try await eventually("all handled after the restart", within: .seconds(60)) { handled.current.count == total }
        for (consumer, _) in consumers { consumer.stop() }
        for (_, task) in consumers { try await task.value }
        #expect(handled.current == ids)
        try await eventually("acknowledged") { try await queue.streamLength() == 0 }
        #expect(try await queue.deadLetters().isEmpty)
    }
}
