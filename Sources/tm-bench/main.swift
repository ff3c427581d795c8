// tm-bench: round-trip costs of the C-library wrappers, against the servers in TM_ENV_FILE/.tm/env.
// Prints a table and writes the figures as JSON (default bench-results/wrappers.json) so runs can be
// compared. `scripts/bench.sh` runs it beside redis-benchmark and pgbench on the same servers.
import BenchFixtures
import Foundation
import TMCore
import TMPostgres
import TMRedis

struct Figure: Codable {
    var name: String
    var operations: Int
    var opsPerSecond: Double
    var p50Micros: Double
    var p99Micros: Double
    var meanMicros: Double
    /// The process's context switches (voluntary and not) per call over the timed calls.
    var contextSwitchesPerCall: Double?
}

/// The process's context switches so far (getrusage: voluntary + involuntary).
func contextSwitches() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_nvcsw + usage.ru_nivcsw
}

/// Times `operations / batch` calls of `body` after a warm-up; percentiles are per call.
func measure(
    _ name: String, operations: Int, batch: Int = 1, warmup: Int = 200, idleBefore: Duration? = nil,
    _ body: () async throws -> Void
) async rethrows -> Figure {
    for _ in 0..<warmup { try await body() }
    var samples: [Double] = []
    samples.reserveCapacity(operations / batch)
    let clock = ContinuousClock()
    let start = clock.now
    let switchesBefore = contextSwitches()
    var idled = Duration.zero
    for _ in 0..<(operations / batch) {
        if let idleBefore {
            // Blocks this (pool) thread on purpose: the point is that the threads involved go idle.
            let t = clock.now
            usleep(UInt32(idleBefore.seconds * 1e6))
            idled += clock.now - t
        }
        let t0 = clock.now
        try await body()
        samples.append((clock.now - t0).seconds * 1e6)
    }
    let total = (clock.now - start - idled).seconds
    let switches = Double(contextSwitches() - switchesBefore) / Double(operations / batch)
    samples.sort()
    func percentile(_ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
    return Figure(
        name: name, operations: operations, opsPerSecond: Double(operations) / total,
        p50Micros: percentile(0.50), p99Micros: percentile(0.99), meanMicros: samples.reduce(0, +) / Double(samples.count),
        contextSwitchesPerCall: switches)
}

let usage = """
    tm-bench [--n 20000 (at least 100)] [--only all|cpu] [--json bench-results/wrappers.json]
    Needs TM_DATABASE_URL and TM_REDIS_URL (or TM_ENV_FILE), except with --only cpu (the order
    path's JSON, order-command and HTTP-header work, no servers).
    """

await BenchCommand.run("tm-bench", usage: usage) { try await run() }

func run() async throws {
    let count = option("--n", 20_000)
    let output = option("--json", "bench-results/wrappers.json")
    // A tenth of it is timed too (the idle hop), so fewer than 100 leaves a part with no sample.
    guard count >= 100 else { BenchCommand.fail("tm-bench: --n: '\(count)' is below 100; try --help") }
    let only = option("--only", "all")
    guard only == "all" || only == "cpu" else { BenchCommand.fail("tm-bench: --only: '\(only)' is not all or cpu; try --help") }
    var figures = try await cpuFigures(count: count)
    if only == "all" { figures += try await serverFigures(count: count) }
    print("")
    print("round trips and per-message CPU (\(ProcessInfo.processInfo.activeProcessorCount) cores, servers on loopback)")
    print("operation".padding(toLength: 34, withPad: " ", startingAt: 0) + "      ops/s     p50 µs     p99 µs    mean µs  switches")
    for f in figures {
        print(f.name.padding(toLength: 34, withPad: " ", startingAt: 0)
              + String(format: " %10.0f %10.1f %10.1f %10.1f %9.2f", f.opsPerSecond, f.p50Micros, f.p99Micros, f.meanMicros, f.contextSwitchesPerCall ?? 0))
    }
    let url = URL(fileURLWithPath: output)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    struct Report: Codable { var date: String; var host: String; var figures: [Figure] }
    try encoder.encode(Report(date: ISO8601DateFormatter().string(from: Date()), host: ProcessInfo.processInfo.hostName, figures: figures))
        .write(to: url)
    print("figures written to \(output)")
}

/// The C-library wrappers' round trips against the servers.
func serverFigures(count: Int) async throws -> [Figure] {

    let environment = TMEnvironment.current()
    let redisConfiguration = try RedisConfiguration.fromEnvironment(environment)
    let redis = try RedisConnection(configuration: redisConfiguration)
    let postgres = try PostgresConnection(configuration: PostgresConfiguration.fromEnvironment(environment))

    var figures: [Figure] = []
    let payload = [UInt8](repeating: 0x61, count: 64)
    figures.append(try await measure("redis PING (sync)", operations: count) { try redis.send("PING") })
    figures.append(try await measure("redis SET 64B (sync)", operations: count) { try redis.send("SET", "bench:key", payload) })
    let pipeline = (0..<100).map { RedisCommand("SET", "bench:p\($0)", payload) }
    figures.append(try await measure("redis SET 64B, pipelined x100", operations: count * 5, batch: 100, warmup: 10) { _ = try redis.pipeline(pipeline) })
    let client = try await RedisClient(configuration: redisConfiguration)
    figures.append(try await measure("redis PING (async, thread hop)", operations: count) { try await client.send("PING") })
    client.close()
    let hopThread = BlockingThread(name: "bench-hop")
    figures.append(try await measure("BlockingThread hop (empty job)", operations: count) { try await hopThread.run { () } })
    // The serial order's case: the thread (and the pool's) went idle since the last call.
    figures.append(try await measure("hop after 0.5 ms idle", operations: count / 10, warmup: 20, idleBefore: .microseconds(500)) {
        try await hopThread.run { () }
    })
    // A lone message's Redis read through `CoalescedReads` (the worker's announcement and price
    // reads): the caller fetches from its own task — one hop. Beside it, the path a lone read took
    // before (the caller parked, a drain task spawned to fetch and resume it): two wake-ups more.
    let reads = CoalescedReads<String, Int> { keys in try await hopThread.run { [keys[0]: 1] } }
    figures.append(try await measure("coalesced read, lone, 0.5 ms idle", operations: count / 10, warmup: 20, idleBefore: .microseconds(500)) {
        _ = try await reads.read("k")
    })
    figures.append(try await measure("… through a drain task (before)", operations: count / 10, warmup: 20, idleBefore: .microseconds(500)) {
        _ = try await withCheckedThrowingContinuation { (done: CheckedContinuation<Int, Error>) in
            Task {
                do { done.resume(returning: try await hopThread.run { 1 }) } catch { done.resume(throwing: error) }
            }
        }
    })
    hopThread.shutdown()
    let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: 1)
    figures.append(try await measure("postgres SELECT 1 (pool, hop)", operations: count / 2) { _ = try await pool.query("SELECT 1") })
    await pool.shutdown()

    try postgres.simpleQuery("DROP TABLE IF EXISTS bench_inserts; CREATE UNLOGGED TABLE bench_inserts (id bigserial PRIMARY KEY, account text NOT NULL, quantity numeric NOT NULL, at timestamptz NOT NULL DEFAULT now())")
    figures.append(try await measure("postgres SELECT 1", operations: count / 2) { _ = try postgres.query("SELECT 1") })
    let quantity = Decimal(string: "12.5")!
    figures.append(try await measure("postgres INSERT (autocommit)", operations: count / 2) {
        _ = try postgres.execute("INSERT INTO bench_inserts (account, quantity) VALUES (\("acct-1"), \(quantity))")
    })
    try postgres.simpleQuery("DROP TABLE bench_inserts")
    _ = try redis.send(RedisCommand("DEL", arguments: ["bench:key"] + (0..<100).map { "bench:p\($0)" }))
    return figures
}
