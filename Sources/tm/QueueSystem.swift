import TMCore
import TMFunctions
import TMQueue
import TMRedis

/// What every queue command needs: the configuration, the catalogs and a Redis client.
///
/// The queue catalog includes the queues functions derive (`fn:<name>` invocation queues and
/// `<queue>@<function>` subscriptions), so `tm queues` and `tm dlq` work on them like on any other.
struct QueueSystem {
    let environment: TMEnvironment
    let catalog: QueueCatalog
    let functions: FunctionCatalog
    let redis: RedisClient

    /// Loads the catalogs and checks that `queues` exist before connecting (so a typo is answered
    /// with the list of known queues, even when Redis is down), then connects.
    static func open(checking queues: [String] = [], clientName: String) async throws -> QueueSystem {
        let environment = TMEnvironment.current()
        let (catalog, functions) = try loadCatalogs(environment, strictFunctions: false).combined
        for name in queues { _ = try catalog.manifest(name) }
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: clientName)
        return QueueSystem(environment: environment, catalog: catalog, functions: functions, redis: redis)
    }

    /// The declared queues and the functions; no Functions folder means no functions.
    struct Catalogs {
        let declared: QueueCatalog
        let functions: FunctionCatalog

        /// The declared queues plus the function-derived ones, and the functions.
        var combined: (QueueCatalog, FunctionCatalog) {
            get throws { (try declared.adding(try functions.derivedQueues(from: declared)), functions) }
        }
    }

    /// With `strictFunctions` false (queue commands), a function manifest that cannot load leaves
    /// the functions out instead of failing: `tm enqueue` must work while a function's manifest is
    /// being fixed; `tm functions` and `tm dispatch` load strictly and report the error.
    static func loadCatalogs(_ environment: TMEnvironment, strictFunctions: Bool = true) throws -> Catalogs {
        let queues = try QueueCatalog.load(environment: environment)
        var functions = try FunctionCatalog([])
        if let directory = try? FunctionCatalog.locate(environment: environment) {
            do {
                functions = try FunctionCatalog.load(directory: directory, queues: queues)
            } catch where !strictFunctions {
                functions = try FunctionCatalog([])
            }
        }
        return Catalogs(declared: queues, functions: functions)
    }

    func close() { redis.close() }
}
