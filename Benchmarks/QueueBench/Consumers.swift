import Foundation
import TMCore
import TMQueue
import TMRedis

/// The benchmark handler: the no-op record (see `NoopRecorder`), preceded for the recovery run's
/// "slow" worker by a start mark and a long sleep, so its messages are in flight when it is killed.
func benchHandler(recorder: NoopRecorder, times: HandlerTimes, slowFor: Duration = .zero) -> QueueHandler {
    { delivery in
        times.started()
        let payload = try delivery.decode(BenchPayload.self)
        if slowFor > .zero {
            try await recorder.redis.send("HINCRBY", recorder.queue.startsKey, payload.i, 1)
            try await Task.sleep(for: slowFor)
        }
        try await recorder.record(payload.i)
        times.finished()
        return nil
    }
}

/// Consumer options used by every benchmark consumer: the runtime's defaults (block timeout,
/// heartbeat and reclaim intervals from the visibility timeout) except the concurrency, which is set
/// like the peers' `-c 10`.
func benchConsumerOptions(concurrency: Int, name: String) -> QueueConsumer.Options {
    var options = QueueConsumer.Options()
    options.concurrency = concurrency
    options.consumerName = name
    return options
}

/// Where a benchmark's consumers run.
enum Placement: String, Sendable {
    /// One `QueueConsumer` per consumer inside the benchmark process, each with its own Redis connections.
    case inProcess = "in-process"
    /// One `queue-bench worker` child process per consumer (closer to the peers' "2 procs" configs).
    case processes
}

/// A set of running consumers of one queue, in-process or as worker processes.
protocol ConsumerSet: Sendable {
    /// Stops every consumer gracefully and returns what each one handled and when.
    func stop() async throws -> [HandlerTimes.Report]
}

/// Consumers running inside this process.
final class InProcessConsumers: ConsumerSet {
    private let consumers: [QueueConsumer]
    private let times: [HandlerTimes]
    private let clients: [RedisClient]
    private let tasks: [Task<Void, Error>]

    /// Starts `count` consumers; each gets its own `QueueConsumer` (hence its own control and read
    /// connections) and its own recorder connection.
    init(count: Int, queue: BenchQueue, redis: RedisConfiguration, concurrency: Int, slowFor: Duration = .zero) async throws {
        var consumers: [QueueConsumer] = [], times: [HandlerTimes] = [], clients: [RedisClient] = []
        for index in 0..<count {
            let client = try await RedisClient(configuration: redis, name: "bench-rec")
            let handlerTimes = HandlerTimes()
            let handler = benchHandler(recorder: NoopRecorder(redis: client, queue: queue), times: handlerTimes, slowFor: slowFor)
            let options = benchConsumerOptions(concurrency: concurrency, name: "bench-\(getpid())-\(index)")
            consumers.append(QueueConsumer(manifest: queue.manifest, redis: redis, options: options, handler: handler))
            times.append(handlerTimes)
            clients.append(client)
        }
        self.consumers = consumers
        self.times = times
        self.clients = clients
        self.tasks = consumers.map { consumer in Task { try await consumer.run() } }
    }

    func stop() async throws -> [HandlerTimes.Report] {
        for consumer in consumers { consumer.stop() }
        for task in tasks { try await task.value }
        for client in clients { client.close() }
        return times.map(\.report)
    }
}

/// Consumers running as `queue-bench worker` child processes (this same binary).
final class WorkerProcesses: ConsumerSet {
    private let workers: [WorkerProcess]

    init(count: Int, queue: BenchQueue, redisURL: String, concurrency: Int, slowFor: Duration = .zero) throws {
        workers = try (0..<count).map { _ in
            try WorkerProcess(queue: queue, redisURL: redisURL, concurrency: concurrency, slowFor: slowFor)
        }
    }

    func stop() async throws -> [HandlerTimes.Report] {
        var reports: [HandlerTimes.Report] = []
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers {
            guard let report = try await worker.finish(grace: .seconds(15)) else {
                throw BenchError("a worker process exited without its report (see its output above)")
            }
            reports.append(report)
        }
        return reports
    }
}

/// One `queue-bench worker` child process. Its standard output is read for the final report; its
/// standard error (warnings only) goes to ours.
///
/// `Process` is not `Sendable`; this wrapper is used by one task at a time (start, signal, finish),
/// which is what makes the `@unchecked` conformance sound.
final class WorkerProcess: @unchecked Sendable {
    private let process = Process()
    private let output = Pipe()

    init(queue: BenchQueue, redisURL: String, concurrency: Int, slowFor: Duration) throws {
        process.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        process.arguments = [
            "worker", "--queue", queue.name, "--redis", redisURL, "--concurrency", String(concurrency),
            "--visibility-ms", String(queue.manifest.visibilityTimeout.milliseconds),
            "--slow-ms", String(slowFor.milliseconds),
        ]
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: pid_t { process.processIdentifier }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits (at most `grace`, then SIGKILL) for the process to exit and returns its report, the last
    /// line of its output, or nil when it printed none (killed, crashed).
    func finish(grace: Duration) async throws -> HandlerTimes.Report? {
        if !(await waitUntil(limit: grace, step: .milliseconds(10)) { !process.isRunning }) {
            signal(SIGKILL)
            _ = await waitUntil(limit: .seconds(5), step: .milliseconds(10)) { !process.isRunning }
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard let last = text.split(separator: "\n").last, last.hasPrefix("{") else { return nil }
        return try JSONDecoder().decode(HandlerTimes.Report.self, from: Data(last.utf8))
    }
}

/// `queue-bench worker`: one consumer process for the drain and recovery runs.
///
///     queue-bench worker --queue NAME --redis URL [--concurrency 10] [--visibility-ms 30000] [--slow-ms 0]
///
/// Consumes until SIGTERM (graceful: in-flight handlers finish), then prints its `HandlerTimes.Report`
/// as one JSON line. `--slow-ms` makes every handler mark its start and sleep that long first.
enum WorkerMode {
    static func run(_ arguments: Arguments) async throws {
        guard let queueName = arguments.string("--queue"), let redisURL = arguments.string("--redis") else {
            throw BenchError("worker needs --queue NAME and --redis URL")
        }
        var manifest = QueueManifest(name: queueName)
        manifest.visibilityTimeout = .milliseconds(Int64(try arguments.int("--visibility-ms", default: 30_000)))
        let queue = BenchQueue(manifest: manifest)
        let redis = try RedisConfiguration(url: redisURL)
        let slowFor = Duration.milliseconds(Int64(arguments.string("--slow-ms").flatMap(Int.init) ?? 0))

        let client = try await RedisClient(configuration: redis, name: "bench-rec")
        let times = HandlerTimes()
        let options = benchConsumerOptions(concurrency: try arguments.int("--concurrency", default: 10), name: "bench-worker-\(getpid())")
        let consumer = QueueConsumer(
            manifest: manifest, redis: redis, options: options,
            handler: benchHandler(recorder: NoopRecorder(redis: client, queue: queue), times: times, slowFor: slowFor))

        Foundation.signal(SIGTERM, SIG_IGN)
        let termination = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        termination.setEventHandler { consumer.stop() }
        termination.resume()

        try await consumer.run()
        client.close()
        let report = try JSONEncoder().encode(times.report)
        FileHandle.standardOutput.write(report + Data("\n".utf8))
    }
}
