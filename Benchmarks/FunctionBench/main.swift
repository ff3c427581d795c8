// function-bench: the function runtime's benchmarks of `make bench` (issue 4), on the no-op mode of
// the `test-function` executable, through the real dispatcher, Redis queue and process protocol.
//
//   drain    N no-op messages pre-enqueued, then a dispatcher starts: invocations/s and records/s,
//            cold (a process per invocation) and warm (kept processes), batch sizes 1 and 10
//   latency  messages enqueued at a steady rate into an idle dispatcher: enqueue-to-start
//            p50/p99/p99.9 (HdrHistogram), warm batch 1 at 200/s and 2,000/s among others
//   cold     one invocation at a time: a cold start's spawn-to-result, median, beside posix_spawn
//            of /bin/true (the floor any process-per-invocation design pays)
//   recovery a dispatcher process running 4 long invocations is SIGKILLed: time until its
//            messages start on a dispatcher already running elsewhere, and until its reserved-
//            concurrency slots are free (the shipped queues' 6 s visibility timeout, 6 s slot lease)
//
// `function-bench dispatch-worker ...` is the victim process that recovery starts.
//
// Every figure is the median of --repeats runs (default 3), each run printed beside it; the rows go
// to --json (default bench-results/functions.json). Redis: TM_REDIS_URL (or TM_ENV_FILE).
import BenchFixtures
import BenchSupport
import Foundation
import TMCore
import TMFunctionRuntime
import TMFunctions
import TMQueue
import TMRedis

setenv("TM_LOG_LEVEL", "error", 0)
JSONLogHandler.bootstrap()

struct Options {
    static let parts: Set<String> = ["drain", "drain-warm", "latency", "cold", "recovery"]
    var repeats = 3
    var json = "bench-results/functions.json"
    var coldN = 400
    var warmN = 4000
    /// Which parts to run (default all): drain, latency, cold, recovery.
    var only: Set<String> = ["drain", "latency", "cold", "recovery"]

    /// The defaults (the `dispatch-worker` victim takes none of these options).
    init() {}

    /// From the command line; a bad value ends the run naming the option (BenchCommand).
    static func fromCommandLine() -> Options {
        var options = Options()
        options.repeats = option("--repeats", options.repeats)
        options.json = option("--json", options.json)
        options.coldN = option("--cold-n", options.coldN)
        options.warmN = option("--warm-n", options.warmN)
        options.only = Set(option("--only", Array(options.only)))
        for part in options.only where !parts.contains(part) {
            BenchCommand.fail("function-bench: --only: '\(part)' is not one of \(parts.sorted().joined(separator: ", ")); try --help")
        }
        for (name, value) in [("--repeats", options.repeats), ("--cold-n", options.coldN), ("--warm-n", options.warmN)] where value < 1 {
            BenchCommand.fail("function-bench: \(name): '\(value)' is below 1; try --help")
        }
        return options
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

let usage = """
    function-bench [--repeats 3] [--cold-n 400] [--warm-n 4000] [--only drain,drain-warm,latency,cold,recovery]
                   [--json bench-results/functions.json]
    Needs TM_REDIS_URL (or TM_ENV_FILE) and test-function next to this binary (swift build -c release).
    """
let arguments = Array(CommandLine.arguments.dropFirst())
let workerMode = arguments.first == "dispatch-worker"
let options = workerMode ? Options() : Options.fromCommandLine()
let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    .appendingPathComponent("test-function").path
// The servers and the scratch directory before any part runs; a failure ends the run in one line.
let (redisConfiguration, redis, scratch) = await BenchCommand.value("function-bench", usage: usage) {
    guard FileManager.default.isExecutableFile(atPath: executable) else {
        throw BenchFailure(description: "no test-function next to this binary (swift build -c release first)")
    }
    let redisConfiguration = try RedisConfiguration.fromEnvironment(TMEnvironment.current())
    let redis = try await RedisClient(configuration: redisConfiguration, name: "function-bench")
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("function-bench-\(workerMode ? getppid() : getpid())")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    return (redisConfiguration, redis, scratch)
}

/// A fresh queue and function (unique names), a dispatcher over them, and their clean-up.
struct Setup {
    let queue: QueueManifest
    let function: FunctionManifest
    let latencyFile: String
    let catalog: QueueCatalog
    let functions: FunctionCatalog

    init(warm: Bool, batch: Int, window: Duration, concurrency: Int,
         suffix: String = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))", environment: [String: String] = [:], recordStarts: Bool = true) throws {
        var queue = QueueManifest(name: "bench-fn-\(suffix)")
        queue.maxLength = 1_000_000
        queue.visibilityTimeout = .seconds(6)  // as the shipped queues
        self.queue = queue
        var function = FunctionManifest(name: "noop-\(suffix)")
        function.executable = "test-function"
        function.trigger = .queue(queue.name)
        function.warm = warm
        function.batchSize = batch
        function.batchWindow = window
        function.reservedConcurrency = concurrency
        function.maxInvocationsPerProcess = 1_000_000
        latencyFile = scratch.appendingPathComponent("latency-\(suffix)\(environment.isEmpty ? "" : "-b")").path
        // Through the manifest, so it reaches the function whatever the dispatcher's environment;
        // only where starts are measured (a no-op function writes no file per invocation).
        function.environment = ["TEST_MODE": "noop"].merging(environment) { $1 }
        if recordStarts { function.environment["TEST_LATENCY_FILE"] = latencyFile }
        self.function = function
        catalog = try QueueCatalog([queue])
        functions = try FunctionCatalog([function])
    }

    func dispatcher(name: String? = nil) throws -> (Dispatcher, any FunctionInvoking) {
        var launch = FunctionLaunch(manifest: function, executablePath: executable)
        launch.forwardLogs = false
        let invoker = Dispatcher.invoker(for: launch)
        var options = Dispatcher.Options()
        if let name { options.name = name }
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
    let setup = try Setup(warm: warm, batch: batch, window: batch > 1 ? .milliseconds(20) : .zero, concurrency: 4, recordStarts: false)
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

/// Steady arrivals into an idle dispatcher: enqueue-to-start per record, into an HdrHistogram.
func latency(warm: Bool, batch: Int, rate: Double, count: Int) async throws -> [String: Double] {
    let setup = try Setup(warm: warm, batch: batch, window: batch > 1 ? .milliseconds(20) : .zero, concurrency: 4)
    defer { Task { await setup.cleanUp() } }
    let (dispatcher, _) = try setup.dispatcher()
    let task = Task { try await dispatcher.run() }
    let producer = QueueProducer(redis: redis, catalog: setup.catalog)
    func paced(_ count: Int, rate: Double) async throws {
        let clock = ContinuousClock()
        let begin = clock.now
        for i in 0..<count {
            let due = begin + .nanoseconds(Int64(Double(i) / rate * 1e9))
            if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            let sent = Int64(Date().timeIntervalSince1970 * 1_000_000)
            try await producer.enqueue(setup.queue.name, OutgoingMessage(payload: Array(#"{"mode":"noop","sent_us":\#(sent)}"#.utf8)))
        }
    }
    // As the peers do: 20 warm-up messages at 50/s (a warm process spawned), forgotten, 1 s idle.
    try await paced(20, rate: 50)
    while setup.starts.count < 20 { try await Task.sleep(for: .milliseconds(20)) }
    try? FileManager.default.removeItem(atPath: setup.latencyFile)
    try await Task.sleep(for: .seconds(1))
    try await paced(count, rate: rate)
    while setup.starts.count < count { try await Task.sleep(for: .milliseconds(20)) }
    dispatcher.stop()
    _ = try? await task.value
    let histogram = LatencyHistogram(millis: setup.starts.map { Double($0.1 - $0.0) / 1000 })
    return ["p50_ms": histogram.millis(atPercentile: 50), "p99_ms": histogram.millis(atPercentile: 99),
            "p999_ms": histogram.millis(atPercentile: 99.9), "max_ms": histogram.maxMillis]
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

struct BenchFailure: Error, CustomStringConvertible { let description: String }

/// A dispatcher process (`function-bench dispatch-worker`) runs 4 long invocations (a warm function,
/// reserved concurrency 4, so it holds every slot); a second dispatcher, in this process, is already
/// running; the first is SIGKILLed (with its function processes, as when its machine dies) at a
/// random moment 1–7 s later, so the runs sample the phases of its heartbeats and slot renewals.
/// Measured from the kill: when its 4 messages start on the survivor (whose function finishes them
/// at once), and when none of its slots is live any more.
func dispatcherRecovery() async throws -> [String: Double] {
    let suffix = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let victimSetup = try Setup(warm: true, batch: 1, window: .zero, concurrency: 4, suffix: suffix)
    let survivorSetup = try Setup(warm: true, batch: 1, window: .zero, concurrency: 4, suffix: suffix, environment: ["TEST_SLEEP_CAP_MS": "0"])
    defer { Task { await victimSetup.cleanUp(); try? FileManager.default.removeItem(atPath: survivorSetup.latencyFile) } }
    let slots = ReservedConcurrency.key(victimSetup.function.name)
    let producer = QueueProducer(redis: redis, catalog: victimSetup.catalog)
    for _ in 0..<4 {
        try await producer.enqueue(victimSetup.queue.name, OutgoingMessage(payload: Array(#"{"mode":"sleep","sleep_ms":60000}"#.utf8)))
    }
    let victim = Process()
    victim.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    victim.arguments = ["dispatch-worker", "--suffix", suffix]
    victim.standardOutput = FileHandle.nullDevice
    victim.standardInput = FileHandle.nullDevice
    try victim.run()
    // Whatever happens below, the victim does not outlive this run.
    defer { if victim.isRunning { kill(victim.processIdentifier, SIGKILL) } }
    let stream = QueueKeys(queue: victimSetup.queue.name, shard: 0).stream
    let taken = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < taken {
        let held = try await redis.send("ZCARD", slots).int ?? 0
        // NOGROUP until the victim's consumer has created the group.
        let pending = (try? await redis.send("XPENDING", stream, QueueConsumer.group))?.array?.first?.int ?? 0
        if held == 4 && pending == 4 { break }
        try await Task.sleep(for: .milliseconds(10))
    }
    let victimSlots = (try await redis.send("ZRANGE", slots, 0, -1).array ?? []).compactMap(\.string)
    guard victimSlots.count == 4 else {
        kill(victim.processIdentifier, SIGKILL)
        throw BenchFailure(description: "recovery: the victim dispatcher did not take 4 slots within 60 s")
    }
    let (survivor, _) = try survivorSetup.dispatcher(name: "survivor-\(getpid())")
    let surviving = Task { try await survivor.run() }
    let lived = Duration.milliseconds(Int64.random(in: 1000...7000))
    try await Task.sleep(for: lived)

    let children = childProcesses(of: victim.processIdentifier)
    kill(victim.processIdentifier, SIGKILL)
    for child in children { kill(child, SIGKILL) }
    let killedAt = ContinuousClock.now
    let killedWallMicros = Int64(Date().timeIntervalSince1970 * 1_000_000)
    victim.waitUntilExit()

    var slotsFree: Duration?
    while ContinuousClock.now < killedAt + .seconds(60) {
        if slotsFree == nil {
            let time = try await redis.send("TIME").array ?? []
            let now = (Int64(time.first?.string ?? "") ?? 0) * 1000 + (Int64(time.last?.string ?? "") ?? 0) / 1000
            let scores = try await redis.send(RedisCommand("ZMSCORE", arguments: [slots] + victimSlots)).array ?? []
            if scores.allSatisfy({ ($0.string.flatMap(Double.init) ?? 0) <= Double(now) }) { slotsFree = ContinuousClock.now - killedAt }
        }
        if slotsFree != nil && survivorSetup.starts.count >= 4 { break }
        try await Task.sleep(for: .milliseconds(10))
    }
    survivor.stop()
    _ = try? await surviving.value
    let starts = survivorSetup.starts.map { Double($0.1 - killedWallMicros) / 1e6 }
    guard let slotsFree, starts.count >= 4 else {
        throw BenchFailure(description: "recovery: \(starts.count) of 4 messages restarted, slots free: \(slotsFree != nil), within 60 s")
    }
    return ["messages_s": starts.max()!, "messages_first_s": starts.min()!, "slots_s": slotsFree.seconds, "lived_s": lived.seconds]
}

/// The children of `pid` (its function processes), from /proc.
func childProcesses(of pid: pid_t) -> [pid_t] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.flatMap { task in
        ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "").split(separator: " ").compactMap { pid_t($0) }
    }
}

/// The victim of `dispatcherRecovery`: the same queue and function (by suffix), run until killed.
func dispatchWorker(_ arguments: [String]) async throws -> Never {
    guard let index = arguments.firstIndex(of: "--suffix"), index + 1 < arguments.count else {
        throw BenchFailure(description: "dispatch-worker: --suffix is required")
    }
    let setup = try Setup(warm: true, batch: 1, window: .zero, concurrency: 4, suffix: arguments[index + 1])
    let (dispatcher, _) = try setup.dispatcher(name: "victim-\(getpid())")
    try await dispatcher.run()
    exit(0)
}

func repeated(_ body: () async throws -> [String: Double]) async throws -> [[String: Double]] {
    var runs: [[String: Double]] = []
    for _ in 0..<options.repeats { runs.append(try await body()) }
    return runs
}

struct Report: Codable { var date: String; var host: String; var cores: Int; var rows: [Row] }

/// Every part chosen by --only, its table printed and its rows written to --json.
func run() async throws {
    defer { try? FileManager.default.removeItem(at: scratch) }
    var rows: [Row] = []
    print("function runtime, no-op function (test-function), reserved concurrency 4, \(ProcessInfo.processInfo.activeProcessorCount) cores; median (each run)")
    print("")
    print(pad("drain", 38) + pad("records/s", 30) + pad("invocations/s", 30) + "processes")
    for (warm, batch) in [(false, 1), (false, 10), (true, 1), (true, 10)] where options.only.contains("drain") || (warm && options.only.contains("drain-warm")) {
        let count = warm ? options.warmN : options.coldN * batch
        let label = "\(warm ? "warm" : "cold"), batch \(batch), \(count) msgs"
        let row = Row(id: "drain-\(warm ? "warm" : "cold")-b\(batch)", name: "drain \(label)", settings: ["messages": "\(count)", "concurrency": "4"],
                      runs: try await repeated { try await drain(warm: warm, batch: batch, count: count) })
        rows.append(row)
        print(pad(label, 38) + pad(row.show("records_per_s"), 30) + pad(row.show("invocations_per_s"), 30) + row.show("processes"))
    }
    print("")
    print(pad("enqueue-to-start latency", 38) + pad("p50 ms", 26) + pad("p99 ms", 26) + pad("p99.9 ms", 26) + "max ms")
    for (warm, batch, rate, count) in [(false, 1, 20.0, 200), (false, 10, 50.0, 300), (true, 1, 200.0, 2000), (true, 1, 2000.0, 20000), (true, 10, 200.0, 1000)]
        where options.only.contains("latency") {
        let label = "\(warm ? "warm" : "cold"), batch \(batch), \(Int(rate))/s"
        let id = "latency-\(warm ? "warm" : "cold")-b\(batch)" + (rate == 200 || !warm ? "" : "-\(Int(rate))")
        let row = Row(id: id, name: "latency \(label)", settings: ["rate": "\(rate)", "messages": "\(count)"],
                      runs: try await repeated { try await latency(warm: warm, batch: batch, rate: rate, count: count) })
        rows.append(row)
        print(pad(label, 38) + pad(row.show("p50_ms", 2), 26) + pad(row.show("p99_ms", 2), 26) + pad(row.show("p999_ms", 2), 26) + row.show("max_ms", 1))
    }
    print("")
    if options.only.contains("cold") {
        let cold = Row(id: "cold-start", name: "cold start, spawn to result (median of 50)", settings: ["invocations": "50"],
                       runs: try await repeated { try await coldStart(count: 50) })
        rows.append(cold)
        print("cold start (spawn → result), median of 50: \(cold.show("cold_start_ms", 2)) ms; posix_spawn of /bin/true: \(cold.show("spawn_true_ms", 2)) ms")
        print("")
    }
    if options.only.contains("recovery") {
        let recovery = Row(id: "dispatcher-recovery", name: "SIGKILL of a dispatcher running 4 invocations",
                           settings: ["visibility": "6s", "slotLease": "\(ReservedConcurrency.defaultLease.milliseconds)ms", "inFlight": "4"],
                           runs: try await repeated { try await dispatcherRecovery() })
        rows.append(recovery)
        print("dispatcher SIGKILL → its 4 messages started elsewhere (last) \(recovery.show("messages_s", 2)) s; "
              + "→ its slots free \(recovery.show("slots_s", 2)) s; killed after \(recovery.show("lived_s", 1)) s")
    }

    let report = Report(date: ISO8601DateFormatter().string(from: Date()), host: ProcessInfo.processInfo.hostName,
                        cores: ProcessInfo.processInfo.activeProcessorCount, rows: rows)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try FileManager.default.createDirectory(at: URL(fileURLWithPath: options.json).deletingLastPathComponent(), withIntermediateDirectories: true)
    try encoder.encode(report).write(to: URL(fileURLWithPath: options.json))
    print("figures written to \(options.json)")
    redis.close()
}

await BenchCommand.run("function-bench", usage: usage) {
    if workerMode { try await dispatchWorker(arguments) }
    try await run()
}
