import Foundation
import TestSupport
import TMCore
import TMQueue
import TMRedis

/// A queue of its own for one test, on the harness's Redis; `cleanUp()` deletes its keys.
struct TestQueue {
    let manifest: QueueManifest
    let redis: RedisClient
    let producer: QueueProducer
    let redisConfiguration: RedisConfiguration

    init(_ configure: (inout QueueManifest) -> Void = { _ in }, redisURL: String? = nil) async throws {
        var manifest = QueueManifest(name: TestServers.uniqueName("q").replacingOccurrences(of: "_", with: "-"))
        manifest.visibilityTimeout = .seconds(5)
        manifest.backoff = .init(base: .milliseconds(50), cap: .milliseconds(400), jitter: .full)
        configure(&manifest)
        self.manifest = manifest
        redisConfiguration = try RedisConfiguration(url: try redisURL ?? TestServers.redisURL)
        redis = try await RedisClient(configuration: redisConfiguration)
        producer = QueueProducer(redis: redis, catalog: try QueueCatalog([manifest]))
    }

    var name: String { manifest.name }
    func keys(_ shard: Int = 0) -> QueueKeys { QueueKeys(queue: manifest.name, shard: shard) }

    @discardableResult
    func enqueue(_ json: String, key: String? = nil, delay: Duration? = nil) async throws -> EnqueueResult {
        try await producer.enqueue(name, OutgoingMessage(payload: Array(json.utf8), key: key, delay: delay))
    }

    /// Starts a consumer in the background; stop it with `consumer.stop()` and await the task.
    func consume(options: QueueConsumer.Options = QueueConsumer.Options(), _ handler: @escaping QueueHandler) -> (QueueConsumer, Task<Void, Error>) {
        var options = options
        options.blockTimeout = .milliseconds(200)
        options.promoteInterval = .milliseconds(20)
        let consumer = QueueConsumer(manifest: manifest, redis: redisConfiguration, options: options, handler: handler)
        return (consumer, Task { try await consumer.run() })
    }

    /// The dead letters of shard 0: (entry id, fields).
    func deadLetters(_ shard: Int = 0) async throws -> [(id: String, fields: [String: String])] {
        let reply = try await redis.send("XRANGE", keys(shard).deadLetters, "-", "+")
        return (reply.array ?? []).map { entry in
            let parts = entry.array ?? []
            let flat = parts[1].array ?? []
            var fields: [String: String] = [:]
            var i = 0
            while i + 1 < flat.count { fields[flat[i].string ?? ""] = flat[i + 1].string ?? ""; i += 2 }
            return (parts[0].string ?? "", fields)
        }
    }

    func streamLength(_ shard: Int = 0) async throws -> Int {
        Int(try await redis.send("XLEN", keys(shard).stream).int ?? -1)
    }

    func cleanUp() async {
        for shard in 0..<manifest.shards {
            let k = keys(shard)
            _ = try? await redis.send("DEL", k.stream, k.delayed, k.deadLetters, k.epochs, k.watched)
            if let idem = try? await redis.send("KEYS", k.idempotency("*")).array, !idem.isEmpty {
                _ = try? await redis.send(RedisCommand("DEL", arguments: idem.compactMap(\.string)))
            }
        }
        redis.close()
    }
}

/// A client's Redis thread held by a job waiting on a gate, so that calls sent meanwhile stay
/// queued (a `ScriptBatcher`'s lone call stays in flight behind it). `release()` lets it go and
/// waits for the job; `open()` only signals, for a test's `defer` on every way out (before the
/// client is closed, which waits for its thread).
struct HeldRedisThread {
    private let gate: DispatchSemaphore
    private let job: Task<Void, Error>

    init(_ redis: RedisClient) async throws {
        let gate = DispatchSemaphore(value: 0)
        let holding = Locked(false)
        job = Task {
            try await redis.withConnection { _ in
                holding.withLock { $0 = true }
                gate.wait()
            }
        }
        self.gate = gate
        try await eventually("the Redis thread held") { holding.withLock { $0 } }
    }

    func open() { gate.signal() }

    func release() async throws {
        gate.signal()
        try await job.value
    }
}
