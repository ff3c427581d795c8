import Foundation
import Logging
import Testing
import TestSupport
@testable import TMBrokers
import TMCore
@testable import TMFunctions
@testable import TMLocks
@testable import TMQueue
import TMRedis
@testable import TMScheduler

/// "Cluster-safe keys", checked: every Redis user of the project runs against a one-node Redis
/// Cluster (so Redis itself refuses any command or script whose declared keys span slots), while
///
/// - `MONITOR` records every command each script runs, and each must touch only keys the script
///   declared (an undeclared key is invisible to cluster routing, whatever its slot);
/// - a round-trip observer at the `RedisConnection` seam records every pipeline, and each must
///   hold one hash slot (a cluster client sends one pipeline to one node).
@Suite(.serialized, .timeLimit(.minutes(3))) struct ClusterKeysTests {
    @Test func theHashSlotAgreesWithTheClusterSpecAndWithRedis() async throws {
        // The spec's CRC16 check value, and its hash-tag rules.
        #expect(RedisKeySlot.slot(of: "123456789") == 0x31C3)
        #expect(RedisKeySlot.slot(of: "{user1000}.following") == RedisKeySlot.slot(of: "{user1000}.followers"))
        #expect(RedisKeySlot.slot(of: "foo{}{bar}") == RedisKeySlot.slot(of: Array("foo{}{bar}".utf8)))
        #expect(RedisKeySlot.slot(of: "foo{{bar}}zap") == RedisKeySlot.slot(of: "{bar"))
        #expect(RedisKeySlot.slot(of: "foo{bar}{zap}") == RedisKeySlot.slot(of: "bar"))
        let server = try EphemeralRedis.start(cluster: true)
        defer { server.destroy() }
        let redis = try await RedisClient(configuration: try RedisConfiguration(url: server.url))
        defer { redis.close() }
        let keys = ["", "a", "123456789", "foo{}{bar}", "foo{{bar}}zap", "tm:{orders.3}:stream", "tm:{lock:sync}:owner", "ünïcode{ß}x"]
            + (0..<200).map { "key:\($0):\(UInt32.random(in: 0...UInt32.max))" }
        for key in keys {
            let slot = try await redis.send("CLUSTER", "KEYSLOT", key).int
            #expect(slot.map(Int.init) == RedisKeySlot.slot(of: key), "slot of '\(key)'")
        }
    }

    @Test func everyScriptDeclaresItsKeysAndEveryPipelineHoldsOneSlot() async throws {
        let server = try EphemeralRedis.start(cluster: true)
        defer { server.destroy() }
        let monitor = try MonitorCapture(port: server.port)
        defer { monitor.stop() }
        let roundTrips = Locked<[[RedisCommand]]>([])
        var observed = try RedisConfiguration(url: server.url)
        observed.roundTripObserver = { commands in roundTrips.withLock { $0.append(commands) } }
        let redis = try await RedisClient(configuration: observed)
        defer { redis.close() }

        try await runEveryRedisUser(observed, redis)

        let setup = try await RedisClient(configuration: try RedisConfiguration(url: server.url))
        defer { setup.close() }
        let lines = try await monitor.finish(marker: setup)
        let names = try await scriptNames(setup)

        // Scripts: each command a script runs touches only keys it declared, all in one slot.
        var runs: [(name: String, declared: [[UInt8]], calls: [[[UInt8]]])] = []
        for line in lines {
            if line.source != "lua" {
                if let name = line.args.first.map({ String(decoding: $0, as: UTF8.self).uppercased() }), name == "EVALSHA", line.args.count >= 3,
                   let count = Int(String(decoding: line.args[2], as: UTF8.self)) {
                    runs.append((names[String(decoding: line.args[1], as: UTF8.self)] ?? "unknown script", Array(line.args[3..<3 + count]), []))
                } else {
                    runs.append(("(not a script)", [], []))
                }
            } else {
                #expect(!runs.isEmpty, "a script command with no script before it in MONITOR")
                if !runs.isEmpty { runs[runs.count - 1].calls.append(line.args) }
            }
        }
        let scriptCalls = runs.flatMap(\.calls)
        let touched = try await keysOf(scriptCalls, setup)
        var index = 0
        var violations: Set<String> = []
        var ran: Set<String> = []
        for run in runs {
            if !run.calls.isEmpty { ran.insert(run.name) }
            if Set(run.declared.map(RedisKeySlot.slot(of:))).count > 1 { violations.insert("\(run.name): declared keys span slots") }
            for call in run.calls {
                for key in touched[index] where !run.declared.contains(key) {
                    let command = String(decoding: call[0], as: UTF8.self).uppercased()
                    violations.insert("\(run.name): \(command) touches undeclared key \(String(decoding: key, as: UTF8.self))")
                }
                index += 1
            }
        }
        #expect(violations.isEmpty, "\(violations.sorted().joined(separator: "\n"))")
        // Every script of the project ran (one not run here would go unchecked).
        let missing = Set(names.values).subtracting(ran)
        #expect(missing.isEmpty, "scripts that never ran in this test: \(missing.sorted())")

        // Pipelines: every round trip's keys share one slot.
        let trips = roundTrips.current.filter { $0.count > 1 }
        #expect(trips.count >= 3, "the lifecycle should have pipelined something")
        let tripKeys = try await keysOf(trips.flatMap { $0.map(\.arguments).map { $0.map(\.bytes) } }, setup)
        var offset = 0
        var mixed: [String] = []
        for trip in trips {
            let keys = tripKeys[offset..<offset + trip.count].flatMap { $0 }
            offset += trip.count
            let slots = Set(keys.map(RedisKeySlot.slot(of:)))
            if slots.count > 1 {
                mixed.append("\(trip.map(\.description).joined(separator: ",")) over slots \(slots.sorted())")
            }
        }
        #expect(mixed.isEmpty, "pipelines mixing hash slots:\n\(mixed.joined(separator: "\n"))")
    }

    // MARK: - The Redis users

    /// The queue lifecycle (enqueue, batch, delayed, fetch, heartbeat, complete, retry,
    /// dead-letter, reclaim, poison, promote, replay, purge, inspect), locks, leader election,
    /// reserved concurrency, the rate limiter and the circuit breaker.
    private func runEveryRedisUser(_ configuration: RedisConfiguration, _ redis: RedisClient) async throws {
        var life = QueueManifest(name: "life")
        life.shards = 4
        life.visibilityTimeout = .seconds(3)
        life.maxDeliveries = 2
        life.concurrency = 4
        life.batchSize = 1
        life.backoff = .init(base: .milliseconds(20), cap: .milliseconds(50), jitter: .full)
        var ghost = QueueManifest(name: "ghost")
        ghost.visibilityTimeout = .milliseconds(600)
        ghost.maxReclaims = 1
        let catalog = try QueueCatalog([life, ghost])
        let producer = QueueProducer(redis: redis, catalog: catalog)

        struct Failed: Error {}
        let replayed = Locked(false)
        let handler: QueueHandler = { delivery in
            let text = String(decoding: delivery.payload, as: UTF8.self)
            if text.contains("replayed") { replayed.withLock { $0 = true } }
            if text.contains("fail") { throw Failed() }
            if text.contains("slow") { try await Task.sleep(for: .milliseconds(1300)) }
            return "done"
        }
        var options = QueueConsumer.Options()
        options.blockTimeout = .milliseconds(100)
        options.promoteInterval = .milliseconds(20)
        // Several heartbeats while the slow handler (1.3 s) runs, whatever the timer's phase.
        options.heartbeatInterval = .milliseconds(200)
        let consumer = QueueConsumer(manifest: life, redis: configuration, options: options, handler: handler)
        let running = Task { try await consumer.run() }

        for i in 0..<12 { try await producer.enqueue("life", OutgoingMessage(payload: Array(#"{"do":"ok"}"#.utf8), key: "k\(i)")) }
        for _ in 0..<4 { try await producer.enqueue("life", OutgoingMessage(payload: Array(#"{"do":"ok"}"#.utf8))) }
        try await producer.enqueue("life", OutgoingMessage(payload: Array(#"{"do":"ok"}"#.utf8), key: "late", delay: .milliseconds(300)))
        let batch = (0..<8).map { OutgoingMessage(payload: Array(#"{"do":"ok"}"#.utf8), key: "b\($0)") }
        for result in try await producer.enqueueBatch("life", batch) { _ = try result.get() }
        let grouped = (0..<3).map { OutgoingMessage(payload: Array(#"{"do":"ok"}"#.utf8), key: "grouped\($0)") }
        for result in try await producer.enqueueGroups("life", [OutgoingGroup(key: "group", messages: grouped)]) { _ = try result.get() }
        for i in 0..<2 { try await producer.enqueue("life", OutgoingMessage(payload: Array(#"{"do":"fail"}"#.utf8), key: "f\(i)")) }
        try await producer.enqueue("life", OutgoingMessage(payload: Array(#"{"do":"slow"}"#.utf8), key: "slow"))
        #expect(try await producer.enqueue("life", OutgoingMessage(payload: Array("{}".utf8), key: "k0")).duplicate)
        try await eventually("the lifecycle settles") { consumer.counters.handled >= 26 && consumer.counters.deadLettered >= 2 }

        // Dead letters: replay one with a fix, purge the other.
        let dlq = DeadLetterQueue(redis: redis, manifest: life)
        let letters = try await dlq.list()
        #expect(letters.count == 2)
        if letters.count == 2 {
            #expect(try await dlq.replay(ids: [letters[0].id], patch: #"{"do":"ok","replayed":true}"#).replayed == 1)
            #expect(try await dlq.purge(ids: [letters[1].messageID]).purged.count == 1)
        }
        try await eventually("the replay is handled") { replayed.current }
        // An entry no producer of ours wrote (no id field): dead-lettered by the consumer, its epoch raised apart.
        let deadBefore = consumer.counters.deadLettered
        try await redis.send("XADD", QueueKeys(queue: "life", shard: 0).stream, "*", "payload", "not ours")
        try await eventually("the foreign entry is dead-lettered") { consumer.counters.deadLettered > deadBefore }
        _ = try await QueueInspector(redis: redis, catalog: catalog).status()
        consumer.stop()
        try await running.value

        // A settler shared by several shards (`QueueSettler`): completions of four shards that
        // meet behind a call in flight still go one pipeline per slot on a cluster (the observer
        // checks it; on a lone server they would share one).
        let shared = try await QueueSettler(redis: configuration, name: "cluster-settler")
        defer { shared.close() }
        let gate = DispatchSemaphore(value: 0)
        defer { gate.signal() }
        let holding = Locked(false)
        let hold = Task {
            try await shared.control.withConnection { _ in
                holding.withLock { $0 = true }
                gate.wait()
            }
        }
        try await eventually("the settler's thread held") { holding.current }
        func meeting(_ shard: Int, _ n: Int) -> ScriptBatcher.Completion {
            ScriptBatcher.Completion(keys: QueueKeys(queue: "life", shard: shard), group: QueueConsumer.group, streamID: "1-\(n)", id: "meet-\(n)",
                                     epoch: 1, key: "meet-\(n)", result: "", ttlMillis: 60_000, now: nowMillis())
        }
        let first = Task { try await shared.batcher.complete(meeting(0, 0)) }
        try await eventually("a lone settle in flight") { shared.batcher.sentAtOnce == 1 }
        var met: [Task<RedisValue, Error>] = []
        for n in 1...8 {
            let completion = meeting(n % 4, n)
            met.append(Task { try await shared.batcher.complete(completion) })
            try await eventually("settle \(n) waiting") { shared.batcher.waiting == n }
        }
        gate.signal()
        try await hold.value
        // (Never read by a consumer: each is refused as not pending, in its own slot's call.)
        #expect(try await first.value.string == "stale")
        for task in met { #expect(try await task.value.string == "stale") }
        try await eventually("the flush ended") { !shared.batcher.isSending }
        #expect(shared.roundTrips == (all: 5, mixingSlots: 0), "one round trip for the lone settle, one per slot for the four that met")

        // Reclaim and a poison pill: two messages read by consumers that then "die".
        let keys = QueueKeys(queue: "ghost", shard: 0)
        let reclaimed = try await producer.enqueue("ghost", OutgoingMessage(payload: Array(#"{"do":"ok"}"#.utf8), key: "g-reclaimed"))
        let poison = try await producer.enqueue("ghost", OutgoingMessage(payload: Array(#"{"do":"ok"}"#.utf8), key: "g-poison"))
        try await redis.send("XGROUP", "CREATE", keys.stream, QueueConsumer.group, "0", "MKSTREAM")
        try await redis.send("XREADGROUP", "GROUP", QueueConsumer.group, "ghost-1", "COUNT", 2, "STREAMS", keys.stream, ">")
        try await redis.send("XCLAIM", keys.stream, QueueConsumer.group, "ghost-2", 0, try #require(poison.streamID))
        #expect(reclaimed.streamID != nil)
        let recovering = QueueConsumer(manifest: ghost, redis: configuration, options: options, handler: handler)
        let recovery = Task { try await recovering.run() }
        try await eventually("reclaimed and poison handled") {
            recovering.counters.handled >= 1 && recovering.counters.deadLettered >= 1
        }
        recovering.stop()
        try await recovery.value

        // Locks and leader election.
        let locks = DistributedLock(redis: redis)
        let lease = try #require(try await locks.tryAcquire("sync", ttl: .seconds(5)))
        _ = try await locks.extend(lease)
        _ = try await locks.release(lease)
        let terms = Locked(0)
        let election = LeaderElection(redis: redis, resource: "scheduler", ttl: .milliseconds(300), logger: Logger(label: "test"))
        let campaign = Task { await election.run { _ in terms.withLock { $0 += 1 } } }
        try await eventually("a term ended and another began") { terms.current >= 2 }
        campaign.cancel()
        await campaign.value

        // Reserved concurrency, rate limits, circuit breaker.
        let reserved = ReservedConcurrency(function: "fn", limit: 2, lease: .seconds(5), redis: redis)
        let slot = try #require(try await reserved.tryAcquire())
        try await reserved.renew()
        _ = try await reserved.running()
        reserved.release(slot)
        await reserved.releaseAll()
        let limiter = RateLimiter(redis: redis)
        _ = try await limiter.tryAcquire("broker", limits: [RateLimit(5, per: .seconds(1)), RateLimit(100, per: .seconds(60))])
        let breaker = CircuitBreaker(name: "broker", redis: redis)
        try await breaker.allow()
        // A broker call's circuit and budget in one script: the budget's log shares the breaker's slot.
        _ = try await RateLimiter(redis: redis, sharingSlotWith: breaker).admit("broker:acct:order", limits: [RateLimit(5, per: .seconds(1))], maxWait: .seconds(2))
        _ = try await breaker.record(success: false)
        _ = try await breaker.state()
    }

    /// Every script of the project by SHA1 (SCRIPT LOAD answers the hash without running anything).
    private func scriptNames(_ redis: RedisClient) async throws -> [String: String] {
        let scripts: [(String, RedisScript)] = [
            ("enqueue", QueueScripts.enqueue), ("promote", QueueScripts.promote), ("fetch", QueueScripts.fetch),
            ("raiseEpochs", QueueScripts.raiseEpochs), ("reclaim", QueueScripts.reclaim), ("heartbeat", QueueScripts.heartbeat),
            ("complete", QueueScripts.complete), ("retry", QueueScripts.retry), ("deadLetter", QueueScripts.deadLetter),
            ("replay", QueueScripts.replay), ("pruneConsumers", QueueScripts.pruneConsumers),
            ("lock.acquire", DistributedLock.acquireScript), ("lock.release", DistributedLock.releaseScript),
            ("lock.extend", DistributedLock.extendScript), ("leader.withdraw", LeaderRegistry.withdrawScript),
            ("reserved.acquire", ReservedConcurrency.acquireScript), ("reserved.renew", ReservedConcurrency.renewScript),
            ("enqueueBatch", QueueScripts.enqueueBatch), ("enqueueGroups", QueueScripts.enqueueGroups), ("admission", BrokerAdmission.script),
            ("breaker.record", CircuitBreaker.recordScript),
        ]
        var names: [String: String] = [:]
        for (name, script) in scripts {
            names[try #require(try await redis.send("SCRIPT", "LOAD", script.source).string)] = name
        }
        return names
    }

    /// The keys of each command, as Redis itself finds them (`COMMAND GETKEYS`; EVALSHA by its
    /// declared keys), in one pipeline per 500 commands.
    private func keysOf(_ commands: [[[UInt8]]], _ redis: RedisClient) async throws -> [[[UInt8]]] {
        var keys: [[[UInt8]]] = []
        for start in stride(from: 0, to: commands.count, by: 500) {
            let chunk = commands[start..<min(start + 500, commands.count)]
            let replies = try await redis.pipeline(chunk.map { command in
                RedisCommand([RedisArgument("COMMAND"), RedisArgument("GETKEYS")] + command.map { RedisArgument(bytes: $0) })
            })
            for reply in replies {
                // No key arguments (TIME, SCRIPT LOAD, PING...) is an error reply: no keys.
                keys.append(((try? reply.get())?.array ?? []).compactMap(\.bytes))
            }
        }
        return keys
    }
}

/// `redis-cli MONITOR` into a file: every command the server runs, script commands included
/// (marked `lua`, right after the EVALSHA that ran them).
final class MonitorCapture: @unchecked Sendable {
    struct Line {
        let source: String
        let args: [[UInt8]]
    }

    private let process = Process()
    private let file: URL

    init(port: Int) throws {
        file = FileManager.default.temporaryDirectory.appendingPathComponent("tm-monitor-\(port)-\(UUID().uuidString.prefix(8)).txt")
        FileManager.default.createFile(atPath: file.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        process.arguments = ["-p", String(port), "MONITOR"]
        process.standardOutput = try FileHandle(forWritingTo: file)
        try process.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while !((try? String(contentsOf: file, encoding: .utf8))?.hasPrefix("OK") ?? false) {
            guard ContinuousClock.now < deadline else { throw POSIXError(.ETIMEDOUT) }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Sends a marker, waits until MONITOR has written it, stops and returns the parsed lines.
    func finish(marker redis: RedisClient) async throws -> [Line] {
        let marker = "monitor-end-\(UUID().uuidString)"
        try await redis.send("ECHO", marker)
        try await eventually("MONITOR caught up") { (try? String(contentsOf: file, encoding: .utf8))?.contains(marker) ?? false }
        stop()
        let text = try Data(contentsOf: file)
        try? FileManager.default.removeItem(at: file)
        return text.split(separator: UInt8(ascii: "\n")).compactMap { Self.parse(Array($0)) }
    }

    func stop() {
        if process.isRunning {
            // SIGKILL: the child may inherit a signal mask that blocks SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// `1714000000.123456 [0 127.0.0.1:5555] "EVALSHA" "ab12" "1" "key"` — arguments quoted, with
    /// `\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b` and `\xHH` escapes.
    static func parse(_ line: [UInt8]) -> Line? {
        guard let open = line.firstIndex(of: UInt8(ascii: "[")),
              let close = line[open...].firstIndex(of: UInt8(ascii: "]")) else { return nil }
        let source = String(decoding: line[(open + 1)..<close], as: UTF8.self).split(separator: " ").last.map(String.init) ?? ""
        var args: [[UInt8]] = []
        var i = close + 1
        while i < line.count {
            guard line[i] == UInt8(ascii: "\"") else { i += 1; continue }
            i += 1
            var arg: [UInt8] = []
            while i < line.count, line[i] != UInt8(ascii: "\"") {
                if line[i] == UInt8(ascii: "\\"), i + 1 < line.count {
                    i += 1
                    switch line[i] {
                    case UInt8(ascii: "n"): arg.append(0x0A)
                    case UInt8(ascii: "r"): arg.append(0x0D)
                    case UInt8(ascii: "t"): arg.append(0x09)
                    case UInt8(ascii: "a"): arg.append(0x07)
                    case UInt8(ascii: "b"): arg.append(0x08)
                    case UInt8(ascii: "x"):
                        if i + 2 < line.count, let byte = UInt8(String(decoding: line[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                            arg.append(byte)
                            i += 2
                        }
                    default: arg.append(line[i])
                    }
                } else {
                    arg.append(line[i])
                }
                i += 1
            }
            args.append(arg)
            i += 1
        }
        return args.isEmpty ? nil : Line(source: source, args: args)
    }
}
