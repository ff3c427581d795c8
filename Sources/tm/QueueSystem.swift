import TMCore
import TMQueue
import TMRedis

/// What every queue command needs: the configuration, the queue catalog and a Redis client.
struct QueueSystem {
    let environment: TMEnvironment
    let catalog: QueueCatalog
    let redis: RedisClient

    /// Loads the catalog and checks that `queues` exist before connecting (so a typo is answered
    /// with the list of known queues, even when Redis is down), then connects.
    static func open(checking queues: [String] = [], clientName: String) async throws -> QueueSystem {
        let environment = TMEnvironment.current()
        let catalog = try QueueCatalog.load(environment: environment)
        for name in queues { _ = try catalog.manifest(name) }
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: clientName)
        return QueueSystem(environment: environment, catalog: catalog, redis: redis)
    }

    func close() { redis.close() }
}
