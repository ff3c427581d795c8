import Foundation
import TestSupport
import TMAlerts
import TMCore
import TMMarketData
import TMPostgres
import TMQueue
import TMRedis

/// A migrated database with one user, alerts inserted as rows, and evaluators on a clock the test
/// moves. Symbols are unique per harness, so the price cache of parallel tests never overlaps.
final class PriceHarness: @unchecked Sendable {
    let database: TestDatabase
    let db: PostgresConnection
    let pool: PostgresPool
    let redis: RedisClient
    let user = UUID()
    let email = "trader-\(UUID().uuidString.prefix(8).lowercased())@example.com"
    let prefix = "T" + String(UInt32.random(in: 0...UInt32.max), radix: 36).uppercased()
    let exchange = "NSE"
    /// The evaluators' clock.
    let clock = Locked(Date())
    private let ticks = Locked(Int64(Date().timeIntervalSince1970 * 1000))

    init() async throws {
        database = try TestDatabase(migrated: true, prefix: "tm_alerts")
        db = try database.connect()
        pool = PostgresPool(configuration: database.configuration, size: 4)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), \(email))")
    }

    func symbol(_ name: String) -> String { "\(prefix)\(name)" }

    /// Changes are announced on a counter of this harness's own (`sharedVersion`: the one `tm alerts` bumps).
    func evaluator(sharedVersion: Bool = false) -> PriceAlertEvaluator {
        let clock = self.clock
        let settings = PriceAlertEvaluator.Settings(fullReloadInterval: .seconds(3600), versionKey: sharedVersion ? CacheKeys.priceAlertsVersion : versionKey)
        return PriceAlertEvaluator(pool: pool, redis: redis, producer: nil, settings: settings, clock: { clock.current })
    }

    var versionKey: String { "test:\(prefix):alerts-version" }

    func advance(_ seconds: TimeInterval) { clock.withLock { $0 = $0.addingTimeInterval(seconds) } }

    @discardableResult
    func alert(_ symbol: String, _ condition: String, _ threshold: String, cooldown: String? = nil, expiresAt: Date? = nil,
               lastSeen: String? = nil) throws -> UUID {
        try db.query("""
            INSERT INTO price_alerts (user_id, symbol, exchange, condition, threshold, repeat, cooldown, expires_at, last_seen_price)
            VALUES (\(user), \(symbol), \(exchange), \(condition), \(threshold)::numeric, \(cooldown != nil), \(cooldown)::interval,
                    \(expiresAt), \(lastSeen)::numeric)
            RETURNING id
            """).rows[0].decode("id")
    }

    /// A tick observed after every earlier one of this harness.
    func tick(_ symbol: String, _ price: String, previousClose: String? = nil) -> PriceTick {
        let at = ticks.withLock { $0 += 1; return $0 }
        return PriceTick(symbol: symbol, exchange: exchange, price: DecimalText.parse(price)!, previousClose: previousClose.flatMap(DecimalText.parse),
                         source: "manual", atMs: at)
    }

    func fireCount(_ alert: UUID) throws -> Int { try db.query("SELECT fire_count FROM price_alerts WHERE id = \(alert)").rows[0].decode("fire_count") }
    func state(_ alert: UUID) throws -> String { try db.query("SELECT state FROM price_alerts WHERE id = \(alert)").rows[0].decode("state") }

    /// The dedup keys of the alert's notifications, in order.
    func notifications(_ alert: UUID) throws -> [String] {
        try db.query("SELECT dedup_key FROM notifications WHERE kind = 'price_alert' AND payload->>'alert_id' = \(alert.uuidString.lowercased()) ORDER BY dedup_key")
            .rows.map { try $0.decode("dedup_key") }
    }

    func cleanUp() async {
        await pool.shutdown()
        redis.close()
        db.close()
        database.drop()
    }
}
