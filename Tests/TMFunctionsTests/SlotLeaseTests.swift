import Foundation
import Testing
import TestSupport
import TMFunctions
import TMQueue
import TMRedis

/// Reserved-concurrency slots are short leases renewed while held: a long invocation keeps its
/// slot however long it runs, and a killed dispatcher's slots (and messages) are taken over within
/// seconds, not after a whole function timeout.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SlotLeaseTests {
    let harness = TestFunctionHarness()

    /// Reserved concurrency 1, two dispatchers, invocations lasting several leases: without renewal
    /// the idle dispatcher would take the expired slot and run a second invocation at once.
    @Test func aLongInvocationKeepsItsSlotAcrossManyLeases() async throws {
        let queue = try await TriggerQueue()
        let fn = harness.manifest { $0.trigger = .queue(queue.manifest.name); $0.reservedConcurrency = 1 }
        let functions = try FunctionCatalog([fn])
        for i in 1...2 { try await queue.enqueue(#"{"mode":"sleep","sleep_ms":4000,"i":\#(i)}"#, functions: functions) }
        let dispatchers = try (1...2).map {
            try RunningDispatcher(functions: [fn], queue: queue, harness: harness, name: "lease-d\($0)", slotLease: .milliseconds(1500))
        }
        defer { harness.cleanUp() }
        try await eventually("both invocations ran", within: .seconds(60)) {
            let backlog = try await queue.backlog()
            return harness.invocations == 2 && harness.events.filter { $0.event == "end" }.count == 2 && backlog == 0
        }
        for dispatcher in dispatchers { await dispatcher.stop() }
        #expect(harness.maxConcurrent == 1, "each 4 s invocation kept its 1.5 s lease by renewal: never two at once")
        #expect(try await queue.redis.send("ZCARD", ReservedConcurrency.key(fn.name)).int == 0, "every slot released at stop")
        await queue.cleanUp()
    }

    /// A `tm dispatch` holding two slots and two messages is SIGKILLed; a dispatcher already running
    /// elsewhere takes both slots once their short lease runs out and runs both messages. The
    /// function's timeout is 60 s, so a slot leased for the timeout (as before) would still be
    /// taken when `eventually` gives up.
    @Test func aKilledDispatchersSlotsAndMessagesAreTakenOverWithinSeconds() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("lease"))
        defer { try? FileManager.default.removeItem(at: root) }
        defer { harness.cleanUp() }
        let queueName = TestServers.uniqueName("leaseq").replacingOccurrences(of: "_", with: "-")
        let function = TestServers.uniqueName("leasefn").replacingOccurrences(of: "_", with: "-")
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("Queues"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("Functions/\(function)"), withIntermediateDirectories: true)
        try "name: \(queueName)\nvisibility_timeout: 2s\nbackoff: {base: 50ms, cap: 200ms}\n"
            .write(to: root.appendingPathComponent("Queues/\(queueName).yaml"), atomically: true, encoding: .utf8)
        try """
            name: \(function)
            executable: test-function
            trigger: {queue: \(queueName)}
            timeout: 60s
            kill_grace: 500ms
            reserved_concurrency: 2
            environment: {TEST_TRACE_FILE: "\(harness.traceFile)"}
            """.write(to: root.appendingPathComponent("Functions/\(function)/function.yaml"), atomically: true, encoding: .utf8)
        let db = try TestDatabase(migrated: true, prefix: "tm_lease")
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_QUEUES_DIR"] = root.appendingPathComponent("Queues").path
        environment["TM_FUNCTIONS_DIR"] = root.appendingPathComponent("Functions").path
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = db.url
        environment["TEST_TRACE_FILE"] = harness.traceFile

        let queue = try await TriggerQueue { $0.name = queueName; $0.visibilityTimeout = .seconds(2) }
        let slots = ReservedConcurrency.key(function)
        var fn = harness.manifest(function) { $0.trigger = .queue(queueName); $0.timeout = .seconds(60); $0.reservedConcurrency = 2 }
        let functions = try FunctionCatalog([fn])
        for i in 1...2 { try await queue.enqueue(#"{"mode":"sleep","sleep_ms":15000,"i":\#(i)}"#, key: "slow-\(i)", functions: functions) }

        let tm = TestServers.productsDirectory.appendingPathComponent("tm").path
        let victim = try ChildProcess(tm, ["dispatch"], environment: environment)
        defer { victim.kill() }
        try await eventually("the victim runs both invocations with both slots") {
            let held = try await queue.redis.send("ZCARD", slots).int ?? 0
            return harness.invocations == 2 && held == 2
        }
        let victimSlots = (try await queue.redis.send("ZRANGE", slots, 0, -1).array ?? []).compactMap(\.string)
        victim.kill()  // SIGKILL: no release, no settle; its function processes are orphaned mid-sleep

        // The survivor's function finishes the sleepers at once.
        fn.environment["TEST_SLEEP_CAP_MS"] = "0"
        let survivor = try RunningDispatcher(functions: [fn], queue: queue, harness: harness, name: "survivor")
        try await eventually("the survivor ran both messages", within: .seconds(30)) {
            let done = try await (1...2).asyncAllSatisfy { i in
                let record = try await queue.redis.send("GET", QueueKeys(queue: queueName, shard: 0).idempotency("slow-\(i)")).string ?? ""
                return record.contains("\"done\"")
            }
            return done
        }
        await survivor.stop()
        #expect(survivor.dispatcher.outcomes[fn.name]?[.ok] == 2, "both messages ran on the survivor")
        // A dead dispatcher's slot is free once its lease runs out (the next acquire anywhere deletes
        // it). The survivor may have needed only one of the two (one slot runs both messages in
        // turn), so the other's lease may still be running here: wait for it, by the Redis clock to
        // the millisecond, as the slots' scores are.
        try await eventually("the dead dispatcher's slots have expired", within: .seconds(20)) {
            let time = try await queue.redis.send("TIME").array ?? []
            let now = (Double(time.first?.string ?? "") ?? 0) * 1000 + ((Double(time.last?.string ?? "") ?? 0) / 1000).rounded(.down)
            for slot in victimSlots {
                let expiry = try await queue.redis.send("ZSCORE", slots, slot).string.flatMap(Double.init)
                if let expiry, expiry > now { return false }
            }
            return true
        }
        let concurrency = ReservedConcurrency(function: function, limit: 2, redis: queue.redis)
        #expect(try await concurrency.running() == 0, "no slot is live after the survivor stopped")
        await queue.cleanUp()
    }
}

extension ClosedRange where Bound == Int {
    fileprivate func asyncAllSatisfy(_ predicate: (Int) async throws -> Bool) async throws -> Bool {
        for value in self where try await !predicate(value) { return false }
        return true
    }
}
