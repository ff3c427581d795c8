// function-bench: the function runtime's benchmarks of `make bench` (issue 4), on the no-op mode of
// the `test-function` executable, through the real dispatcher, Redis queue and process protocol.
//
//   drain    N no-op messages pre-enqueued, then a dispatcher starts: invocations/s and records/s,
//            cold (a process per invocation) and warm (kept processes), batch sizes 1 and 10
//   latency  messages enqueued at a steady rate into an idle dispatcher: enqueue-to-start p50/p99
//   cold     one invocation at a time: a cold start's spawn-to-result, median, beside posix_spawn
//            of /bin/true (the floor any process-per-invocation design pays)
//
// Every figure is the median of --repeats runs (default 3), each run printed beside it; the rows go
// to --json (default bench-results/functions.json). Redis: TM_REDIS_URL (or TM_ENV_FILE).
import Foundation
import TMCore
import TMFunctionRuntime
import TMFunctions
import TMQueue
import TMRedis

setenv("TM_LOG_LEVEL", "error", 0)
JSONLogHandler.bootstrap()

struct Options {
    var repeats = 3
    var json = "bench-results/functions.json"
    var coldN = 400
    var warmN = 4000

    init(_ args: [String]) {
        var i = 0
        while i + 1 < args.count {
            switch args[i] {
            case "--repeats": repeats = Int(args[i + 1]) ?? repeats
            case "--json": json = args[i + 1]
            case "--cold-n": coldN = Int(args[i + 1]) ?? coldN
            case "--warm-n": warmN = Int(args[i + 1]) ?? warmN
            default: break
            }
            i += 2
        }
    }
}

struct Row: Codable {
    var id: String
    var name: String
    var settings: [String: String]
    var runs: [[String: Double]]
    var medians: [String: Double] = [:]

    init(id: String, name: String, settings: [String: String], runs: [[String: Double]]) {
        self.id = id
        self.name = name
        self.settings = settings
        self.runs = runs
        for key in Set(runs.flatMap(\.keys)) { medians[key] = median(runs.compactMap { $0[key] }) }
    }

    func show(_ key: String, _ digits: Int = 0) -> String {
        let f = { (v: Double) in String(format: "%.\(digits)f", v) }
        return "\(f(medians[key] ?? .nan)) (\(runs.compactMap { $0[key] }.map(f).joined(separator: " / ")))"
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let environment = TMEnvironment.current()
let redisConfiguration = try RedisConfiguration.fromEnvironment(environment)
let redis = try await RedisClient(configuration: redisConfiguration, name: "function-bench")
let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    .appendingPathComponent("test-function").path
guard FileManager.default.isExecutableFile(atPath: executable) else {
    FileHandle.standardError.write(Data("function-bench: no test-function next to this binary (swift build -c release first)\n".utf8))
    exit(1)
}
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("function-bench-\(getpid())")
try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: scratch) }

/// A fresh queue and function (unique names), a dispatcher over them, and their clean-up.
struct Setup {
    let queue: QueueManifest
    let function: FunctionManifest
    let latencyFile: String
    let catalog: QueueCatalog
    let functions: FunctionCatalog

    init(warm: Bool, batch: Int, window: Duration, concurrency: Int) throws {
        let suffix = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var queue = QueueManifest(name: "bench-fn-\(suffix)")
        queue.maxLength = 1_000_000
        self.queue = queue
        var function = FunctionManifest(name: "noop-\(suffix)")
        function.executable = "test-function"
        function.trigger = .queue(queue.name)
        function.warm = warm
        function.batchSize = batch
        function.batchWindow = window
        function.reservedConcurrency = concurrency
        function.maxInvocationsPerProcess = 1_000_000
        function.environment = ["TEST_MODE": "noop"]
        self.function = function
        latencyFile = scratch.appendingPathComponent("latency-\(suffix)").path
        catalog = try QueueCatalog([queue])
        functions = try FunctionCatalog([function])
    }

    func dispatcher() throws -> (Dispatcher, any FunctionInvoking) {
        var function = function
        function.environment["TEST_LATENCY_FILE"] = latencyFile  // outside the allow-list: through the manifest
        var launch = FunctionLaunch(manifest: function, executablePath: executable)
        launch.forwardLogs = false
        let invoker = Dispatcher.invoker(for: launch)
        var options = Dispatcher.Options()
        options.blockTimeout = .milliseconds(200)
        let dispatcher = try Dispatcher(functions: functions, queues: catalog, invokers: [function.name: invoker], redis: redis,
                                        redisConfiguration: redisConfiguration, log: nil, options: options)
        return (dispatcher, invoker)
    }

    func enqueue(_ count: Int) async throws {
        let producer = QueueProducer(redis: redis, catalog: catalog)
        var sent = 0
        while sent < count {
            let chunk = min(1000, count - sent)
            let messages = (0..<chunk).map { _ in OutgoingMessage(payload: Array(#"{"mode":"noop"}"#.utf8)) }
            for result in try await producer.enqueueBatch(queue.name, messages) { _ = try result.get() }
            sent += chunk
        }
    }

    /// (sent µs, started µs) per record, from the function's own clock lines.
    var starts: [(Int64, Int64)] {
        ((try? String(contentsOfFile: latencyFile, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let a = Int64(parts[0]), let b = Int64(parts[1]) else { return nil }
            return (a, b)
        }
    }

    func cleanUp() async {
        for name in [queue.name, function.invocationQueueName] {
            let k = QueueKeys(queue: name, shard: 0)
            _ = try? await redis.send("DEL", k.stream, k.delayed, k.deadLetters, k.epochs)
        }
        try? FileManager.default.removeItem(atPath: latencyFile)
    }
}

/// N messages waiting, then a dispatcher drains them: rate from start to the last record settled.
func drain(warm: Bool, batch: Int, count: Int) async throws -> [String: Double] {
    let setup = try Setup(warm: warm, batch: batch, window: batch > 1 ? .milliseconds(20) : .zero, concurrency: 4)
    defer { Task { await setup.cleanUp() } }
    try await setup.enqueue(count)
    let (dispatcher, invoker) = try setup.dispatcher()
    let started = ContinuousClock.now
    let task = Task { try await dispatcher.run() }
    let key = QueueKeys(queue: setup.queue.name, shard: 0).stream
    while Int(try await redis.send("XLEN", key).int ?? 1) > 0 { try await Task.sleep(for: .milliseconds(5)) }
    let elapsed = ContinuousClock.now - started
    dispatcher.stop()
    _ = try? await task.value
    let seconds = elapsed.seconds
    let invocations = Double(dispatcher.outcomes.values.flatMap(\.values).reduce(0, +))
    var spawned = invocations
    if let pool = invoker as? WarmPool { spawned = Double(pool.spawned) }
    return ["records_per_s": Double(count) / seconds, "invocations_per_s": invocations / seconds, "processes": spawned]
}

/// Steady arrivals into an idle dispatcher: enqueue-to-start per record.
func latency(warm: Bool, batch: Int, rate: Double, count: Int) async throws -> [String: Double] {
    let setup = try Setup(warm: warm, batch: batch, window: batch > 1 ? .milliseconds(20) : .zero, concurrency: 4)
    defer { Task { await setup.cleanUp() } }
    let (dispatcher, _) = try setup.dispatcher()
    let task = Task { try await dispatcher.run() }
    try await Task.sleep(for: .milliseconds(500))  // consumers up and blocking, warm processes not yet spawned
    let producer = QueueProducer(redis: redis, catalog: setup.catalog)
    let interval = 1.0 / rate
    let begin = Date()
    for i in 0..<count {
        let due = begin.addingTimeInterval(Double(i) * interval)
        let wait = due.timeIntervalSinceNow
        if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
        let sent = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try await producer.enqueue(setup.queue.name, OutgoingMessage(payload: Array(#"{"mode":"noop","sent_us":\#(sent)}"#.utf8)))
    }
    while setup.starts.count < count { try await Task.sleep(for: .milliseconds(20)) }
    dispatcher.stop()
    _ = try? await task.value
    let latencies = setup.starts.map { Double($0.1 - $0.0) / 1000 }
    return ["p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99), "max_ms": latencies.max() ?? .nan]
}

/// One invocation at a time: a cold start's spawn-to-result, and posix_spawn of /bin/true.
func coldStart(count: Int) async throws -> [String: Double] {
    var function = FunctionManifest(name: "cold-start")
    function.executable = "test-function"
    function.environment = ["TEST_MODE": "noop"]
    var launch = FunctionLaunch(manifest: function, executablePath: executable)
    launch.forwardLogs = false
    let invoker = ColdInvoker(launch)
    var durations: [Double] = []
    var floor: [Double] = []
    for _ in 0..<count {
        let request = InvocationRequest(invocationID: UUID().uuidString, function: "cold-start", attempt: 1,
                                        deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 10_000,
                                        records: [InvocationRecord(messageID: "m", queue: "bench", attempt: 1, epoch: 1, enqueuedAtMillis: 0, body: "{}")])
        let outcome = await invoker.invoke(request)
        durations.append(Double(outcome.duration.components.attoseconds) / 1e15 + Double(outcome.duration.components.seconds) * 1000)
        let t0 = ContinuousClock.now
        let process = try Subprocess("/bin/true")
        _ = process.wait(timeout: .seconds(5))
        let d = ContinuousClock.now - t0
        floor.append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
    }
    return ["cold_start_ms": median(durations), "spawn_true_ms": median(floor)]
}

func repeated(_ body: () async throws -> [String: Double]) async throws -> [[String: Double]] {
    var runs: [[String: Double]] = []
    for _ in 0..<options.repeats { runs.append(try await body()) }
    return runs
}

var rows: [Row] = []
print("function runtime, no-op function (test-function), reserved concurrency 4, \(ProcessInfo.processInfo.activeProcessorCount) cores; median (each run)")
print("")
print(pad("drain", 38) + pad("records/s", 30) + pad("invocations/s", 30) + "processes")
for (warm, batch) in [(false, 1), (false, 10), (true, 1), (true, 10)] {
    let count = warm ? options.warmN : options.coldN * batch
    let label = "\(warm ? "warm" : "cold"), batch \(batch), \(count) msgs"
    let row = Row(id: "drain-\(warm ? "warm" : "cold")-b\(batch)", name: "drain \(label)", settings: ["messages": "\(count)", "concurrency": "4"],
                  runs: try await repeated { try await drain(warm: warm, batch: batch, count: count) })
    rows.append(row)
    print(pad(label, 38) + pad(row.show("records_per_s"), 30) + pad(row.show("invocations_per_s"), 30) + row.show("processes"))
}
print("")
print(pad("enqueue-to-start latency", 38) + pad("p50 ms", 26) + pad("p99 ms", 26) + "max ms")
for (warm, batch, rate, count) in [(false, 1, 20.0, 200), (false, 10, 50.0, 300), (true, 1, 200.0, 1000), (true, 10, 200.0, 1000)] {
    let label = "\(warm ? "warm" : "cold"), batch \(batch), \(Int(rate))/s"
    let row = Row(id: "latency-\(warm ? "warm" : "cold")-b\(batch)", name: "latency \(label)", settings: ["rate": "\(rate)", "messages": "\(count)"],
                  runs: try await repeated { try await latency(warm: warm, batch: batch, rate: rate, count: count) })
    rows.append(row)
    print(pad(label, 38) + pad(row.show("p50_ms", 2), 26) + pad(row.show("p99_ms", 2), 26) + row.show("max_ms", 1))
}
print("")
let cold = Row(id: "cold-start", name: "cold start, spawn to result (median of 50)", settings: ["invocations": "50"],
               runs: try await repeated { try await coldStart(count: 50) })
rows.append(cold)
print("cold start (spawn → result), median of 50: \(cold.show("cold_start_ms", 2)) ms; posix_spawn of /bin/true: \(cold.show("spawn_true_ms", 2)) ms")

struct Report: Codable { var date: String; var host: String; var cores: Int; var rows: [Row] }
let report = Report(date: ISO8601DateFormatter().string(from: Date()), host: ProcessInfo.processInfo.hostName,
                    cores: ProcessInfo.processInfo.activeProcessorCount, rows: rows)
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
try FileManager.default.createDirectory(at: URL(fileURLWithPath: options.json).deletingLastPathComponent(), withIntermediateDirectories: true)
try encoder.encode(report).write(to: URL(fileURLWithPath: options.json))
print("figures written to \(options.json)")
redis.close()
