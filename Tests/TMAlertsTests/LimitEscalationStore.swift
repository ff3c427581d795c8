import Foundation
import TestSupport
import TMPostgres
import TMQueue
import TMRedis

/// What the limit and escalation tests share: a migrated database of their own, a pool over it,
/// the harness's Redis and a scratch notifications queue (dropped by `cleanUp`).
class LimitEscalationStore: @unchecked Sendable {
    let database: TestDatabase
    let db: PostgresConnection
    let pool: PostgresPool
    let redis: RedisClient
    let notifications: String

    init(prefix: String) async throws {
        database = try TestDatabase(migrated: true, prefix: prefix)
        db = try database.connect()
        pool = PostgresPool(configuration: database.configuration, size: 4)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        notifications = "notifications-" + TestServers.uniqueName("n").lowercased().replacingOccurrences(of: "_", with: "-")
    }

    /// A producer that knows the scratch queue.
    var producer: QueueProducer { QueueProducer(redis: redis, catalog: try! QueueCatalog([QueueManifest(name: notifications)])) }

    /// `SELECT count(*) AS n ...`
    func count(_ sql: String) throws -> Int {
        try db.query(PostgresQuery(unsafeSQL: sql)).rows[0].decode("n")
    }

    /// Messages announced on the scratch notifications queue.
    func queued() async throws -> Int {
        Int(try await redis.send("XLEN", QueueKeys(queue: notifications, shard: 0).stream).int ?? 0)
    }

    func cleanUp() async {
        _ = try? await redis.send("DEL", QueueKeys(queue: notifications, shard: 0).stream)
        redis.close()
        await pool.shutdown()
        db.close()
        database.drop()
    }
}
