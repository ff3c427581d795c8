import BenchSupport
import Foundation
import TMCore
import TMQueue
import TMRedis

/// What every mode needs: where Redis is and how often to repeat.
struct BenchContext: Sendable {
    let redisURL: String
    let redis: RedisConfiguration
    let repeats: Int

    var settings: [String: String] { ["redis": "\(redis.host):\(redis.port)", "repeats": String(repeats)] }

    func client(_ name: String) async throws -> RedisClient { try await RedisClient(configuration: redis, name: name) }

    /// Runs `body` on a fresh queue and deletes the queue afterwards, whether `body` succeeded or not.
    func withQueue<T>(_ queue: BenchQueue, _ body: (RedisClient) async throws -> T) async throws -> T {
        let client = try await client("bench-driver")
        defer { client.close() }
        do {
            let result = try await body(client)
            try await queue.delete(client)
            return result
        } catch {
            try? await queue.delete(client)
            throw error
        }
    }
}

func progress(_ text: String) {
    FileHandle.standardError.write(Data("[queue-bench] \(text)\n".utf8))
}

// MARK: - Enqueue

/// Enqueue rate from one client: `QueueProducer.enqueue` one message at a time (a round trip each,
/// like the peers' "one job at a time through the framework's normal client call"), then
/// `enqueueBatch` in batches (the counterpart of Sidekiq's `push_bulk`). No consumer runs.
enum EnqueueBench {
    static func run(_ context: BenchContext, count: Int, batch: Int) async throws -> [Measurement] {
        var single: [[String: Double]] = [], batched: [[String: Double]] = []
        for run in 1...context.repeats {
            let queue = BenchQueue(mode: "enqueue")
            try await context.withQueue(queue) { client in
                let producer = QueueProducer(redis: client, catalog: queue.catalog)
                for index in 0..<100 { try await producer.enqueue(queue.name, OutgoingMessage(payload: BenchPayload(i: index).json)) }

                let clock = ContinuousClock()
                let singleStart = clock.now
                for index in 0..<count {
                    try await producer.enqueue(queue.name, OutgoingMessage(payload: BenchPayload(i: index).json))
                }
                let singleSeconds = (clock.now - singleStart).seconds

                let batchStart = clock.now
                for start in stride(from: 0, to: count, by: batch) {
                    let messages = (start..<min(start + batch, count)).map { OutgoingMessage(payload: BenchPayload(i: $0).json) }
                    for result in try await producer.enqueueBatch(queue.name, messages) { _ = try result.get() }
                }
                let batchSeconds = (clock.now - batchStart).seconds

                let length = try await queue.length(client)
                guard length == 100 + 2 * count else { throw BenchError("expected \(100 + 2 * count) messages on the queue, found \(length)") }
                single.append(["jobsPerSecond": Double(count) / singleSeconds, "seconds": singleSeconds])
                batched.append(["jobsPerSecond": Double(count) / batchSeconds, "seconds": batchSeconds])
                progress(String(format: "enqueue run %d/%d: %.0f jobs/s one at a time, %.0f jobs/s in batches of %d",
                                run, context.repeats, Double(count) / singleSeconds, Double(count) / batchSeconds, batch))
            }
        }
        let settings = context.settings.merging(["n": String(count)]) { $1 }
        return [
            Measurement(id: "enqueue-one", name: "QueueProducer.enqueue, one at a time", mode: "enqueue", settings: settings, runs: single),
            Measurement(id: "enqueue-batch", name: "QueueProducer.enqueueBatch, \(batch) per call", mode: "enqueue",
                        settings: settings.merging(["batch": String(batch)]) { $1 }, runs: batched),
        ]
    }

    static func printTable(_ rows: [Measurement], count: Int, repeats: Int) {
        printFigures("enqueue: \(Format.rate(Double(count))) messages from one client, median of \(repeats) (runs)",
                              header: ["operation", "jobs/s (runs)"],
                              rows: rows.map { [$0.name, $0.medianAndRuns("jobsPerSecond", Format.rate)] })
    }
}

// MARK: - Drain

/// Drain rate of no-op messages: N messages are enqueued first, then the consumers start; the rate
/// is N over the time from the first handler start to the last handler completion ("incl. startup":
/// from starting the consumers instead). Lost and duplicated messages are counted from the
/// handlers' own records (see `NoopRecorder`), and must both be 0.
enum DrainBench {
    static func run(
        _ context: BenchContext, count: Int, consumers: Int, concurrency: Int, placement: Placement, timeout: Duration
    ) async throws -> Measurement {
        var runs: [[String: Double]] = []
        for run in 1...context.repeats {
            let queue = BenchQueue(mode: "drain")
            let figures = try await context.withQueue(queue) { client in
                try await queue.fill(count, redis: client)
                func handled() async -> Int { (try? await client.send("GET", queue.countKey).string.flatMap { Int($0) }) ?? 0 }

                let spawned = wallNanos()
                let set: any ConsumerSet = switch placement {
                case .inProcess: try await InProcessConsumers(count: consumers, queue: queue, redis: context.redis, concurrency: concurrency)
                case .processes: try WorkerProcesses(count: consumers, queue: queue, redisURL: context.redisURL, concurrency: concurrency)
                }
                let drained = await waitUntil(limit: timeout) { await handled() >= count }
                try? await Task.sleep(for: .seconds(1))  // as the peers do: give stragglers and duplicates time to show
                let reports = try await set.stop()

                let executions = await handled()
                let unique = Int(try await client.send("BITCOUNT", queue.seenKey).int ?? 0)
                guard drained, let first = reports.compactMap(\.firstStartNanos).min(), let last = reports.compactMap(\.lastDoneNanos).max() else {
                    throw BenchError("drain: \(unique) of \(count) messages handled within \(timeout)")
                }
                let drainSeconds = Double(last - first) / 1e9
                return [
                    "drainRate": Double(count) / drainSeconds, "rateInclStartup": Double(count) / (Double(last - spawned) / 1e9),
                    "drainSeconds": drainSeconds, "startupSeconds": Double(first - spawned) / 1e9,
                    "lost": Double(count - unique), "duplicates": Double(executions - unique),
                ]
            }
            runs.append(figures)
            progress(String(format: "drain %d × c%d %@ run %d/%d: %.0f jobs/s (lost %.0f, dup %.0f)", consumers, concurrency,
                            placement.rawValue, run, context.repeats, figures["drainRate"]!, figures["lost"]!, figures["duplicates"]!))
        }
        let what = placement == .inProcess
            ? "\(consumers) consumer\(consumers == 1 ? "" : "s") in-process × c\(concurrency)"
            : "\(consumers) consumer process\(consumers == 1 ? "" : "es") × c\(concurrency)"
        return Measurement(
            id: "drain-\(consumers)-\(placement.rawValue)", name: what, mode: "drain",
            settings: context.settings.merging([
                "n": String(count), "consumers": String(consumers), "concurrency": String(concurrency), "placement": placement.rawValue,
            ]) { $1 },
            runs: runs)
    }

    static func printTable(_ rows: [Measurement], count: Int, repeats: Int) {
        printFigures(
            "drain: \(Format.rate(Double(count))) no-op messages pre-enqueued, median of \(repeats) (runs); lost/dup summed over runs",
            header: ["consumers", "drain jobs/s (runs)", "incl. startup", "startup s", "lost", "dup"],
            rows: rows.map {
                [$0.name, $0.medianAndRuns("drainRate", Format.rate), Format.rate($0.medians["rateInclStartup"] ?? .nan),
                 Format.seconds($0.medians["startupSeconds"] ?? .nan), String($0.total("lost")), String($0.total("duplicates"))]
            })
    }
}

// MARK: - Latency

/// Enqueue-to-handler-start latency at a steady rate into an idle consumer: each payload carries the
/// wall-clock time taken just before its `enqueue` call; the handler's first act is to subtract it
/// from the time it started. Same procedure as the peers: 20 warm-up messages at 50/s, a 1 s pause,
/// then N messages paced at the rate.
enum LatencyBench {
    static func run(_ context: BenchContext, count: Int, rate: Double, concurrency: Int, timeout: Duration) async throws -> Measurement {
        var runs: [[String: Double]] = []
        for run in 1...context.repeats {
            let queue = BenchQueue(mode: "latency")
            let figures = try await context.withQueue(queue) { client in
                let samples = Locked<[Double]>([])
                let warmUps = Locked(0)
                let consumer = QueueConsumer(
                    manifest: queue.manifest, redis: context.redis,
                    options: benchConsumerOptions(concurrency: concurrency, name: "bench-latency-\(getpid())")
                ) { delivery in
                    let started = wallNanos()
                    let payload = try delivery.decode(BenchPayload.self)
                    if payload.i < 0 {
                        warmUps.withLock { $0 += 1 }
                    } else if let enqueued = payload.ts {
                        samples.withLock { $0.append(Double(started - enqueued) / 1e6) }
                    }
                    return nil
                }
                let consuming = Task { try await consumer.run() }
                let producer = QueueProducer(redis: client, catalog: queue.catalog)

                _ = try await paced(producer, queue, count: 20, rate: 50) { -1 - $0 }
                let warm = await waitUntil(limit: .seconds(60), step: .milliseconds(20)) { warmUps.current >= 20 }
                try await Task.sleep(for: .seconds(1))
                let sendSeconds = warm ? try await paced(producer, queue, count: count, rate: rate) { $0 } : .nan
                let complete = warm ? await waitUntil(limit: timeout, step: .milliseconds(20)) { samples.current.count >= count } : false

                consumer.stop()
                try await consuming.value
                let latencies = samples.current
                guard warm, complete else { throw BenchError("latency: \(latencies.count) of \(count) messages handled within \(timeout)") }
                return LatencyHistogram(millis: latencies).figures.merging([
                    "min": latencies.min()!, "achievedRate": Double(count) / sendSeconds,
                ]) { $1 }
            }
            runs.append(figures)
            progress(String(format: "latency %.0f/s run %d/%d: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms",
                            rate, run, context.repeats, figures["p50"]!, figures["p99"]!, figures["p999"]!, figures["max"]!))
        }
        return Measurement(
            id: "latency-\(Int(rate))", name: "1 consumer in-process × c\(concurrency), \(Format.rate(rate))/s", mode: "latency",
            settings: context.settings.merging(["n": String(count), "rate": String(rate), "concurrency": String(concurrency)]) { $1 },
            runs: runs)
    }

    /// Enqueues `count` messages on a fixed schedule (message k is due at k / rate seconds), each
    /// stamped with the wall clock just before its enqueue; returns the seconds it took.
    static func paced(
        _ producer: QueueProducer, _ queue: BenchQueue, count: Int, rate: Double, index: (Int) -> Int
    ) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        for k in 0..<count {
            let due = start + .nanoseconds(Int64(Double(k) / rate * 1e9))
            if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            try await producer.enqueue(queue.name, OutgoingMessage(payload: BenchPayload(i: index(k), ts: wallNanos()).json))
        }
        return (clock.now - start).seconds
    }

    static func printTable(_ rows: [Measurement], count: Int, rate: Double, repeats: Int) {
        printFigures(
            "latency: enqueue to handler start, \(Format.rate(Double(count))) messages at \(Format.rate(rate))/s into an idle consumer, median of \(repeats) (runs)",
            header: ["consumer", "p50 ms", "p90 ms", "p99 ms (runs)", "p99.9 ms (runs)", "max ms (runs)", "sent/s"],
            rows: rows.map {
                [$0.name, $0.medianAndRuns("p50", Format.millis), Format.millis($0.medians["p90"] ?? .nan),
                 $0.medianAndRuns("p99", Format.millis), $0.medianAndRuns("p999", Format.millis), $0.medianAndRuns("max", Format.millis),
                 Format.rate($0.medians["achievedRate"] ?? .nan)]
            })
    }
}

// MARK: - Recovery

/// Time from a consumer's SIGKILL to its in-flight messages being handled elsewhere.
///
/// A worker process takes `inFlight` messages whose handlers sleep (so they are mid-handler), a
/// second consumer (in this process) is started and left running, the worker is SIGKILLed at a
/// random moment 1 s to 1 s + visibility later, and the second consumer's handler notes when each of
/// the killed worker's messages starts. Expected: the visibility timeout minus how long the entry had
/// already been idle at the kill, plus up to one reclaim interval (a quarter of the visibility
/// timeout, at most 5 s) and one blocking read (500 ms). The dead worker's heartbeats (every third of
/// the visibility timeout, for entries held at least that long) leave an entry idle for up to two
/// heartbeat intervals, so with 6 s (the shipped queues') the time is between about 2 and 8 s.
enum RecoveryBench {
    static func run(_ context: BenchContext, visibility: Duration, inFlight: Int, timeout: Duration) async throws -> Measurement {
        var runs: [[String: Double]] = []
        for run in 1...context.repeats {
            let queue = BenchQueue(mode: "recovery", visibility: visibility)
            let figures = try await context.withQueue(queue) { client in
                try await queue.fill(inFlight, redis: client)
                let victim = try WorkerProcess(queue: queue, redisURL: context.redisURL, concurrency: inFlight, slowFor: .seconds(60))
                let taken = await waitUntil(limit: .seconds(30), step: .milliseconds(10)) {
                    (try? await client.send("HLEN", queue.startsKey).int) ?? 0 >= Int64(inFlight)
                }
                guard taken else {
                    victim.signal(SIGKILL)
                    _ = try await victim.finish(grace: .seconds(5))
                    throw BenchError("recovery: the worker did not take \(inFlight) messages within 30 s")
                }

                // The survivor: already running when the worker dies; notes when each message starts.
                let recorder = try await context.client("bench-rec")
                defer { recorder.close() }
                let starts = Locked<[Int: ContinuousClock.Instant]>([:])
                let survivor = QueueConsumer(
                    manifest: queue.manifest, redis: context.redis,
                    options: benchConsumerOptions(concurrency: inFlight, name: "bench-survivor-\(getpid())")
                ) { delivery in
                    let now = ContinuousClock.now
                    let payload = try delivery.decode(BenchPayload.self)
                    starts.withLock { if $0[payload.i] == nil { $0[payload.i] = now } }
                    try await NoopRecorder(redis: recorder, queue: queue).record(payload.i)
                    return nil
                }
                let surviving = Task { try await survivor.run() }
                // Kill at a random moment, so the runs sample the phases of the dead worker's heartbeats
                // and of the survivor's reclaim timer instead of always hitting the same alignment.
                let lived = Duration.milliseconds(Int64.random(in: 1000...(1000 + visibility.milliseconds)))
                try await Task.sleep(for: lived)

                // How long each in-flight entry had been idle (since delivery or heartbeat) at the kill.
                let pending = try await client.send("XPENDING", QueueKeys(queue: queue.name, shard: 0).stream, "workers", "-", "+", 1000)
                let idle = (pending.array ?? []).compactMap { $0.array?[2].int }.map { Double($0) / 1000 }
                victim.signal(SIGKILL)
                let killedAt = ContinuousClock.now
                _ = try await victim.finish(grace: .seconds(5))

                let recovered = await waitUntil(limit: timeout, step: .milliseconds(10)) { starts.current.count >= inFlight }
                try await Task.sleep(for: .milliseconds(500))
                survivor.stop()
                try await surviving.value

                let executions = Int(try await client.send("GET", queue.countKey).string.flatMap { Int($0) } ?? 0)
                let unique = Int(try await client.send("BITCOUNT", queue.seenKey).int ?? 0)
                guard recovered else { throw BenchError("recovery: \(starts.current.count) of \(inFlight) messages handled within \(timeout)") }
                let delays = starts.current.values.map { ($0 - killedAt).seconds }
                return [
                    "min": delays.min()!, "median": Stats.median(delays), "max": delays.max()!,
                    "idleAtKillMin": idle.min() ?? .nan, "idleAtKillMax": idle.max() ?? .nan, "survivorRanSeconds": lived.seconds,
                    "lost": Double(inFlight - unique), "duplicates": Double(executions - unique),
                ]
            }
            runs.append(figures)
            progress(String(format: "recovery run %d/%d: %.2f / %.2f / %.2f s (min / median / max)",
                            run, context.repeats, figures["min"]!, figures["median"]!, figures["max"]!))
        }
        let reclaim = QueueConsumer.Options.defaultReclaimInterval(visibility: visibility)
        return Measurement(
            id: "recovery", name: "\(inFlight) in flight, visibility \(DurationText.format(visibility)), reclaim every \(DurationText.format(reclaim))",
            mode: "recovery",
            settings: context.settings.merging([
                "visibility": DurationText.format(visibility), "inFlight": String(inFlight), "reclaimInterval": DurationText.format(reclaim),
            ]) { $1 },
            runs: runs)
    }

    static func printTable(_ rows: [Measurement], repeats: Int) {
        printFigures(
            "recovery: SIGKILL of a consumer process to its in-flight messages' handler start on another consumer, median of \(repeats) (runs)",
            header: ["workload", "min s (runs)", "median s (runs)", "max s (runs)", "idle at kill s (runs)", "lost", "dup"],
            rows: rows.map {
                [$0.name, $0.medianAndRuns("min", Format.seconds), $0.medianAndRuns("median", Format.seconds),
                 $0.medianAndRuns("max", Format.seconds), $0.medianAndRuns("idleAtKillMax", Format.seconds),
                 String($0.total("lost")), String($0.total("duplicates"))]
            })
    }
}
