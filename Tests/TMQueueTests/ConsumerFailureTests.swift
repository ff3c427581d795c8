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
        let attempts = try db.query("SELECT consumer, deliveries, attempt, history, epoch FROM test_attempts ORDER BY at").rows
        #expect(try attempts.map { try $0.decode("consumer", as: String.self) } == ["doomed", "survivor"])
        #expect(try attempts[1].decode("deliveries", as: Int.self) == 2)
        #expect(try attempts[1].decode("epoch", as: Int64.self) > attempts[0].decode("epoch", as: Int64.self))
        // A crash does not use up an attempt: the second delivery is still attempt 1, with no failure on record.
        #expect(try attempts[1].decode("attempt", as: Int.self) == 1)
        #expect(try attempts[1].decode("history", as: Int.self) == 0)
        // Not before the visibility timeout (the first consumer might only have been slow).
        #expect(reclaimedAfter >= .milliseconds(1500))
        try await eventually("acknowledged") { try await queue.streamLength() == 0 }
        #expect(try await queue.deadLetters().isEmpty)
    }

    /// A freezes mid-handler, B takes the message over and is still running when A wakes up: A's
    /// epoch-guarded Postgres write is refused and its complete is answered `stale`; B's result lands.
    @Test func aPausedConsumerThatLostItsMessageCannotOverwriteTheNewerResult() async throws {
        let fixture = try await WorkerFixture { $0.visibilityTimeout = .seconds(1) }
        defer { Task { await fixture.cleanUp() } }
        let (queue, db) = (fixture.queue, fixture.db)
        func count(_ sql: PostgresQuery) throws -> Int { try fixture.count(sql) }
        let (holdA, holdB) = (try fixture.holdFile("a"), try fixture.holdFile("b"))
        defer { for file in [holdA, holdB] { try? FileManager.default.removeItem(atPath: file) } }

        // A's own visibility timeout is long, so once awake it never takes the message back from B:
        // which consumer holds it at each step is decided by the test, not by timing.
        let paused = try fixture.worker("paused", ["--visibility-ms", "60000", "--hold-file", holdA])
        defer { paused.terminate() }
        let sent = try await queue.enqueue(#"{"order":"o-2"}"#)
        try await eventually("A claimed the message (fence raised to its epoch) and waits") {
            try count("SELECT count(*)::int AS n FROM test_attempts WHERE consumer = 'paused'") == 1
        }
        paused.child.pause()  // frozen mid-handler: no heartbeats; the message goes idle
        let successor = try fixture.worker("successor", ["--visibility-ms", "1000", "--hold-file", holdB])
        defer { successor.terminate() }
        try await eventually("B reclaimed the message and claimed it at a newer epoch") {
            try count("SELECT count(*)::int AS n FROM test_attempts WHERE consumer = 'successor'") == 1
        }
        let epochs = try db.query("SELECT consumer, epoch FROM test_attempts").rows.reduce(into: [String: Int64]()) {
            $0[try $1.decode("consumer", as: String.self)] = try $1.decode("epoch", as: Int64.self)
        }
        let (epochA, epochB) = (try #require(epochs["paused"]), try #require(epochs["successor"]))
        #expect(epochB > epochA)

        // B is still running (held). A wakes up, finishes its handler and writes with its old epoch.
        try FileManager.default.removeItem(atPath: holdA)
        paused.child.resume()
        try await eventually("A's late write was attempted") {
            try count("SELECT count(*)::int AS n FROM test_runs WHERE consumer = 'paused'") == 1
        }
        let late = try db.query("SELECT outcome, epoch FROM test_runs WHERE consumer = 'paused'").rows[0]
        #expect(try late.decode("outcome", as: String.self) == "refused")
        #expect(try count("SELECT count(*)::int AS n FROM test_effects") == 0)
        // A's complete came after its handler: a graceful stop waits for it. Redis refused it.
        let countersA = try paused.stop()
        #expect(countersA["stale"] == 1, "A's complete must be answered stale: \(countersA)")
        #expect(countersA["handled"] == 0)
        #expect(try await queue.streamLength() == 1, "A's stale complete must not acknowledge B's message")

        // B finishes: its effect lands and its complete is accepted.
        try FileManager.default.removeItem(atPath: holdB)
        try await eventually("acknowledged by B") { try await queue.streamLength() == 0 }
        let countersB = try successor.stop()
        #expect(countersB["handled"] == 1 && countersB["stale"] == 0, "\(countersB)")
        let effects = try db.query("SELECT message_id, consumer, epoch FROM test_effects").rows
        #expect(effects.count == 1)
        #expect(try effects.first?.decode("message_id", as: String.self) == sent.id)
        #expect(try effects.first?.decode("consumer", as: String.self) == "successor")
        #expect(try effects.first?.decode("epoch", as: Int64.self) == epochB)
        #expect(try await queue.deadLetters().isEmpty)
    }

    /// A message whose handler kills its process every time: each reclaim is a new delivery, not a
    /// failed attempt, until `max_reclaims` reclaims are used up; the next reclaim buries it as `crash`.
    @Test func aPoisonPillIsDeadLetteredAfterMaxReclaimsAndNotBefore() async throws {
        let maxReclaims = 2
        let fixture = try await WorkerFixture { $0.visibilityTimeout = .seconds(1); $0.maxReclaims = maxReclaims }
        defer { Task { await fixture.cleanUp() } }
        let queue = fixture.queue
        func deliveries() throws -> Int { try fixture.count("SELECT count(*)::int AS n FROM test_attempts") }
        let sent = try await queue.enqueue(#"{"poison":true}"#, key: "poison-1")

        // One crashing worker at a time; each either dies in the handler or buries the message.
        var rounds = 0
        while try await queue.deadLetters().isEmpty, try deliveries() <= maxReclaims + 1, rounds < maxReclaims + 3 {
            rounds += 1
            let worker = try fixture.worker("crasher-\(rounds)", ["--visibility-ms", "1000", "--max-reclaims", "\(maxReclaims)", "--crash"])
            try await eventually("the worker crashed in the handler or buried the message", within: .seconds(60)) {
                if !worker.child.isRunning { return true }
                return try await !queue.deadLetters().isEmpty
            }
            if worker.child.isRunning { worker.terminate() }
        }
        let letters = try await queue.deadLetters()
        let delivered = try deliveries()
        try #require(letters.count == 1, "after \(rounds) workers and \(delivered) deliveries")
        let letter = letters[0].fields
        #expect(letter["id"] == sent.id)
        #expect(letter["reason"] == "crash")
        #expect(letter["attempt"] == "0", "crashes used up no attempt")
        let history = try JSONDecoder().decode([AttemptRecord].self, from: Data((letter["history"] ?? "").utf8))
        #expect(history.map(\.kind) == [.crash])
        #expect(history.first?.attempt == 1)
        // Delivered exactly max_reclaims + 1 times: the first read and max_reclaims reclaims, never a fourth.
        let seen = try fixture.db.query("SELECT deliveries, attempt FROM test_attempts ORDER BY deliveries").rows
        #expect(try seen.map { try $0.decode("deliveries", as: Int.self) } == Array(1...(maxReclaims + 1)))
        #expect(try seen.allSatisfy { try $0.decode("attempt", as: Int.self) == 1 })
        #expect(try await queue.streamLength() == 0)
        // The key records the message as dead: a duplicate enqueue does not bring the poison back.
        let again = try await queue.enqueue(#"{"poison":true}"#, key: "poison-1")
        #expect(again.duplicate && again.state == "dead")
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
        func effects() throws -> Int { try db.query("SELECT count(DISTINCT message_id)::int AS n FROM test_effects").rows[0].decode("n", as: Int.self) }

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

        // Every execution is on record. An effect lands through the message's epoch-guarded write;
        // nothing keys the effects table, so a second landed effect would show here as a duplicate.
        let executions = try fixture.count("SELECT count(*)::int AS n FROM test_attempts")
        let effectRows = try db.query("SELECT message_id, epoch FROM test_effects").rows
        let landed = try effectRows.map { (id: try $0.decode("message_id", as: String.self), epoch: try $0.decode("epoch", as: Int64.self)) }
        let recorded = Set(landed.map(\.id))
        let outcomes = try db.query("SELECT outcome, count(*)::int AS n FROM test_runs GROUP BY outcome").rows.reduce(into: [String: Int]()) {
            $0[try $1.decode("outcome", as: String.self)] = try $1.decode("n", as: Int.self)
        }
        let lost = ids.subtracting(recorded).count
        let duplicates = Dictionary(grouping: landed, by: \.id).filter { $0.value.count > 1 }
        // An absorbed re-execution must come from a later delivery than the one whose effect landed:
        // one delivery never runs twice, and an older one is refused by the fence, not absorbed.
        let misordered = try fixture.count("""
            SELECT count(*)::int AS n FROM test_runs r JOIN test_effects e USING (message_id)
            WHERE r.outcome = 'absorbed' AND r.epoch <= e.epoch
            """)
        print("soak: \(total) messages, 4 consumer processes, \(kills) SIGKILLs in \(DurationText.format(elapsed)): "
              + "\(executions) executions, \(landed.count) effects landed, lost \(lost), duplicated \(duplicates.count), "
              + "absorbed \(outcomes["absorbed"] ?? 0) (redelivered after a consumer died between its effect and its ack), "
              + "refused \(outcomes["refused"] ?? 0) (stale epoch)")
        #expect(lost == 0)
        #expect(duplicates.isEmpty, "messages with more than one landed effect (id: epochs): \(duplicates.prefix(10).map { ($0.key, $0.value.map(\.epoch)) })")
        #expect(landed.count == total)
        #expect(misordered == 0)
        #expect(recorded.isSubset(of: ids))
        #expect(executions >= total)
        #expect(outcomes.values.reduce(0, +) <= executions)
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
