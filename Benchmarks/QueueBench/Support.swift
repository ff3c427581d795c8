import Foundation
import TMCore
import TMQueue
import TMRedis

/// A benchmark that cannot go on (bad option, lost consumer, time limit reached); the message says why.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Command line

/// The options after the mode: `--name value` pairs and bare `--flag`s.
struct Arguments: Sendable {
    let mode: String
    private let values: [String: String]

    init(_ arguments: [String]) {
        mode = arguments.first ?? "help"
        var values: [String: String] = [:]
        var index = 1
        while index < arguments.count {
            let name = arguments[index]
            if index + 1 < arguments.count, !arguments[index + 1].hasPrefix("--") {
                values[name] = arguments[index + 1]
                index += 2
            } else {
                values[name] = ""
                index += 1
            }
        }
        self.values = values
    }

    func string(_ name: String) -> String? { values[name] }

    func string(_ name: String, default value: String) -> String { values[name] ?? value }

    func int(_ name: String, default value: Int) throws -> Int {
        guard let text = values[name] else { return value }
        guard let number = Int(text.replacingOccurrences(of: "_", with: "")), number > 0 else {
            throw BenchError("\(name) \(text): expected a positive whole number")
        }
        return number
    }

    func double(_ name: String, default value: Double) throws -> Double {
        guard let text = values[name] else { return value }
        guard let number = Double(text), number > 0 else { throw BenchError("\(name) \(text): expected a positive number") }
        return number
    }

    /// A duration written as in the manifests: `500ms`, `5s`, `2m`.
    func duration(_ name: String, default value: Duration) throws -> Duration {
        guard let text = values[name] else { return value }
        do { return try DurationText.parse(text) } catch { throw BenchError("\(name): \(error)") }
    }
}

// MARK: - Clocks and statistics

/// Wall-clock nanoseconds since 1970 (`CLOCK_REALTIME`): comparable between processes on one host,
/// which is what an enqueue timestamp carried in a payload needs.
func wallNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

enum Stats {
    /// The p-th percentile (0...100) with linear interpolation between ranks — the same definition
    /// as the peers' `bench.py`, so both sides' p99 mean the same thing.
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let rank = Double(sorted.count - 1) * p / 100
        let low = Int(rank), high = min(Int(rank) + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - Double(low))
    }

    static func median(_ values: [Double]) -> Double { percentile(values, 50) }
}

/// Sleeps in steps of `step` until `condition` holds or `limit` has passed; returns whether it held.
func waitUntil(limit: Duration, step: Duration = .milliseconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: step)
    }
    return try await condition()
}

// MARK: - The queue under test

/// What every benchmark message carries: its index in the run, and for the latency run the
/// wall-clock time (ns) just before it was enqueued.
struct BenchPayload: Codable, Sendable {
    var i: Int
    var ts: Int64?

    var json: [UInt8] { ts.map { Array("{\"i\":\(i),\"ts\":\($0)}".utf8) } ?? Array("{\"i\":\(i)}".utf8) }
}

/// A fresh, uniquely named queue for one run, and the keys where its handlers record what they did.
/// `delete` removes every key of both, so runs leave nothing behind.
struct BenchQueue: Sendable {
    let manifest: QueueManifest
    var name: String { manifest.name }
    /// INCR per handled message (all deliveries, duplicates included).
    var countKey: String { "qbench:\(name):count" }
    /// SETBIT per handled message index: BITCOUNT is the number of distinct messages handled.
    var seenKey: String { "qbench:\(name):seen" }
    /// HINCRBY per handler start, for the recovery run's slow handlers.
    var startsKey: String { "qbench:\(name):starts" }

    init(mode: String, visibility: Duration = .seconds(30), maxLength: Int = 1_000_000) {
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        var manifest = QueueManifest(name: "qbench-\(mode)-\(suffix)")
        manifest.visibilityTimeout = visibility
        manifest.maxLength = maxLength
        self.manifest = manifest
    }

    init(manifest: QueueManifest) { self.manifest = manifest }

    var catalog: QueueCatalog { try! QueueCatalog([manifest]) }

    /// Deletes the queue's keys (`tm:{name.<shard>}:*`) and the record keys.
    func delete(_ redis: RedisClient) async throws {
        var keys = [countKey, seenKey, startsKey]
        for shard in 0..<manifest.shards {
            let queueKeys = QueueKeys(queue: name, shard: shard)
            keys += [queueKeys.stream, queueKeys.delayed, queueKeys.deadLetters, queueKeys.epochs]
            // Idempotency records exist only for keyed messages; the benchmarks enqueue none, but look.
            var cursor = "0"
            for _ in 0..<10_000 {
                let reply = try await redis.send("SCAN", cursor, "MATCH", queueKeys.idempotency("*"), "COUNT", 1000)
                cursor = reply.array?.first?.string ?? "0"
                keys += (reply.array?.last?.array ?? []).compactMap(\.string)
                if cursor == "0" { break }
            }
        }
        try await redis.send(RedisCommand("DEL", arguments: keys))
    }

    /// How many stream entries wait or are in flight, over all shards.
    func length(_ redis: RedisClient) async throws -> Int {
        var total = 0
        for shard in 0..<manifest.shards {
            total += Int(try await redis.send("XLEN", QueueKeys(queue: name, shard: shard).stream).int ?? 0)
        }
        return total
    }

    /// Puts `count` no-op messages (indices 0..<count) on the queue in pipelined batches of 1000.
    func fill(_ count: Int, redis: RedisClient) async throws {
        let producer = QueueProducer(redis: redis, catalog: catalog)
        for start in stride(from: 0, to: count, by: 1000) {
            let messages = (start..<min(start + 1000, count)).map { OutgoingMessage(payload: BenchPayload(i: $0).json) }
            for result in try await producer.enqueueBatch(name, messages) { _ = try result.get() }
        }
    }
}

// MARK: - What handlers do

/// The no-op handler's only work, the same as the peers' `NoopJob` (`sidekiq_jobs.rb`, `common.py`):
/// one pipelined round trip with `INCR count` and `SETBIT seen <index> 1`. The driver then counts
/// lost (`N − BITCOUNT seen`) and duplicated (`count − BITCOUNT seen`) messages exactly as the peers do.
final class NoopRecorder: Sendable {
    let redis: RedisClient
    let queue: BenchQueue

    init(redis: RedisClient, queue: BenchQueue) {
        self.redis = redis
        self.queue = queue
    }

    func record(_ index: Int) async throws {
        let replies = try await redis.pipeline([RedisCommand("INCR", queue.countKey), RedisCommand("SETBIT", queue.seenKey, index, 1)])
        for reply in replies { _ = try reply.get() }
    }
}

/// When a consumer's handlers first started and last finished (wall clock, ns), and how many finished.
final class HandlerTimes: Sendable {
    /// What one consumer reports; a worker process prints it as its last line of output.
    struct Report: Codable, Sendable {
        var handled = 0
        var firstStartNanos: Int64?
        var lastDoneNanos: Int64?
    }

    private let state = Locked(Report())

    func started() {
        let now = wallNanos()
        state.withLock { if $0.firstStartNanos == nil { $0.firstStartNanos = now } }
    }

    func finished() {
        let now = wallNanos()
        state.withLock { report in
            report.handled += 1
            report.lastDoneNanos = max(report.lastDoneNanos ?? now, now)
        }
    }

    var report: Report { state.current }
}
