import Foundation
import Logging
import TestSupport
import TMAnalytics
import TMPostgres
import TMQueue
import TMRedis
import TMSync

/// A migrated database of its own with one user and a manual account, a scratch `trade-events`
/// queue, and a folder for CSV files.
struct ImportFixture {
    let db: TestDatabase
    let pool: PostgresPool
    let redis: RedisClient
    let user: UUID
    let account: UUID
    let email = "importer@test.local"
    let events: String
    let directory: URL

    init() async throws {
        db = try TestDatabase(migrated: true, prefix: "tm_import")
        pool = PostgresPool(configuration: db.configuration, size: 2)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        events = TestServers.uniqueName("trade-events").replacingOccurrences(of: "_", with: "-")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("tm-import"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let conn = try db.connect()
        defer { conn.close() }
        user = try conn.query("INSERT INTO users (email, display_name) VALUES (\(email), 'Importer') RETURNING id").rows[0].decode("id")
        account = try AccountAdministration.addManual(conn, userEmail: email, label: "ledger")
    }

    /// A broker-synced (kite) account of the fixture's user.
    func syncedAccount() throws -> UUID {
        let conn = try db.connect()
        defer { conn.close() }
        return try conn.query("""
            INSERT INTO broker_accounts (user_id, broker, label, api_key_sealed) VALUES (\(user), 'kite', 'main', 'tmseal.v1.x.y') RETURNING id
            """).rows[0].decode("id")
    }

    /// Writes `text` to a new file in the fixture's folder; returns its path.
    func file(_ text: String, name: String = UUID().uuidString + ".csv") throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func importFile(_ text: String, skipBad: Bool = false, batchSize: Int = 1_000, into account: UUID? = nil) throws -> TradeImport.Report {
        let conn = try db.connect()
        defer { conn.close() }
        return try TradeImport(skipBad: skipBad, batchSize: batchSize).run(conn, account: account ?? self.account, path: try file(text))
    }

    func count(_ sql: String) throws -> Int {
        let conn = try db.connect()
        defer { conn.close() }
        return try conn.query(PostgresQuery(unsafeSQL: sql)).rows[0].decode(0, as: Int.self)
    }

    func strings(_ sql: String) throws -> [String] {
        let conn = try db.connect()
        defer { conn.close() }
        return try conn.query(PostgresQuery(unsafeSQL: sql)).rows.map { try $0.decode(0, as: String.self) }
    }

    var outbox: TradeEventOutbox {
        get throws {
            var outbox = TradeEventOutbox(pool: pool, producer: QueueProducer(redis: redis, catalog: try QueueCatalog([QueueManifest(name: events)])))
            outbox.queue = events
            return outbox
        }
    }

    func streamLength(_ queue: String) async throws -> Int {
        Int(try await redis.send("XLEN", QueueKeys(queue: queue, shard: 0).stream).int ?? 0)
    }

    func cleanUp() async {
        if let keys = try? await redis.send("KEYS", "tm:{\(events).0}:*").array {
            for key in keys.compactMap(\.string) { _ = try? await redis.send("DEL", key) }
        }
        try? FileManager.default.removeItem(at: directory)
        await pool.shutdown()
        redis.close()
    }

    /// A good file: three fills, one with a category, one symbol quoted.
    static let good = """
        symbol,exchange,side,quantity,price,fee,time,trade_id,category
        INFY,NSE,buy,10.5,1500.25,12.5,2026-01-05T09:15:00+05:30,T1,
        INFY,NSE,sell,10.5,1510,0,2026-01-05T15:20:00.123456+05:30,T2,intraday
        "AAPL",NASDAQ,buy,0.000000001,190.123456789,0.01,2026-01-06T14:30:00Z,T3,long_term

        """
}
