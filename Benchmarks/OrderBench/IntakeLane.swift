import Foundation
import TMOrders
import TMPostgres
import TMQueue
import TMRedis

/// One intake as the API runs it: a database connection and a Redis connection of its own.
/// `@unchecked Sendable`: a lane is used by one task at a time (its connection is blocking and not
/// shared), the bench only hands it from the task that made it to the one that drives it.
final class IntakeLane: @unchecked Sendable {
    let db: PostgresConnection
    let redis: RedisClient
    let intake: OrderIntake
    /// The pid of its connection's Postgres backend (its CPU is counted as the intake's).
    let backend: Int32

    init(database: PostgresConfiguration, redis configuration: RedisConfiguration, catalog: QueueCatalog) async throws {
        db = try PostgresConnection(configuration: database)
        backend = Int32(try db.query("SELECT pg_backend_pid() AS pid").rows[0].decode("pid", as: Int.self))
        redis = try await RedisClient(configuration: configuration, name: "intake")
        intake = OrderIntake(db: db, producer: QueueProducer(redis: redis, catalog: catalog))
    }

    /// Submits the commands in one intake call; returns how many it refused (there should be none).
    func submit(_ commands: ArraySlice<(key: String, command: OrderCommand)>) async throws -> Int {
        var refused = 0
        for result in try await intake.submitBatch(commands.map(\.command)) {
            if case .failure(let error) = result {
                if refused == 0 { print("  the intake refused an order: \(error)") }
                refused += 1
            }
        }
        return refused
    }

    func close() {
        redis.close()
        db.close()
    }
}
