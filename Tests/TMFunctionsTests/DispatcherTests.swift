import Foundation
import Testing
import TestSupport
import TMFunctionRuntime
import TMFunctions
import TMPostgres
import TMQueue
import TMRedis

/// The dispatcher against real Redis and Postgres and real function processes: retries, dead
/// letters with reasons, partial batches, the reserved concurrency across dispatchers, warm reuse,
/// and several functions on one queue.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DispatcherTests {
    let harness = TestFunctionHarness()

    @Test func aFunctionPastItsTimeoutIsKilledAndRetried() async throws {
        let queue = try await TriggerQueue()
        let fn = harness.manifest { $0.trigger = .queue(queue.manifest.name); $0.timeout = .milliseconds(800) }
        let functions = try FunctionCatalog([fn])
        let dispatcher = try RunningDispatcher(functions: [fn], queue: queue, harness: harness)
        defer { harness.cleanUp() }
        // Attempt 1 sleeps past the deadline; attempt 2 returns at once.
        try await queue.enqueue(#"{"mode":"sleep","sleep_ms":30000,"fail_until_attempt":1}"#, key: "k1", functions: functions)
        try await eventually("the retry succeeded") {
            let record = try await queue.redis.send("GET", QueueKeys(queue: queue.manifest.name, shard: 0).idempotency("k1")).string ?? ""
            return record.contains("\"done\"")
        }
        await dispatcher.stop()
        #expect(harness.invocations == 2)
        #expect(dispatcher.dispatcher.outcomes[fn.name]?[.timeout] == 1)
        #expect(dispatcher.dispatcher.outcomes[fn.name]?[.ok] == 1)
        #expect(try await queue.deadLetters().isEmpty)
        await queue.cleanUp()
    }

    @Test func aCrashingFunctionEndsInTheDeadLetterQueueWithItsReason() async throws {
        let queue = try await TriggerQueue { $0.maxDeliveries = 2 }
        let fn = harness.manifest { $0.trigger = .queue(queue.manifest.name) }
        let dispatcher = try RunningDispatcher(functions: [fn], queue: queue, harness: harness)
        defer { harness.cleanUp() }
        try await queue.enqueue(#"{"mode":"crash"}"#, functions: try FunctionCatalog([fn]))
        try await eventually("a dead letter") { try await !queue.deadLetters().isEmpty }
        await dispatcher.stop()
        let dead = try #require(try await queue.deadLetters().first)
        #expect(dead["error"]?.hasPrefix("crash: killed by signal") == true, "\(dead["error"] ?? "")")
        let history = try JSONSerialization.jsonObject(with: Data((dead["history"] ?? "[]").utf8)) as? [[String: Any]] ?? []
        #expect(history.count == 2, "both attempts are in the history")
        #expect(history.allSatisfy { ($0["error"] as? String)?.hasPrefix("crash:") == true })
        await queue.cleanUp()
    }

    @Test func garbageOnStdoutIsAFailureWithThatReason() async throws {
        let queue = try await TriggerQueue { $0.maxDeliveries = 1 }
        let fn = harness.manifest { $0.trigger = .queue(queue.manifest.name) }
        let dispatcher = try RunningDispatcher(functions: [fn], queue: queue, harness: harness)
        defer { harness.cleanUp() }
        try await queue.enqueue(#"{"mode":"garbage"}"#, functions: try FunctionCatalog([fn]))
        try await eventually("a dead letter") { try await !queue.deadLetters().isEmpty }
        await dispatcher.stop()
        #expect(try await queue.deadLetters().first?["error"] == "garbage: stdout is not a result: 'hello, this is not a result'")
        await queue.cleanUp()
    }

    @Test func aPartialBatchFailureRetriesOnlyTheFailedMessages() async throws {
        let queue = try await TriggerQueue()
        let db = try TestDatabase(migrated: true, prefix: "tm_fn")
        let pool = PostgresPool(configuration: db.configuration, size: 1)
        let log = InvocationLog(pool: pool, dispatcher: "test")
        let fn = harness.manifest {
            $0.trigger = .queue(queue.manifest.name)
            $0.batchSize = 3
            $0.batchWindow = .seconds(1)
            $0.reservedConcurrency = 1
        }
        let functions = try FunctionCatalog([fn])
        // Enqueued before the dispatcher starts, so the first read takes all three into one batch.
        for body in [#"{"mode":"echo","n":1}"#, #"{"mode":"fail","fail_until_attempt":1}"#, #"{"mode":"echo","n":3}"#] {
            try await queue.enqueue(body, functions: functions)
        }
        let dispatcher = try RunningDispatcher(functions: [fn], queue: queue, harness: harness, log: log)
        defer { harness.cleanUp() }
        try await eventually("every message settled") {
            let backlog = try await queue.backlog()
            return backlog == 0 && dispatcher.dispatcher.outcomes[fn.name]?[.ok] == 1
        }
        await dispatcher.stop()
        await log.flush()
        let rows = try db.connect().query("SELECT records, failed, outcome, attempt FROM function_invocations ORDER BY started_at").rows
        #expect(try rows.map { try $0.decode("records", as: Int.self) } == [3, 1], "the retry carries only the failed record")
        #expect(try rows.map { try $0.decode("failed", as: Int.self) } == [1, 0])
        #expect(try rows.map { try $0.decode("outcome", as: String.self) } == ["partial", "ok"])
        #expect(try rows.map { try $0.decode("attempt", as: Int.self) } == [1, 2])
        let summary = try #require(try InvocationSummary.load(try db.connect(), since: Date().addingTimeInterval(-3600))[fn.name])
        #expect(summary.total == 2, "tm functions counts invocations, not outcome kinds")
        #expect(summary.byOutcome == ["partial": 1, "ok": 1])
        #expect(summary.lastOutcome == "ok")
        #expect(try await queue.deadLetters().isEmpty)
        await pool.shutdown()
        await queue.cleanUp()
    }

    @Test func theReservedConcurrencyHoldsAcrossThreeDispatchers() async throws {
        let queue = try await TriggerQueue()
        let fn = harness.manifest { $0.trigger = .queue(queue.manifest.name); $0.reservedConcurrency = 2 }
        let functions = try FunctionCatalog([fn])
        for i in 1...12 { try await queue.enqueue(#"{"mode":"sleep","sleep_ms":250,"i":\#(i)}"#, functions: functions) }
        let dispatchers = try (1...3).map { try RunningDispatcher(functions: [fn], queue: queue, harness: harness, name: "d\($0)") }
        defer { harness.cleanUp() }
        try await eventually("all twelve ran") {
            let backlog = try await queue.backlog()
            return harness.invocations == 12 && backlog == 0
        }
        for dispatcher in dispatchers { await dispatcher.stop() }
        let peak = harness.maxConcurrent
        print("reserved concurrency 2, 3 dispatchers, 12 invocations of 250 ms: at most \(peak) ran at once")
        #expect(peak == 2, "never more than the reserved concurrency, and it was used")
        #expect(try await queue.redis.send("ZCARD", ReservedConcurrency.key(fn.name)).int == 0, "every slot released")
        await queue.cleanUp()
    }

    @Test func warmModeReusesProcesses() async throws {
        let queue = try await TriggerQueue()
        let fn = harness.manifest { $0.trigger = .queue(queue.manifest.name); $0.warm = true; $0.reservedConcurrency = 1 }
        let functions = try FunctionCatalog([fn])
        let dispatcher = try RunningDispatcher(functions: [fn], queue: queue, harness: harness)
        defer { harness.cleanUp() }
        for i in 1...20 { try await queue.enqueue(#"{"mode":"echo","i":\#(i)}"#, functions: functions) }
        try await eventually("all twenty ran") {
            let backlog = try await queue.backlog()
            return harness.invocations == 20 && backlog == 0
        }
        await dispatcher.stop()
        #expect(harness.spawns == 1, "one process served every invocation")
        #expect((dispatcher.invokers[fn.name] as? WarmPool)?.idleCount == 0, "stopped with the dispatcher")
        await queue.cleanUp()
    }

    @Test func functionsSharingAQueueEachGetEveryMessageAndFailAlone() async throws {
        let queue = try await TriggerQueue { $0.maxDeliveries = 1 }
        let good = harness.manifest { $0.trigger = .queue(queue.manifest.name) }
        let bad = harness.manifest { $0.trigger = .queue(queue.manifest.name); $0.environment["TEST_MODE"] = "reject" }
        let functions = try FunctionCatalog([good, bad])
        let dispatcher = try RunningDispatcher(functions: [good, bad], queue: queue, harness: harness)
        defer { harness.cleanUp() }
        let sent = try await queue.enqueue(#"{"n":1}"#, key: "event-1", functions: functions)
        let goodQueue = "\(queue.manifest.name)@\(good.name)", badQueue = "\(queue.manifest.name)@\(bad.name)"
        try await eventually("the good copy handled and the bad copy dead") {
            let dead = try await queue.deadLetters(badQueue).count
            return dispatcher.dispatcher.outcomes[good.name]?[.ok] == 1 && dead == 1
        }
        await dispatcher.stop()
        #expect(try await queue.backlog() == 0, "the original was routed and acknowledged")
        #expect(try await queue.deadLetters(goodQueue).isEmpty, "the other function's failure does not touch this one")
        let dead = try #require(try await queue.deadLetters(badQueue).first)
        #expect(dead["key"] == "event-1", "the copy keeps the original's key")
        #expect(dead["payload"] == #"{"n":1}"#)
        #expect(dead["error"] == "amount: must be positive")
        #expect(sent.duplicate == false)
        await queue.cleanUp([goodQueue, badQueue])
    }

    @Test func schedulesAndDirectInvocationsArriveThroughTheInvocationQueue() async throws {
        let queue = try await TriggerQueue()
        let fn = harness.manifest()  // trigger: schedules only
        let functions = try FunctionCatalog([fn])
        let dispatcher = try RunningDispatcher(functions: [fn], queue: queue, harness: harness)
        defer { harness.cleanUp() }
        try await queue.enqueue(#"{"mode":"echo","slot":"2026-11-22T02:00:00Z"}"#, key: "schedule:nightly:2026-11-22T02:00:00Z",
                                on: fn.invocationQueueName, functions: functions)
        try await eventually("invoked") { dispatcher.dispatcher.outcomes[fn.name]?[.ok] == 1 }
        await dispatcher.stop()
        let record = try await queue.redis.send("GET", QueueKeys(queue: fn.invocationQueueName, shard: 0).idempotency("schedule:nightly:2026-11-22T02:00:00Z")).string ?? ""
        #expect(record.contains("\"done\""))
        #expect(record.contains("2026-11-22T02:00:00Z"), "the echo result is kept under the key")
        await queue.cleanUp([fn.invocationQueueName])
    }
}
