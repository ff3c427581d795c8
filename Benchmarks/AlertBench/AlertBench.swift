// alert-bench: price alerts (issue 12) through the `market-ticks` queue, the real dispatcher and the
// warm `alert-evaluator` executable (as `tm dispatch` runs it, its shipped function.yaml), against
// 100,000 active alerts over 1,000 symbols.
//
//   alert-bench [--symbols 1000] [--per-symbol 100] [--ticks 200000] [--rate 5000] [--seconds 4]
//               [--direct 200000] [--sender process|inline] [--probe-rounds 1] [--json bench-results/alerts.json] [--trace DIR]
//
// 1. direct: the evaluator alone, in this process (PriceAlertEvaluator.evaluate, batches of 100
//    ticks, no queue): ticks/s of the in-memory index when nothing fires — the evaluator's ceiling;
// 2. drain: --ticks ticks that fire nothing enqueued at once (batches of 1,000), drained through the
//    dispatcher: ticks/s from the first enqueue until the queue is empty;
// 3. latency: ticks paced at --rate for --seconds; one in 20 hits its symbol's probe alert (ABOVE
//    600, one per symbol, among the 100; probes on the first half of the symbols, the other ticks on
//    the second half): latency from just before the tick's XADD to the COMMIT of the transaction
//    that wrote its notification row, i.e. when the row becomes visible (pg_xact_commit_timestamp of
//    the row's xmin; needs track_commit_timestamp = on, as the test servers run), p50/p99; and,
//    for comparison with earlier runs, to the row's created_at (now() of the firing transaction,
//    its START: the figure before session 17). Without track_commit_timestamp only the latter is
//    printed, labelled so.
//
// --probe-rounds K (default 1, at most 30): each of the first half of the symbols gets K probe alerts
// (ABOVE 600, 610, ..., in the place of K - 1 of its ABOVE 1001..1029 alerts: the same alert count),
// and the latency phase probes them round by round (ticks at 600.5, 610.5, ...; still one tick in 20,
// each firing one alert), so its percentiles rest on K × symbols/2 probes instead of symbols/2 (with
// 500 probes p99 is the fifth-slowest). What each probe measures is the same: enqueue → its row's
// commit. The probes then span the phase (K × 10,000 ticks at 1,000 symbols) instead of its first
// 10,000 ticks; the phase must be long enough (--rate × --seconds ≥ 20 × the probes, or fewer fire).
//
// --sender inline (the default, the first mode): the ticks are enqueued by this process, beside the
// dispatcher; `process`: by a process of its own (this binary with `--role sender`), as market-data
// enqueues from its own process in production (on this 2-core machine its p99 came out higher, not
// lower: PROFILE.md, session 16). CPU per tick is reported per process: sender, dispatcher,
// evaluators, Redis, and the bench database's Postgres backends.
//
// --trace DIR: the dispatcher and the evaluators stamp each invocation's stages (TMFunctionRuntime's
// StageTrace) into DIR, and the probes' stages are printed (StageReport.swift): where the tail goes.
// A diagnostic: the stamps and their lines cost a little of every phase's figures.
//
// Each symbol's alerts: 1 probe ABOVE 600, 29 ABOVE 1001..1029, 30 BELOW 1..30, 15 CROSS_UP 801..815,
// 15 CROSS_DOWN 101..115, 10 CHANGE_PERCENT 50..59; the background ticks move between 490 and 510
// around a previous close of 500, so they hit nothing.
//
// Needs TM_REDIS_URL and TM_DATABASE_URL (or TM_ENV_FILE; `make bench` uses the test servers): it
// creates its own database (dropped at the end) and uses Redis database 11. alert-evaluator must
// sit next to this binary.
import BenchFixtures
import BenchSupport
import Foundation
import Logging
import TMAlerts
import TMCore
import TMFunctions
import TMMarketData
import TMPostgres
import TMQueue
import TMRedis

struct Figure: Codable {
    var name: String
    var ticks: Int
    var ticksPerSecond: Double?
    var offeredPerSecond: Double?
    var fired: Int?
    var p50Millis: Double?
    var p99Millis: Double?
    var p999Millis: Double?
    var maxMillis: Double?
    var note: String
}

func wallMillis() -> Double { Date().timeIntervalSince1970 * 1000 }

@main
enum AlertBench {
    static let usage = """
        alert-bench [--symbols 1000] [--per-symbol 100] [--ticks 200000] [--rate 5000] [--seconds 4]
                    [--direct 200000] [--sender process|inline] [--probe-rounds 1] [--json bench-results/alerts.json] [--trace DIR]
        Needs TM_REDIS_URL and TM_DATABASE_URL (or TM_ENV_FILE) and alert-evaluator next to this binary.
        """

    static func main() async {
        await BenchCommand.run("alert-bench", usage: usage) { try await run() }
    }

    static func run() async throws {
        if option("--role", "") == "sender" { try await TickSender.child() }
        // Before anything reads it: the dispatcher here and the evaluators (its children) write their stages there.
        let traceDirectory = option("--trace", "")
        if !traceDirectory.isEmpty {
            try FileManager.default.createDirectory(atPath: traceDirectory, withIntermediateDirectories: true)
            for file in try FileManager.default.contentsOfDirectory(atPath: traceDirectory) where file.hasSuffix(".jsonl") {
                try FileManager.default.removeItem(atPath: "\(traceDirectory)/\(file)")
            }
            setenv("TM_STAGE_TRACE", traceDirectory, 1)
        }
        setenv("TM_LOG_LEVEL", "error", 0)
        JSONLogHandler.bootstrap()
        let symbols = option("--symbols", 1000)
        let perSymbol = option("--per-symbol", 100)
        let drainTicks = option("--ticks", 200000)
        let rate = option("--rate", Double(5000))
        let seconds = option("--seconds", Double(4))
        let directTicks = option("--direct", 200000)
        let jsonPath = option("--json", "bench-results/alerts.json")
        let senderMode = option("--sender", "inline")
        let rounds = option("--probe-rounds", 1)
        guard (1...TickPlan.maximumRounds).contains(rounds) else {
            FileHandle.standardError.write(Data("alert-bench: --probe-rounds 1...\(TickPlan.maximumRounds)\n".utf8))
            exit(2)
        }
        guard senderMode == "process" || senderMode == "inline" else {
            FileHandle.standardError.write(Data("alert-bench: --sender process|inline\n".utf8))
            exit(2)
        }
        let environment = TMEnvironment.current()
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("alert-evaluator").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            FileHandle.standardError.write(Data("alert-bench: no alert-evaluator next to this binary (swift build -c release --product alert-evaluator)\n".utf8))
            exit(1)
        }

        // --- a database of its own with the alerts; Redis db 11.
        let database = try BenchDatabase(prefix: "tm_alert_bench", environment: environment)
        defer { database.drop() }
        let db = try PostgresConnection(configuration: database.configuration)
        defer { db.close() }
        try db.execute("INSERT INTO users (email) SELECT 'alert-bench-' || g || '@test.local' FROM generate_series(1, 100) g")
        // Alert j (0..<perSymbol) of symbol i: the layout in the header (j < --probe-rounds: the probe alerts).
        try db.execute("""
            INSERT INTO price_alerts (user_id, symbol, exchange, condition, threshold)
            SELECT (SELECT id FROM users ORDER BY email OFFSET (s % 100) LIMIT 1), 'S' || lpad(s::text, 4, '0'), 'NSE',
                   CASE WHEN j = 0 THEN 'above' WHEN j < 30 THEN 'above' WHEN j < 60 THEN 'below' WHEN j < 75 THEN 'cross_up'
                        WHEN j < 90 THEN 'cross_down' ELSE 'change_percent' END,
                   CASE WHEN j < \(rounds) THEN 600 + 10 * j WHEN j < 30 THEN 1000 + j WHEN j < 60 THEN j - 29 WHEN j < 75 THEN 800 + j - 59
                        WHEN j < 90 THEN 100 + j - 74 ELSE 50 + j - 90 END
            FROM generate_series(0, \(symbols - 1)) s, generate_series(0, \(perSymbol - 1)) j
            """)
        try db.execute("ANALYZE price_alerts")
        let alertCount: Int = try db.query("SELECT count(*)::int AS n FROM price_alerts WHERE state = 'active'").rows[0].decode("n")
        let visibility = try Visibility(db)
        if !visibility.tracked { FileHandle.standardError.write(Data("alert-bench: \(Visibility.untracked)\n".utf8)) }

        var redisConfiguration = try RedisConfiguration.fromEnvironment(environment)
        redisConfiguration.database = 11
        let redis = try await RedisClient(configuration: redisConfiguration, name: "alert-bench")
        defer { redis.close() }
        try await redis.send("FLUSHDB")
        let queuesDirectory = environment["TM_QUEUES_DIR"] ?? FileManager.default.currentDirectoryPath + "/Queues"
        let functionsDirectory = environment["TM_FUNCTIONS_DIR"] ?? FileManager.default.currentDirectoryPath + "/Functions"
        let catalog = try QueueCatalog.load(directory: URL(fileURLWithPath: queuesDirectory))
        let shipped = try FunctionCatalog.load(directory: URL(fileURLWithPath: functionsDirectory), queues: catalog)
        let manifest = try shipped.manifest("alert-evaluator")
        let ticksQueue = try catalog.manifest("market-ticks")
        print("alert-bench: \(alertCount) active alerts over \(symbols) symbols; alert-evaluator warm, batch \(manifest.batchSize)/\(DurationText.format(manifest.batchWindow)), "
              + "reserved concurrency \(manifest.reservedConcurrency); sender \(senderMode == "process" ? "in a process of its own" : "in this process"); Postgres \(database.configuration.host):\(database.configuration.port), Redis db 11; load \(loadAverage())")

        var plan = TickPlan(symbols: symbols, sequence: Int64(Date().timeIntervalSince1970 * 1000))

        var figures: [Figure] = []
        var stageText: String?

        // --- 1. the evaluator alone, in process.
        do {
            let pool = PostgresPool(configuration: database.configuration, size: 2)
            let evaluator = PriceAlertEvaluator(pool: pool, redis: redis, producer: nil)
            let loadStart = ContinuousClock.now
            try await evaluator.loadAll()
            let loadSeconds = (ContinuousClock.now - loadStart).seconds
            let batches = (0..<(directTicks / 100)).map { b in (0..<100).map { plan.background(b * 100 + $0) } }
            let start = ContinuousClock.now
            var fired = 0
            for batch in batches { fired += try await evaluator.evaluate(batch).fired }
            let elapsed = (ContinuousClock.now - start).seconds
            figures.append(Figure(name: "evaluator alone (in process), batches of 100", ticks: directTicks, ticksPerSecond: Double(directTicks) / elapsed,
                                  offeredPerSecond: nil, fired: fired, p50Millis: nil, p99Millis: nil, p999Millis: nil, maxMillis: nil,
                                  note: String(format: "index of %d alerts loaded in %.2f s; one version GET in Redis per batch, no query", evaluator.alertCount, loadSeconds)))
            await pool.shutdown()
        }

        // --- 1b. how long a firing batch holds the evaluator: answered (the announce left to the
        // announcer) and answered + announced (what a batch cost before the announcer), in process.
        do {
            let pool = PostgresPool(configuration: database.configuration, size: 2)
            let announcing = try await RedisClient(configuration: redisConfiguration, name: "alert-bench-announcer")
            defer { announcing.close() }
            let evaluator = PriceAlertEvaluator(pool: pool, redis: redis, producer: QueueProducer(redis: announcing, catalog: catalog))
            try await evaluator.loadAll()
            // 20 ticks a batch, 4 of them firing a probe alert (the trace's probe window) on the second
            // half of the symbols (the latency phase probes the first half).
            let firstFiring = symbols / 2
            let batches = (0..<((symbols - firstFiring) / 4)).map { b in
                (0..<20).map { i in i < 4 ? plan.tick(firstFiring + b * 4 + i, "600.5") : plan.background(b * 20 + i) }
            }
            var answered = LatencyHistogram(), announced = LatencyHistogram()
            var fired = 0
            for batch in batches {
                let start = ContinuousClock.now
                fired += try await evaluator.evaluate(batch).fired
                let answer = ContinuousClock.now
                await evaluator.announced()
                answered.record(millis: (answer - start).seconds * 1000)
                announced.record(millis: (ContinuousClock.now - start).seconds * 1000)
            }
            figures.append(Figure(name: "evaluator hold per firing batch (in process, 20 ticks, 4 fire): answered", ticks: batches.count * 20, ticksPerSecond: nil,
                                  offeredPerSecond: nil, fired: fired, p50Millis: answered.millis(atPercentile: 50), p99Millis: answered.millis(atPercentile: 99),
                                  p999Millis: nil, maxMillis: answered.maxMillis,
                                  note: String(format: "answered + announced (the batch before the announcer): p50 %.2f ms, p99 %.2f ms",
                                               announced.millis(atPercentile: 50), announced.millis(atPercentile: 99))))
            await pool.shutdown()
            // The latency phase counts its probes' rows among all price-alert notifications.
            try db.execute("DELETE FROM notifications")
        }

        // --- the dispatcher with the warm alert-evaluator executable.
        var base = ProcessInfo.processInfo.environment
        base["TM_REDIS_URL"] = redisConfiguration.url
        base["TM_DATABASE_URL"] = database.url
        base["TM_QUEUES_DIR"] = queuesDirectory
        base["TM_LOG_LEVEL"] = "error"
        if !traceDirectory.isEmpty { base["TM_STAGE_TRACE"] = traceDirectory }
        var launch = FunctionLaunch(manifest: manifest, executablePath: executable, baseEnvironment: base)
        launch.forwardLogs = false
        var dispatchOptions = Dispatcher.Options()
        dispatchOptions.blockTimeout = .milliseconds(200)
        let dispatcher = try Dispatcher(functions: try FunctionCatalog([manifest]), queues: catalog, invokers: [manifest.name: Dispatcher.invoker(for: launch)],
                                        redis: redis, redisConfiguration: redisConfiguration, log: nil, options: dispatchOptions)
        let dispatching = Task { try await dispatcher.run() }
        let producer = QueueProducer(redis: redis, catalog: catalog)
        let streams = (0..<ticksQueue.shards).map { QueueKeys(queue: "market-ticks", shard: $0).stream }
        func backlog() async throws -> Int {
            var total = 0
            for stream in streams { total += Int(try await redis.send("XLEN", stream).int ?? 0) }
            return total
        }
        func drained(timeout: Duration) async throws {
            let deadline = ContinuousClock.now + timeout
            while try await backlog() > 0 {
                guard ContinuousClock.now < deadline else { throw BenchFailure("market-ticks did not drain within \(timeout)") }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        func send(_ messages: [OutgoingMessage]) async throws { try await TickSender.send(producer, messages) }
        /// A sender process for the next phase, its ticks built and connected (the clock not started);
        /// it continues this process's tick sequence.
        func senderProcess(_ phase: String, count: Int) throws -> TickSender.Process {
            let process = try TickSender.Process(phase: phase, count: count, rate: rate, symbols: symbols, rounds: rounds, sequence: plan.sequence,
                                                 environment: base)
            plan.sequence += Int64(count) + 1
            return process
        }
        let postgresDatabase = database.configuration.database
        // Warm-up: every process loads its index (the first invocation of each).
        let warmStart = ContinuousClock.now
        for round in 0..<20 {
            try await send((0..<(manifest.reservedConcurrency * 100)).map { TickPlan.message(plan.background(round * 1000 + $0)) })
            try await drained(timeout: .seconds(120))
        }
        let warmSeconds = (ContinuousClock.now - warmStart).seconds

        // --- 2. drain.
        do {
            let sender = senderMode == "process" ? try senderProcess("drain", count: drainTicks) : nil
            let ticks = sender == nil ? plan.drainTicks(drainTicks) : []
            let cpuBefore = try await CPUTimes.now(redis: redis, sender: sender?.pid, database: postgresDatabase)
            let start = ContinuousClock.now
            let enqueued: Double
            var senderCPU = 0.0
            if let sender {
                sender.go()
                let lines = try await sender.finish(last: "drain")
                senderCPU = TickSender.Process.cpu(lines)
                enqueued = Double(lines.last!.split(separator: " ")[1])!
            } else {
                enqueued = try await TickSender.drain(producer, ticks)
            }
            let left = try await backlog()
            let leftAt = ContinuousClock.now
            try await drained(timeout: .seconds(600))
            let elapsed = (ContinuousClock.now - start).seconds
            let tail = (ContinuousClock.now - leftAt).seconds
            var used = try await CPUTimes.now(redis: redis, sender: sender?.pid, database: postgresDatabase).minus(cpuBefore)
            used.sender = senderCPU
            let cpu = used.perTick(drainTicks)
            let failed = dispatcher.outcomes.values.flatMap { $0 }.filter { $0.key != .ok }.map(\.value).reduce(0, +)
            figures.append(Figure(name: "drain through queue + dispatcher + warm evaluator", ticks: drainTicks, ticksPerSecond: Double(drainTicks) / elapsed,
                                  offeredPerSecond: nil, fired: 0, p50Millis: nil, p99Millis: nil, p999Millis: nil, maxMillis: nil,
                                  note: String(format: "first enqueue → empty queue; enqueued in %.2f s (%.0f/s) while draining, then the %d left drained at %.0f/s "
                                               + "with the sender idle; warm-up (each process loads its index) %.1f s; invocations not ok: %d",
                                               enqueued, Double(drainTicks) / enqueued, left, Double(left) / max(tail, 0.001), warmSeconds, failed)
                                      + "; " + cpu.text))
        }

        // --- 3. latency at a steady rate, probes firing.
        do {
            let count = Int(rate * seconds)
            let sender = senderMode == "process" ? try senderProcess("paced", count: count) : nil
            var paced = TickSender.Paced()
            let probes: Int
            var senderCPU = 0.0
            let cpuBefore = try await CPUTimes.now(redis: redis, sender: sender?.pid, database: postgresDatabase)
            if let sender {
                probes = min(symbols / 2 * rounds, (count + 19) / 20)
                sender.go()
                let lines = try await sender.finish(last: "paced")
                senderCPU = TickSender.Process.cpu(lines)
                for line in lines {
                    let fields = line.split(separator: " ")
                    if fields[0] == "probe" { (paced.probeSent[String(fields[1])], paced.probeIDs[String(fields[1])]) = (Double(fields[2])!, String(fields[3])) }
                    if fields[0] == "paced" { (paced.offered, paced.maxBehindMillis) = (Double(fields[1])!, Double(fields[2])!) }
                }
            } else {
                let ticks = plan.pacedTicks(count, rounds: rounds)
                probes = ticks.probes
                paced = try await TickSender.paced(producer, ticks.ticks, rate: rate)
            }
            let sent = paced.probeSent
            try await drained(timeout: .seconds(120))
            var used = try await CPUTimes.now(redis: redis, sender: sender?.pid, database: postgresDatabase).minus(cpuBefore)
            used.sender = senderCPU
            let cpu = used.perTick(count)
            var rows: [PostgresRow] = []
            for _ in 0..<100 {
                rows = try db.query("""
                    SELECT payload->>'symbol' AS symbol, payload->>'threshold' AS threshold, extract(epoch FROM created_at)::float8 * 1000 AS began,
                           \(fragment: visibility.column) AS committed
                    FROM notifications WHERE kind = 'price_alert'
                    """).rows
                if rows.count >= probes { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            var toCommit = LatencyHistogram(), toBegin = LatencyHistogram()
            var commits: [String: Double] = [:]
            for row in rows {
                guard let round = ProbeKey.round(threshold: try row.decode("threshold")) else { continue }
                let symbol = ProbeKey.text(try row.decode("symbol"), round: round)
                guard let start = sent[symbol] else { continue }
                toBegin.record(millis: try row.decode("began", as: Double.self) - start)
                if let committed = try row.decode("committed", as: Double?.self) {
                    toCommit.record(millis: committed - start)
                    commits[symbol] = committed
                }
            }
            if !traceDirectory.isEmpty {
                stageText = StageReport(directory: traceDirectory, sent: sent, ids: paced.probeIDs, committed: commits).text
            }
            let note = String(format: "%d probe alerts fired of %d sent (1 tick in 20, %d round%@); sender at most %.1f ms behind",
                              rows.count, probes, rounds, rounds == 1 ? "" : "s", paced.maxBehindMillis)
            if visibility.tracked {
                figures.append(Figure(name: String(format: "latency at %.0f ticks/s: enqueue → row committed", rate), ticks: count, ticksPerSecond: nil,
                                      offeredPerSecond: paced.offered, fired: rows.count, p50Millis: toCommit.millis(atPercentile: 50),
                                      p99Millis: toCommit.millis(atPercentile: 99), p999Millis: toCommit.millis(atPercentile: 99.9), maxMillis: toCommit.maxMillis,
                                      note: "until the firing transaction's commit, when the row becomes visible (pg_xact_commit_timestamp of the row's xmin); "
                                          + note + "; " + cpu.text))
            }
            figures.append(Figure(name: String(format: "latency at %.0f ticks/s: enqueue → created_at", rate), ticks: count, ticksPerSecond: nil,
                                  offeredPerSecond: paced.offered, fired: rows.count, p50Millis: toBegin.millis(atPercentile: 50),
                                  p99Millis: toBegin.millis(atPercentile: 99), p999Millis: toBegin.millis(atPercentile: 99.9), maxMillis: toBegin.maxMillis,
                                  note: "until the firing transaction BEGAN (created_at = its now()), not its commit: the figure before session 17, "
                                      + (visibility.tracked ? "kept for comparison" : "the only one here: " + Visibility.untracked)
                                      + (visibility.tracked ? "" : "; " + note + "; " + cpu.text)))
        }
        dispatcher.stop()
        _ = try? await dispatching.value

        print()
        func column(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        let number = { (value: Double?, format: String) in value.map { String(format: format, $0) } ?? "-" }
        print("run".padding(toLength: 56, withPad: " ", startingAt: 0) + ["ticks", "ticks/s", "offered/s", "fired", "p50 ms", "p99 ms", "p99.9 ms", "max ms"].map { column($0, 10) }.joined())
        for f in figures {
            print(f.name.padding(toLength: 56, withPad: " ", startingAt: 0)
                  + [String(f.ticks), number(f.ticksPerSecond, "%.0f"), number(f.offeredPerSecond, "%.0f"), f.fired.map(String.init) ?? "-",
                     number(f.p50Millis, "%.2f"), number(f.p99Millis, "%.2f"), number(f.p999Millis, "%.2f"), number(f.maxMillis, "%.2f")].map { column($0, 10) }.joined())
            print("    " + f.note)
        }
        if let stageText { print(); print(stageText) }
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: jsonPath).deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(figures).write(to: URL(fileURLWithPath: jsonPath))
        print("figures written to \(jsonPath)")
        try await redis.send("FLUSHDB")
    }

    struct BenchFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// CPU seconds (user + system) used so far by this process (the sender and the dispatcher), by
    /// its child processes (the warm alert-evaluators) and by the Redis server (`INFO cpu`). On a
    /// shared machine the CPU a tick costs is steadier than the wall-clock rate, and it says which
    /// part bounds the rate: the cores divided by the CPU per tick is what the path could carry.
    struct CPUTimes {
        /// The dispatcher (and, with `--sender inline`, the sender).
        var bench: Double
        /// A sender process of its own (`--sender process`): what it reported for its run.
        var sender = 0.0
        var evaluators: Double
        var redis: Double
        /// The backends of the bench's database (the evaluators' connections).
        var postgres = 0.0

        /// `sender`: the sender process, left out of the children (it reports its own CPU).
        static func now(redis client: RedisClient, sender: Int32?, database: String) async throws -> CPUTimes {
            let me = getpid()
            let totals = ProcessCPU.sample { pid, parent, commandLine in
                if pid == me { return "bench" }
                if pid == sender { return nil }
                if parent == me { return "evaluators" }
                return ProcessCPU.isPostgresBackend(commandLine, database: database) ? "postgres" : nil
            }
            let redis = ProcessCPU.redisSeconds(info: try await client.send("INFO", "cpu").string ?? "")
            return CPUTimes(bench: totals["bench"] ?? 0, evaluators: totals["evaluators"] ?? 0, redis: redis, postgres: totals["postgres"] ?? 0)
        }

        func minus(_ earlier: CPUTimes) -> CPUTimes {
            CPUTimes(bench: bench - earlier.bench, sender: sender - earlier.sender, evaluators: evaluators - earlier.evaluators,
                     redis: redis - earlier.redis, postgres: postgres - earlier.postgres)
        }

        /// In microseconds per tick.
        func perTick(_ ticks: Int) -> CPUTimes {
            let scale = 1e6 / Double(max(ticks, 1))
            return CPUTimes(bench: bench * scale, sender: sender * scale, evaluators: evaluators * scale, redis: redis * scale, postgres: postgres * scale)
        }

        /// (Postgres is left out of the total, to compare with the figures before it was counted.)
        var text: String {
            let total = bench + sender + evaluators + redis
            let cores = Double(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            return String(format: "CPU per tick: sender %@%.1f µs, dispatcher %.1f µs, evaluators %.1f µs, Redis %.1f µs, total %.1f µs "
                          + "(%d cores carry %.0f ticks/s at that cost); Postgres backends %.1f µs",
                          sender == 0 ? "in the dispatcher's process, " : "", sender, bench, evaluators, redis, total, Int(cores), cores / total * 1e6, postgres)
        }
    }

    static func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    }
}
