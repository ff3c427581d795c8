// queue-bench: the queue benchmarks of `make bench` (issue 3). Each mode runs on a fresh, uniquely
// named queue that it deletes afterwards, repeats its measurement (`--repeats`, default 3), prints a
// table with the median and every run's value, and merges its rows into a JSON file.
//
//   queue-bench enqueue  [--n 20000] [--batch 1000]
//   queue-bench drain    [--n 20000] [--consumers 1] [--concurrency 10] [--placement in-process|processes]
//   queue-bench latency  [--n 2000] [--rate 200] [--concurrency 10]
//   queue-bench recovery [--visibility 5s] [--in-flight 10]
//   queue-bench worker   --queue NAME --redis URL ...   (the consumer process that drain and recovery start)
//
// Common options: --redis URL (default: TM_REDIS_URL from the environment or TM_ENV_FILE; loopback
// only), --repeats N (default 3), --json PATH (default bench-results/queue.json).
// drain places 1 consumer in-process and more as worker processes unless --placement says otherwise.
import Foundation
import TMCore
import TMRedis

setenv("TM_LOG_LEVEL", "warning", 0)  // the runtime's info lines ("consuming", "stopped") would drown the tables
JSONLogHandler.bootstrap()

do {
    try await QueueBench.run(Arguments(Array(CommandLine.arguments.dropFirst())))
} catch {
    FileHandle.standardError.write(Data("queue-bench: \(error)\n".utf8))
    exit(1)
}

/// The command line: picks the mode, runs it, prints its table and records its figures.
enum QueueBench {
    static func run(_ arguments: Arguments) async throws {
        if arguments.mode == "worker" { return try await WorkerMode.run(arguments) }
        guard ["enqueue", "drain", "latency", "recovery"].contains(arguments.mode) else {
            print("usage: queue-bench enqueue|drain|latency|recovery [options]   (see the header of Benchmarks/QueueBench/main.swift)")
            if arguments.mode != "help" { exit(2) }
            return
        }
        let context = try makeContext(arguments)
        let output = arguments.string("--json", default: "bench-results/queue.json")
        let rows: [Measurement]
        switch arguments.mode {
        case "enqueue":
            let count = try arguments.int("--n", default: 20_000)
            rows = try await EnqueueBench.run(context, count: count, batch: try arguments.int("--batch", default: 1000))
            EnqueueBench.printTable(rows, count: count, repeats: context.repeats)
        case "drain":
            let count = try arguments.int("--n", default: 20_000)
            let consumers = try arguments.int("--consumers", default: 1)
            let placementName = arguments.string("--placement", default: consumers == 1 ? "in-process" : "processes")
            guard let placement = Placement(rawValue: placementName) else { throw BenchError("--placement: in-process or processes") }
            rows = [try await DrainBench.run(
                context, count: count, consumers: consumers, concurrency: try arguments.int("--concurrency", default: 10),
                placement: placement, timeout: try arguments.duration("--timeout", default: .seconds(240)))]
            DrainBench.printTable(rows, count: count, repeats: context.repeats)
        case "latency":
            let count = try arguments.int("--n", default: 2000)
            let rate = try arguments.double("--rate", default: 200)
            rows = [try await LatencyBench.run(
                context, count: count, rate: rate, concurrency: try arguments.int("--concurrency", default: 10),
                timeout: try arguments.duration("--timeout", default: .seconds(60)))]
            LatencyBench.printTable(rows, count: count, rate: rate, repeats: context.repeats)
        default:
            let visibility = try arguments.duration("--visibility", default: .seconds(5))
            rows = [try await RecoveryBench.run(
                context, visibility: visibility, inFlight: try arguments.int("--in-flight", default: 10),
                timeout: visibility * 4 + .seconds(30))]
            RecoveryBench.printTable(rows, repeats: context.repeats)
        }
        try ReportFile.merge(rows, into: output)
        print("figures written to \(output)")
    }

    static func makeContext(_ arguments: Arguments) throws -> BenchContext {
        guard let url = arguments.string("--redis") ?? TMEnvironment.current()["TM_REDIS_URL"] else {
            throw BenchError("no Redis: pass --redis URL or set TM_REDIS_URL (or TM_ENV_FILE)")
        }
        let redis = try RedisConfiguration(url: url)
        guard redis.socketPath != nil || ["127.0.0.1", "localhost", "::1"].contains(redis.host) else {
            throw BenchError("refusing \(redis.host): the benchmarks run against a loopback Redis only")
        }
        return BenchContext(redisURL: url, redis: redis, repeats: try arguments.int("--repeats", default: 3))
    }
}
