import Foundation
import TestSupport
import TMOrders
import TMPostgres
import TMQueue
import TMRedis

/// A migrated database with accounts and instruments, and a queue of its own shaped exactly like
/// `Queues/orders.yaml` (8 shards by account_id) under a unique name, for one test.
final class IntakeHarness: @unchecked Sendable {
    let database: TestDatabase
    let db: PostgresConnection
    let redis: RedisClient
    let scratch: ScratchOrdersQueue
    let queue: String
    let queueDirectory: URL
    let catalog: QueueCatalog
    let shards: Int
    let user = UUID()
    /// Active, paused, and a second active account of the same user.
    let active = UUID(), paused = UUID(), other = UUID()

    init() async throws {
        database = try TestDatabase(migrated: true, prefix: "tm_intake")
        db = try database.connect()
        let scratch = try ScratchOrdersQueue(prefix: "t")
        self.scratch = scratch
        queue = scratch.name
        queueDirectory = scratch.directory
        catalog = scratch.catalog
        shards = scratch.shards
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))

        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'trader@example.com')")
        for (id, label, status) in [(active, "main", "active"), (paused, "resting", "paused"), (other, "second", "active")] {
            try db.execute("INSERT INTO broker_accounts (id, user_id, broker, label, status) VALUES (\(id), \(user), 'kite', \(label), \(status))")
        }
        try db.simpleQuery("""
            INSERT INTO instruments (exchange, symbol, lot_size, tick_size, tradable) VALUES
                ('NSE', 'INFY', 1, 0.05, true), ('BSE', 'INFY', 1, 0.01, true), ('NSE', 'NIFTY26JANFUT', 75, 0.1, true),
                ('NSE', 'SUSPENDED', 1, 0.05, false), ('NSE', 'TCS', 1, 0.05, true)
            """)
    }

    var intake: OrderIntake { OrderIntake(db: db, producer: QueueProducer(redis: redis, catalog: catalog), queue: queue) }

    /// Entries on each shard's stream plus its delayed set: everything ever enqueued and not consumed.
    func backlog() async throws -> [Int] {
        var counts: [Int] = []
        for shard in 0..<shards {
            let keys = QueueKeys(queue: queue, shard: shard)
            let stream = try await redis.send("XLEN", keys.stream).int ?? 0
            let delayed = try await redis.send("ZCARD", keys.delayed).int ?? 0
            counts.append(Int(stream + delayed))
        }
        return counts
    }

    /// The payloads on one shard's stream, oldest first.
    func payloads(shard: Int) async throws -> [String] {
        let entries = try await redis.send("XRANGE", QueueKeys(queue: queue, shard: shard).stream, "-", "+").array ?? []
        return entries.compactMap { entry -> String? in
            guard let fields = entry.array?.last?.array else { return nil }
            var iterator = fields.makeIterator()
            while let name = iterator.next(), let value = iterator.next() {
                if name.string == "payload" { return value.string }
            }
            return nil
        }
    }

    func shard(of account: UUID) -> Int { QueueKeys.shard(for: account.uuidString.lowercased(), shards: shards) }

    /// An order row as the worker would have written it.
    @discardableResult
    func insertOrder(account: UUID, state: String, symbol: String = "INFY", type: String = "limit", price: String? = "1500.05",
                     trigger: String? = nil, key: String = "k-\(UUID().uuidString)") throws -> UUID {
        let id = UUID()
        try db.execute("""
            INSERT INTO orders (id, user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, price,
                                trigger_price, state)
            VALUES (\(id), \(user), \(account), \(key), \("c" + String(id.uuidString.prefix(8))), \(symbol), 'NSE', 'buy', \(type), 10,
                    \(price)::numeric, \(trigger)::numeric, \(state))
            """)
        return id
    }

    func cleanUp() async {
        await scratch.remove(redis: redis)
        redis.close()
        db.close()
        database.drop()
    }
}
