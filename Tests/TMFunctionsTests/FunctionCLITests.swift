import Foundation
import Testing
import TestSupport
import TMPostgres
import TMQueue
import TMRedis

/// `tm invoke`, `tm functions` and `tm dispatch` as an operator runs them.
@Suite(.serialized, .timeLimit(.minutes(3))) struct FunctionCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("fncli"))
    let harness = TestFunctionHarness()

    /// A Queues folder with one queue and a Functions folder with one function consuming it.
    func layout(queue: String, function: String, extra: String = "") throws -> [String: String] {
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("Queues"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("Functions/\(function)"), withIntermediateDirectories: true)
        try "name: \(queue)\nvisibility_timeout: 5s\nbackoff: {base: 50ms, cap: 200ms}\n"
            .write(to: root.appendingPathComponent("Queues/\(queue).yaml"), atomically: true, encoding: .utf8)
        try """
            name: \(function)
            executable: test-function
            trigger: {queue: \(queue)}
            timeout: 5s
            kill_grace: 500ms
            environment: {TEST_TRACE_FILE: "\(harness.traceFile)"}
            \(extra)
            """.write(to: root.appendingPathComponent("Functions/\(function)/function.yaml"), atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_QUEUES_DIR"] = root.appendingPathComponent("Queues").path
        environment["TM_FUNCTIONS_DIR"] = root.appendingPathComponent("Functions").path
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        return environment
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: root)
        harness.cleanUp()
    }

    @Test func invokeRunsOneInvocationLikeTheDispatcherAndPrintsTheResult() async throws {
        defer { cleanUp() }
        let environment = try layout(queue: "cli-events", function: "echo")
        let event = root.appendingPathComponent("event.json")
        try #"[{"mode":"echo","n":1},{"mode":"fail","fail_until_attempt":1}]"#.write(to: event, atomically: true, encoding: .utf8)
        let partial = try await runProcess(tm, ["invoke", "echo", "--event", event.path], environment: environment)
        #expect(partial.status == 1, "not every record succeeded")
        #expect(partial.output.contains(#""status" : "partial""#), "\(partial.output)")
        #expect(partial.output.contains("failing on purpose (attempt 1)"))
        #expect(partial.output.contains(": partial in "))

        try #"{"mode":"echo","n":2}"#.write(to: event, atomically: true, encoding: .utf8)
        let ok = try await runProcess(tm, ["invoke", "echo", "--event", event.path], environment: environment)
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains(#""status" : "ok""#))

        let unknown = try await runProcess(tm, ["invoke", "ehco"], environment: environment)
        #expect(unknown.status != 0)
        #expect(unknown.output.contains("no function 'ehco' (known: echo)"))

        try "not json".write(to: event, atomically: true, encoding: .utf8)
        let bad = try await runProcess(tm, ["invoke", "echo", "--event", event.path], environment: environment)
        #expect(bad.status != 0)
        #expect(bad.output.contains("--event: not valid JSON"))
    }

    @Test func dispatchStopsGracefullyOnSIGTERMAfterTheRunningInvocation() async throws {
        defer { cleanUp() }
        let queueName = TestServers.uniqueName("cliq").replacingOccurrences(of: "_", with: "-")
        var environment = try layout(queue: queueName, function: "sleeper")
        let db = try TestDatabase(migrated: true, prefix: "tm_fncli")
        environment["TM_DATABASE_URL"] = db.url
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog([QueueManifest(name: queueName)]))

        let dispatcher = try ChildProcess(tm, ["dispatch"], environment: environment)
        defer { dispatcher.kill() }
        try await producer.enqueue(queueName, OutgoingMessage(payload: Array(#"{"mode":"sleep","sleep_ms":1500}"#.utf8), key: "slow-1"))
        try await eventually("the invocation started") { harness.invocations == 1 }
        dispatcher.signal(SIGTERM)
        let status = try dispatcher.wait(timeout: .seconds(20))
        #expect(status == 0)
        #expect(harness.events.map(\.event).suffix(1) == ["end"], "the running invocation finished before exit")
        let record = try await redis.send("GET", QueueKeys(queue: queueName, shard: 0).idempotency("slow-1")).string ?? ""
        #expect(record.contains("\"done\""), "its message was settled, not abandoned")
        let rows = try db.connect().query("SELECT function, outcome, records FROM function_invocations").rows
        #expect(rows.count == 1, "the invocation record was written before exit")
        #expect(try rows.first?.decode("outcome", as: String.self) == "ok")

        let listing = try await runProcess(tm, ["functions"], environment: environment)
        #expect(listing.status == 0, "\(listing.output)")
        #expect(listing.output.contains("sleeper"))
        #expect(listing.output.contains("queue \(queueName)"))
        let json = try await runProcess(tm, ["functions", "--json"], environment: environment)
        let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let first = (object?["functions"] as? [[String: Any]])?.first
        #expect(first?["name"] as? String == "sleeper")
        #expect((first?["recent"] as? [String: Any])?["total"] as? Int == 1)
        let metrics = try await runProcess(tm, ["functions", "--prometheus"], environment: environment)
        #expect(metrics.output.contains(#"tm_function_invocations_total{function="sleeper",outcome="ok"} 1"#), "\(metrics.output)")
        #expect(metrics.output.contains(#"tm_function_running{function="sleeper"} 0"#))
        _ = try? await redis.send("DEL", QueueKeys(queue: queueName, shard: 0).stream, QueueKeys(queue: "fn:sleeper", shard: 0).stream)
    }

    @Test func aScheduleFiringAFunctionIsInvokedByTheDispatcherExactlyOnce() async throws {
        defer { cleanUp() }
        let queueName = TestServers.uniqueName("cliq").replacingOccurrences(of: "_", with: "-")
        let function = TestServers.uniqueName("nightly").replacingOccurrences(of: "_", with: "-")
        var environment = try layout(queue: queueName, function: function)
        // A schedules-only function and a schedule targeting it.
        try "name: \(function)\nexecutable: test-function\ntrigger: schedules\nenvironment: {TEST_MODE: echo, TEST_TRACE_FILE: \"\(harness.traceFile)\"}\n"
            .write(to: root.appendingPathComponent("Functions/\(function)/function.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("Schedules"), withIntermediateDirectories: true)
        try """
            name: \(function)
            expression: "0 2 * * *"
            target: {function: \(function)}
            payload: {slot: "{{slot}}", mode: echo}
            """.write(to: root.appendingPathComponent("Schedules/\(function).yaml"), atomically: true, encoding: .utf8)
        environment["TM_SCHEDULES_DIR"] = root.appendingPathComponent("Schedules").path
        let db = try TestDatabase(migrated: true, prefix: "tm_fnsched")
        environment["TM_DATABASE_URL"] = db.url

        let listing = try await runProcess(tm, ["schedules"], environment: environment)
        #expect(listing.status == 0, "\(listing.output)")
        #expect(!listing.output.contains("not deployed"), "the function target resolves: \(listing.output)")

        let dispatcher = try ChildProcess(tm, ["dispatch"], environment: environment)
        defer { dispatcher.terminate(grace: .seconds(10)) }
        let fired = try await runProcess(tm, ["schedules", "fire", function], environment: environment)
        #expect(fired.status == 0, "\(fired.output)")
        let again = try await runProcess(tm, ["schedules", "backfill", function, "--from", "2026-11-20T00:00:00Z", "--to", "2026-11-21T23:59:59Z"], environment: environment)
        #expect(again.status == 0, "\(again.output)")
        try await eventually("three invocations: the manual slot and two nightly slots") { harness.invocations == 3 }
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let slot = "schedule:\(function):2026-11-21T02:00:00Z"
        try await eventually("the 21 November slot settled") {
            (try await redis.send("GET", QueueKeys(queue: "fn:\(function)", shard: QueueKeys.shard(for: slot, shards: 1)).idempotency(slot)).string ?? "").contains("\"done\"")
        }
        let record = try await redis.send("GET", QueueKeys(queue: "fn:\(function)", shard: 0).idempotency(slot)).string ?? ""
        #expect(record.contains("2026-11-21T02:00:00Z"), "the payload carried the slot time: \(record)")
        let second = try await runProcess(tm, ["schedules", "backfill", function, "--from", "2026-11-20T00:00:00Z", "--to", "2026-11-21T23:59:59Z"], environment: environment)
        #expect(second.status == 0)
        try await Task.sleep(for: .milliseconds(500))
        #expect(harness.invocations == 3, "a second backfill fires nothing again")
        _ = try? await redis.send("DEL", QueueKeys(queue: "fn:\(function)", shard: 0).stream)
    }
}
