import ArgumentParser
import Foundation
import TMCore
import TMFunctionRuntime
import TMFunctions
import TMLocks
import TMPostgres
import TMQueue
import TMRedis

/// `tm functions`: every function, its trigger and settings, and how its recent invocations went.
struct Functions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List functions: triggers, settings, running invocations and recent outcomes.",
        discussion: "Outcomes cover the last hour (--since to change), from the invocation records in Postgres.")

    @Flag(help: "Print as JSON.")
    var json = false

    @Flag(help: "Print Prometheus metrics (counters since the records began; durations over --since).")
    var prometheus = false

    @Option(help: ArgumentHelp("How far back outcomes go, e.g. 15m, 24h.", valueName: "duration"))
    var since = "1h"

    func run() async throws {
        let environment = TMEnvironment.current()
        let window: Duration
        do { window = try DurationText.parse(since) } catch { throw ValidationError("--since: \(error)") }
        let functions = try QueueSystem.loadCatalogs(environment).functions
        let from = Date().addingTimeInterval(-Double(window.components.seconds))
        var summaries: [String: InvocationSummary] = [:]
        var totals: [String: [String: Int]] = [:]
        var notes: [String] = []
        do {
            let db = try PostgresConnection(configuration: try PostgresConfiguration.fromEnvironment(environment))
            defer { db.close() }
            summaries = try InvocationSummary.load(db, since: from)
            if prometheus { totals = try InvocationSummary.totals(db) }
        } catch {
            notes.append("recent outcomes unavailable: \(error)")
        }
        var running: [String: Int] = [:]
        do {
            let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "tm-functions")
            defer { redis.close() }
            for name in functions.names {
                let manifest = try functions.manifest(name)
                running[name] = try await ReservedConcurrency(function: name, limit: manifest.reservedConcurrency, lease: .seconds(1), redis: redis).running()
            }
        } catch {
            notes.append("running counts unavailable: \(error)")
        }
        if prometheus {
            print(InvocationSummary.prometheus(totals: totals, summaries: summaries, running: running))
            for note in notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        } else if json {
            print(try renderJSON(functions, summaries, running, notes))
        } else {
            print(render(functions, summaries, running))
            for note in notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        }
    }

    func triggerText(_ manifest: FunctionManifest) -> String {
        switch manifest.trigger {
        case .queue(let queue): return "queue \(queue)"
        case .schedules: return "schedules"
        }
    }

    func render(_ functions: FunctionCatalog, _ summaries: [String: InvocationSummary], _ running: [String: Int]) -> String {
        guard !functions.names.isEmpty else { return "no functions (Functions/<name>/function.yaml)" }
        var lines = ["FUNCTION            TRIGGER                 TIMEOUT  CONC  RUN  BATCH      WARM  INVOKED  OK     FAILED  P50 MS   P99 MS   LAST"]
        for name in functions.names {
            let m = functions[name]!
            let s = summaries[name]
            let failed = (s?.total ?? 0) - (s?.byOutcome["ok"] ?? 0)
            let batch = m.batchSize == 1 ? "1" : "\(m.batchSize)/\(DurationText.format(m.batchWindow))"
            let last = s.map { "\($0.lastOutcome ?? "-")\($0.lastReason.map { ": \($0.prefix(60))" } ?? "")" } ?? "-"
            lines.append([
                pad(name, 20), pad(triggerText(m), 24), pad(DurationText.format(m.timeout), 9), pad("\(m.reservedConcurrency)", 6),
                pad(running[name].map(String.init) ?? "?", 5), pad(batch, 11), pad(m.warm ? "yes" : "no", 6),
                pad("\(s?.total ?? 0)", 9), pad("\(s?.byOutcome["ok"] ?? 0)", 7), pad("\(failed)", 8),
                pad(s?.p50Millis.map { "\($0)" } ?? "-", 9), pad(s?.p99Millis.map { "\($0)" } ?? "-", 9), last,
            ].joined())
        }
        return lines.joined(separator: "\n")
    }

    func renderJSON(_ functions: FunctionCatalog, _ summaries: [String: InvocationSummary], _ running: [String: Int], _ notes: [String]) throws -> String {
        var list: [[String: Any]] = []
        for name in functions.names {
            let m = functions[name]!
            var entry: [String: Any] = [
                "name": name, "trigger": triggerText(m), "executable": m.executable, "timeout_ms": m.timeout.milliseconds,
                "reserved_concurrency": m.reservedConcurrency, "batch_size": m.batchSize, "batch_window_ms": m.batchWindow.milliseconds,
                "warm": m.warm, "max_invocations": m.maxInvocationsPerProcess, "invocation_queue": m.invocationQueueName,
            ]
            if let r = running[name] { entry["running"] = r }
            if let s = summaries[name] {
                var recent: [String: Any] = ["total": s.total, "outcomes": s.byOutcome, "cold_starts": s.coldStarts]
                if let p50 = s.p50Millis { recent["p50_ms"] = "\(p50)" }
                if let p99 = s.p99Millis { recent["p99_ms"] = "\(p99)" }
                if let last = s.lastOutcome { recent["last_outcome"] = last }
                if let reason = s.lastReason { recent["last_reason"] = reason }
                entry["recent"] = recent
            }
            list.append(entry)
        }
        let data = try JSONSerialization.data(withJSONObject: ["functions": list, "notes": notes], options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

/// `tm invoke`: one invocation, exactly as the dispatcher would run it.
struct Invoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Invoke a function once with an event and print its result.",
        discussion: """
            The event is JSON: an array is a batch (one record per element), anything else is one record.
            Runs the function's executable with its manifest's timeout, environment and protocol, and exits
            non-zero unless every record succeeded. With --async the event is enqueued on the function's
            invocation queue (fn:<name>) for a dispatcher instead.
            """)

    @Argument(help: "The function's name.")
    var function: String

    @Option(help: ArgumentHelp("A JSON file with the event, or - for stdin (default: {}).", valueName: "file"))
    var event: String?

    @Flag(help: "Enqueue for a dispatcher instead of running it here.")
    var async = false

    func run() async throws {
        let environment = TMEnvironment.current()
        let (catalog, functions) = try QueueSystem.loadCatalogs(environment).combined
        let manifest = try functions.manifest(function)
        let bodies = try readEvent()
        if async {
            let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "tm-invoke")
            defer { redis.close() }
            let producer = QueueProducer(redis: redis, catalog: catalog)
            for body in bodies {
                let result = try await producer.enqueue(manifest.invocationQueueName, OutgoingMessage(payload: Array(body.utf8)))
                print("enqueued \(result.id) on \(manifest.invocationQueueName)")
            }
            return
        }
        var launch = try FunctionLaunch.locate(manifest, environment: environment)
        launch.forwardLogs = true
        let invoker = Dispatcher.invoker(for: launch)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let records = bodies.enumerated().map { index, body in
            InvocationRecord(messageID: "invoke-\(now)-\(index + 1)", queue: "invoke", attempt: 1, epoch: 1, enqueuedAtMillis: now, body: body)
        }
        let request = InvocationRequest(
            invocationID: UUID().uuidString.lowercased(), function: manifest.name, attempt: 1,
            deadlineMillis: now + manifest.timeout.milliseconds, records: records)
        let outcome = await invoker.invoke(request)
        await invoker.shutdown()
        if let result = outcome.result {
            let data = try JSONEncoder.pretty.encode(result)
            print(String(decoding: data, as: UTF8.self))
        }
        let summary = "\(outcome.kind.rawValue) in \(outcome.duration.milliseconds) ms (\(outcome.cold ? "cold" : "warm"))"
            + (outcome.reason.map { ": \($0)" } ?? "")
        FileHandle.standardError.write(Data("invocation \(request.invocationID): \(summary)\n".utf8))
        if outcome.kind != .ok { throw ExitCode(1) }
    }

    func readEvent() throws -> [String] {
        let data: Data
        switch event {
        case nil: data = Data("{}".utf8)
        case "-": data = FileHandle.standardInput.readDataToEndOfFile()
        case let path?:
            guard let contents = FileManager.default.contents(atPath: path) else { throw ValidationError("--event: cannot read \(path)") }
            data = contents
        }
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw ValidationError("--event: not valid JSON: \(error.localizedDescription)")
        }
        let items = (value as? [Any]) ?? [value]
        guard !items.isEmpty else { throw ValidationError("--event: an empty batch has nothing to invoke") }
        return try items.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed, .sortedKeys]), as: UTF8.self) }
    }
}

/// `tm dispatch`: the dispatcher service.
struct Dispatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Invoke functions from their queues until SIGTERM or Ctrl-C.",
        discussion: """
            Loads Functions/*/function.yaml, consumes each function's queues, and runs its executable per batch
            (cold) or in kept processes (warm: true), within its reserved concurrency across all dispatchers.
            On SIGTERM it stops fetching, lets running invocations finish, then exits.
            """)

    @Option(name: .customLong("only"), help: "Only these functions (repeatable).")
    var only: [String] = []

    func run() async throws {
        JSONLogHandler.bootstrap()
        let environment = TMEnvironment.current()
        let catalogs = try QueueSystem.loadCatalogs(environment)
        let functions = catalogs.functions
        for name in only { _ = try functions.manifest(name) }
        let redisConfiguration = try RedisConfiguration.fromEnvironment(environment)
        let redis = try await RedisClient(configuration: redisConfiguration, name: "tm-dispatch")
        defer { redis.close() }
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: 2)
        var options = Dispatcher.Options()
        options.only = only.isEmpty ? nil : Set(only)
        let log = InvocationLog(pool: pool, dispatcher: options.name)
        var invokers: [String: any FunctionInvoking] = [:]
        var runnable: Set<String> = []
        for name in functions.names where options.only?.contains(name) ?? true {
            do {
                invokers[name] = Dispatcher.invoker(for: try FunctionLaunch.locate(try functions.manifest(name), environment: environment))
                runnable.insert(name)
            } catch {
                FileHandle.standardError.write(Data("tm dispatch: skipping \(name): \(error)\n".utf8))
            }
        }
        options.only = runnable
        let dispatcher = try Dispatcher(functions: functions, queues: catalogs.declared,
                                        invokers: invokers, redis: redis, redisConfiguration: redisConfiguration, log: log, options: options)
        TerminationSignals.install { _ in dispatcher.stop() }
        if runnable.isEmpty {
            FileHandle.standardError.write(Data("tm dispatch: no functions to run yet; waiting for SIGTERM\n".utf8))
        }
        let retention = Task { await Self.purgeMessageFences(pool) }
        try await dispatcher.run()
        retention.cancel()
        await log.flush()
        await pool.shutdown()
    }
}

extension Dispatch {
    /// How long a message fence is kept after its last fenced write: far past the life of any
    /// invocation (a function's timeout is at most 15 minutes, then it is killed).
    static let messageFenceRetention: Duration = .seconds(7 * 86_400)

    /// Hourly, every dispatcher deletes message fences older than the retention, in batches until
    /// none is left (concurrent dispatchers skip each other's rows).
    static func purgeMessageFences(_ pool: PostgresPool) async {
        while !Task.isCancelled {
            while !Task.isCancelled,
                  let purged = try? await pool.withConnection({ try FencingGuard.purgeMessageFences($0, olderThan: messageFenceRetention, limit: 10_000) }),
                  purged == 10_000 {}
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}

/// A table cell: `text` padded to `width`, or followed by one space when it is wider, so columns
/// never run together.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
