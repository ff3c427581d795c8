import Foundation
import Logging
import TestSupport
import TMAnalytics
import TMCore
import TMFunctionRuntime
import TMPostgres
import TMQueue
import TMRedis

/// A migrated database of its own, users in it, the shared Redis and a chunk queue of its own: the
/// world of one run test.
final class RunFixture: @unchecked Sendable {
    let database: TestDatabase
    let pool: PostgresPool
    let redis: RedisClient
    let queue: QueueManifest
    let producer: QueueProducer
    var users: [UUID] = []

    init(users count: Int) async throws {
        database = try TestDatabase(migrated: true, prefix: "tm_run")
        pool = PostgresPool(configuration: database.configuration, size: 4)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        var manifest = QueueManifest(name: "analytics-" + TestServers.uniqueName("run").lowercased().replacingOccurrences(of: "_", with: "-"))
        manifest.visibilityTimeout = .seconds(3)
        manifest.backoff.base = .milliseconds(50)
        manifest.backoff.cap = .milliseconds(200)
        queue = manifest
        producer = QueueProducer(redis: redis, catalog: try QueueCatalog([manifest]))
        users = try await addUsers(count)
    }

    func addUsers(_ count: Int) async throws -> [UUID] {
        try await pool.withConnection { db in
            try (0..<count).map { i in
                try db.query("INSERT INTO users (email) VALUES (\("run-\(i)-\(UUID().uuidString.prefix(8))@test.tm.local")) RETURNING id").rows[0].decode("id")
            }
        }
    }

    func settings(chunkUsers: Int, batchUsers: Int = 2) -> AnalyticsRunSettings {
        var settings = AnalyticsRunSettings()
        settings.queue = queue.name
        settings.chunkUsers = chunkUsers
        settings.batchUsers = batchUsers
        return settings
    }

    func starter(chunkUsers: Int) -> AnalyticsRunStarter {
        AnalyticsRunStarter(pool: pool, redis: redis, producer: producer, settings: settings(chunkUsers: chunkUsers))
    }

    /// Messages on the chunk queue's stream (enqueued, not yet settled).
    func queuedMessages() async throws -> Int {
        Int(try await redis.send("XLEN", QueueKeys(queue: queue.name, shard: 0).stream).int ?? 0)
    }

    func run(_ id: UUID) async throws -> AnalyticsRun {
        try await pool.withConnection { try AnalyticsRunStore.run($0, id: id)! }
    }

    func runs(slot: String) async throws -> Int {
        try await pool.query("SELECT count(*) AS n FROM analytics_runs WHERE slot = \(slot)").rows[0].decode("n")
    }

    /// `analytics_run_users.recomputations` of a run, per user.
    func recomputations(_ run: UUID) async throws -> [UUID: Int] {
        Dictionary(uniqueKeysWithValues: try await pool.query("SELECT user_id, recomputations FROM analytics_run_users WHERE run_id = \(run)")
            .rows.map { (try $0.decode("user_id", as: UUID.self), try $0.decode("recomputations", as: Int.self)) })
    }

    /// The dispatcher's part, in process: each delivery of the chunk queue becomes one record of `function`.
    func consumer(_ function: AnalyticsBatchFunction, concurrency: Int = 2) throws -> QueueConsumer {
        var options = QueueConsumer.Options()
        options.concurrency = concurrency
        return QueueConsumer(manifest: queue, redis: try RedisConfiguration(url: try TestServers.redisURL), options: options) { delivery in
            let request = InvocationRequest(
                invocationID: UUID().uuidString, function: "analytics-batch", attempt: delivery.attempt,
                deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 60_000,
                records: [InvocationRecord(messageID: delivery.id, key: delivery.key, queue: delivery.queue, attempt: delivery.attempt, epoch: delivery.epoch,
                                           enqueuedAtMillis: Int64(delivery.enqueuedAt.timeIntervalSince1970 * 1000),
                                           body: String(decoding: delivery.payload, as: UTF8.self))])
            let result = await function.handle(request, context: FunctionContext(request: request, logger: Logger(label: "test.analytics-batch")))
            guard result.status == .ok else { throw RecordRejected("analytics-batch: \(result)") }
            return result.results?[delivery.id]
        }
    }

    func cleanUp() async {
        for key in (try? await redis.send("KEYS", "tm:{\(queue.name).0}:*").array ?? []) ?? [] {
            if let key = key.string { _ = try? await redis.send("DEL", key) }
        }
        redis.close()
        await pool.shutdown()
        database.drop()
    }
}

/// Counts every recomputation per user, so a duplicate shows; `block(after:)` makes it hang (until
/// cancelled) once that many users were recomputed: a process dying mid-chunk.
final class CountingRecomputer: AnalyticsRecomputing, @unchecked Sendable {
    let counts = Locked([UUID: Int]())
    let runIDs = Locked(Set<UUID?>())
    let blockAfter = Locked<Int?>(nil)

    func recompute(users: [UUID], runID: UUID?) async throws -> RecomputeSummary {
        let total = counts.withLock { counts -> Int in
            for user in users { counts[user, default: 0] += 1 }
            return counts.values.reduce(0, +)
        }
        runIDs.withLock { _ = $0.insert(runID) }
        if let limit = blockAfter.withLock({ $0 }), total > limit {
            try await Task.sleep(for: .seconds(3600))
        }
        var summary = RecomputeSummary()
        summary.users = users.count
        summary.fills = users.count * 10
        summary.rowsWritten = users.count
        return summary
    }

    func count(_ user: UUID) -> Int { counts.withLock { $0[user] ?? 0 } }
}
