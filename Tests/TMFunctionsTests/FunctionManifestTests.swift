import Foundation
import Testing
import TMFunctions
import TMQueue

/// Function manifests: every field, and every mistake refused with the file, the field and the reason.
@Suite struct FunctionManifestTests {
    let file = "Functions/sync-consumer/function.yaml"

    @Test func everyFieldIsRead() throws {
        let manifest = try FunctionCatalog.parse("""
            name: sync-consumer
            description: Pull one broker account.
            executable: sync-consumer-bin
            trigger:
              queue: broker-sync
            timeout: 90s
            kill_grace: 3s
            reserved_concurrency: 8
            batch:
              size: 10
              window: 250ms
            warm: true
            max_invocations: 500
            idle_timeout: 2m
            environment:
              BROKER_TIMEOUT: 10s
            retry:
              max_deliveries: 5
              backoff: {base: 2s, cap: 1m, jitter: equal}
            """, file: file)
        #expect(manifest.name == "sync-consumer")
        #expect(manifest.executable == "sync-consumer-bin")
        #expect(manifest.trigger == .queue("broker-sync"))
        #expect(manifest.timeout == .seconds(90))
        #expect(manifest.killGrace == .seconds(3))
        #expect(manifest.reservedConcurrency == 8)
        #expect(manifest.batchSize == 10)
        #expect(manifest.batchWindow == .milliseconds(250))
        #expect(manifest.warm)
        #expect(manifest.maxInvocationsPerProcess == 500)
        #expect(manifest.idleTimeout == .seconds(120))
        #expect(manifest.environment == ["BROKER_TIMEOUT": "10s"])
        #expect(manifest.retry.maxDeliveries == 5)
        #expect(manifest.retry.backoff == .init(base: .seconds(2), cap: .seconds(60), jitter: .equal))
    }

    @Test func defaultsAreASchedulesOnlyColdFunction() throws {
        let manifest = try FunctionCatalog.parse("name: reconciler", file: "Functions/reconciler/function.yaml")
        #expect(manifest.trigger == .schedules)
        #expect(manifest.executable == "reconciler")
        #expect(manifest.warm == false)
        #expect(manifest.batchSize == 1)
        #expect(manifest.invocationQueueName == "fn:reconciler")
        #expect(try FunctionCatalog.parse("name: reconciler\ntrigger: schedules", file: "(test)").trigger == .schedules)
    }

    @Test(arguments: [
        ("name: other", "name", "'other' does not match its folder 'sync-consumer'"),
        ("name: sync-consumer\ntimout: 5s", "timout", "unknown field"),
        ("name: sync-consumer\ntimeout: 50ms", "timeout", "50ms is below the minimum of 100ms"),
        ("name: sync-consumer\ntimeout: soon", "timeout", "soon"),
        ("name: sync-consumer\ntrigger: hourly", "trigger", "'hourly' is not `schedules` or a mapping `queue: NAME`"),
        ("name: sync-consumer\ntrigger: {topic: x}", "trigger.queue", "required"),
        ("name: sync-consumer\nreserved_concurrency: 0", "reserved_concurrency", "0 is out of range (1...1000)"),
        ("name: sync-consumer\nbatch: {size: 5, windw: 1s}", "batch.windw", "unknown field"),
        ("name: sync-consumer\nwarm: sometimes", "warm", "'sometimes' is not true or false"),
        ("name: sync-consumer\nenvironment: {TM_FUNCTION: x}", "environment.TM_FUNCTION", "TM_ variables are set by the dispatcher"),
        ("name: sync-consumer\nexecutable: ../bin/x", "executable", "must be a file name, not a path"),
        ("name: sync-consumer\nretry: {backoff: {base: 5s, cap: 1s}}", "retry.backoff.cap", "is below retry.backoff.base"),
        ("- a list", "(document)", "expected a mapping of fields"),
    ])
    func mistakesNameTheFieldAndTheReason(yaml: String, field: String, reason: String) throws {
        let error = try #require(throws: FunctionManifestError.self) { try FunctionCatalog.parse(yaml, file: file) }
        #expect(error.file == file)
        #expect(error.field == field)
        #expect(error.reason.contains(reason), "\(error.reason)")
    }

    @Test func aTriggerMustNameAQueueThatExists() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fx-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("alert-evaluator"), withIntermediateDirectories: true)
        try "name: alert-evaluator\ntrigger: {queue: market-tickz}".write(
            to: directory.appendingPathComponent("alert-evaluator/function.yaml"), atomically: true, encoding: .utf8)
        let queues = try QueueCatalog([QueueManifest(name: "market-ticks")])
        let error = try #require(throws: FunctionManifestError.self) { try FunctionCatalog.load(directory: directory, queues: queues) }
        #expect(error.field == "trigger.queue")
        #expect(error.reason == "no queue 'market-tickz' (known: market-ticks)")
    }

    @Test func sharedQueuesGetOneSubscriptionQueuePerFunction() throws {
        var ticks = QueueManifest(name: "market-ticks")
        ticks.maxDeliveries = 3
        let queues = try QueueCatalog([ticks, QueueManifest(name: "orders")])
        var alerts = FunctionManifest(name: "alert-evaluator")
        alerts.trigger = .queue("market-ticks")
        alerts.retry.maxDeliveries = 7
        var candles = FunctionManifest(name: "candle-builder")
        candles.trigger = .queue("market-ticks")
        var placer = FunctionManifest(name: "order-placer")
        placer.trigger = .queue("orders")
        let catalog = try FunctionCatalog([alerts, candles, placer])
        let derived = try catalog.derivedQueues(from: queues)
        #expect(derived.map(\.name).sorted() == [
            "fn:alert-evaluator", "fn:candle-builder", "fn:order-placer", "market-ticks@alert-evaluator", "market-ticks@candle-builder",
        ], "a queue with one subscriber is consumed directly")
        #expect(derived.first { $0.name == "market-ticks@alert-evaluator" }?.maxDeliveries == 7, "the function's retry override")
        #expect(derived.first { $0.name == "market-ticks@candle-builder" }?.maxDeliveries == 3, "the queue's own setting")
        #expect(throws: QueueManifestError.self, "a name declared twice") { try queues.adding(derived).adding([QueueManifest(name: "orders")]) }
    }
}
