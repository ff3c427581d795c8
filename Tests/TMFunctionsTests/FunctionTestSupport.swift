import Foundation
import TestSupport
import TMCore
import TMFunctionRuntime
import TMFunctions
import TMQueue
import TMRedis

/// The `test-function` executable with a trace file of its own, for one test.
struct TestFunctionHarness {
    let traceFile: String
    let executable: String

    init() {
        traceFile = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("trace") + ".log").path
        executable = TestServers.productsDirectory.appendingPathComponent("test-function").path
    }

    func manifest(_ name: String = TestServers.uniqueName("fn").replacingOccurrences(of: "_", with: "-"),
                  _ configure: (inout FunctionManifest) -> Void = { _ in }) -> FunctionManifest {
        var manifest = FunctionManifest(name: name)
        manifest.executable = "test-function"
        manifest.timeout = .seconds(10)
        manifest.killGrace = .milliseconds(500)
        configure(&manifest)
        return manifest
    }

    /// The dispatcher's environment is `base` (default: this process's); the trace file goes
    /// through the manifest's `environment`, the only way a variable outside the allow-list passes.
    func launch(_ manifest: FunctionManifest, base: [String: String] = ProcessInfo.processInfo.environment) -> FunctionLaunch {
        var manifest = manifest
        manifest.environment["TEST_TRACE_FILE"] = traceFile
        var launch = FunctionLaunch(manifest: manifest, executablePath: executable, baseEnvironment: base)
        launch.forwardLogs = false
        return launch
    }

    /// The trace's events: (event, pid, unix ms).
    var events: [(event: String, pid: Int, at: Int64)] {
        let text = (try? String(contentsOfFile: traceFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 3, let pid = Int(parts[1]), let at = Int64(parts[2]) else { return nil }
            return (String(parts[0]), pid, at)
        }
    }

    var spawns: Int { events.filter { $0.event == "spawn" }.count }
    var invocations: Int { events.filter { $0.event == "start" }.count }

    /// The most invocations that were running at the same moment.
    var maxConcurrent: Int {
        var running = 0, peak = 0
        // At equal times an end comes before a start: touching intervals do not overlap.
        for event in events.filter({ $0.event != "spawn" }).sorted(by: { ($0.at, $0.event == "start" ? 1 : 0) < ($1.at, $1.event == "start" ? 1 : 0) }) {
            running += event.event == "start" ? 1 : -1
            peak = max(peak, running)
        }
        return peak
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: traceFile) }

    func request(_ bodies: [String], attempt: Int = 1, function: String = "test", timeout: Duration = .seconds(10)) -> InvocationRequest {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return InvocationRequest(
            invocationID: UUID().uuidString.lowercased(), function: function, attempt: attempt, deadlineMillis: now + timeout.milliseconds,
            records: bodies.enumerated().map { InvocationRecord(messageID: "m\($0.offset + 1)", queue: "test", attempt: attempt, epoch: 1, enqueuedAtMillis: now, body: $0.element) })
    }
}

/// A trigger queue of its own on the harness's Redis, with fast retries.
struct TriggerQueue {
    let manifest: QueueManifest
    let redis: RedisClient
    let redisConfiguration: RedisConfiguration

    init(_ configure: (inout QueueManifest) -> Void = { _ in }) async throws {
        var manifest = QueueManifest(name: TestServers.uniqueName("q").replacingOccurrences(of: "_", with: "-"))
        manifest.visibilityTimeout = .seconds(5)
        manifest.backoff = .init(base: .milliseconds(50), cap: .milliseconds(200), jitter: .full)
        configure(&manifest)
        self.manifest = manifest
        redisConfiguration = try RedisConfiguration(url: try TestServers.redisURL)
        redis = try await RedisClient(configuration: redisConfiguration)
    }

    var catalog: QueueCatalog { get throws { try QueueCatalog([manifest]) } }

    /// Enqueues onto `queue` (default: this queue) through a producer that knows the functions' queues.
    @discardableResult
    func enqueue(_ json: String, key: String? = nil, on queue: String? = nil, functions: FunctionCatalog) async throws -> EnqueueResult {
        let catalog = try self.catalog.adding(try functions.derivedQueues(from: try self.catalog))
        return try await QueueProducer(redis: redis, catalog: catalog).enqueue(queue ?? manifest.name, OutgoingMessage(payload: Array(json.utf8), key: key))
    }

    /// Dead letters of `queue` (default: this queue), shard 0: their fields.
    func deadLetters(_ queue: String? = nil) async throws -> [[String: String]] {
        let reply = try await redis.send("XRANGE", QueueKeys(queue: queue ?? manifest.name, shard: 0).deadLetters, "-", "+")
        return (reply.array ?? []).map { entry in
            let flat = entry.array?[1].array ?? []
            var fields: [String: String] = [:]
            var i = 0
            while i + 1 < flat.count { fields[flat[i].string ?? ""] = flat[i + 1].string ?? ""; i += 2 }
            return fields
        }
    }

    func backlog(_ queue: String? = nil) async throws -> Int {
        let keys = QueueKeys(queue: queue ?? manifest.name, shard: 0)
        return Int(try await redis.send("XLEN", keys.stream).int ?? 0) + Int(try await redis.send("ZCARD", keys.delayed).int ?? 0)
    }

    func cleanUp(_ others: [String] = []) async {
        for name in [manifest.name] + others {
            let k = QueueKeys(queue: name, shard: 0)
            _ = try? await redis.send("DEL", k.stream, k.delayed, k.deadLetters, k.epochs)
        }
        redis.close()
    }
}

/// Runs a dispatcher in the background for a test.
final class RunningDispatcher: Sendable {
    let dispatcher: Dispatcher
    let task: Task<Void, Error>
    let invokers: [String: any FunctionInvoking]

    init(functions: [FunctionManifest], queue: TriggerQueue, harness: TestFunctionHarness, log: InvocationLog? = nil, name: String? = nil,
         slotLease: Duration? = nil) throws {
        let catalog = try FunctionCatalog(functions)
        var invokers: [String: any FunctionInvoking] = [:]
        for manifest in functions { invokers[manifest.name] = Dispatcher.invoker(for: harness.launch(manifest)) }
        var options = Dispatcher.Options()
        if let name { options.name = name }
        options.blockTimeout = .milliseconds(200)
        options.promoteInterval = .milliseconds(20)
        options.reclaimInterval = .milliseconds(500)
        if let slotLease { options.slotLease = slotLease }
        let dispatcher = try Dispatcher(functions: catalog, queues: try queue.catalog, invokers: invokers, redis: queue.redis,
                                        redisConfiguration: queue.redisConfiguration, log: log, options: options)
        self.dispatcher = dispatcher
        self.invokers = invokers
        task = Task { try await dispatcher.run() }
    }

    func stop() async {
        dispatcher.stop()
        _ = try? await task.value
    }
}
