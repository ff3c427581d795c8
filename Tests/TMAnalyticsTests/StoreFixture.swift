import Foundation
import TestSupport
import TMAnalytics
import TMCore
import TMPostgres
import TMRedis

/// A migrated database of its own and the harness's Redis, with helpers to write users, accounts,
/// instruments and fills for the store's tests (FillReader, ReportWriter, AnalyticsPipeline).
final class StoreFixture: @unchecked Sendable {
    let db: TestDatabase
    let pool: PostgresPool
    let redis: RedisClient
    let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36).lowercased()

    init() async throws {
        db = try TestDatabase(migrated: true, prefix: "tm_analytics_store")
        pool = PostgresPool(configuration: db.configuration, size: 2)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
    }

    func connect() throws -> PostgresConnection { try db.connect() }

    func user(_ name: String, capital: String? = nil, currency: String? = nil) throws -> UUID {
        let conn = try connect()
        defer { conn.close() }
        return try conn.query("""
            INSERT INTO users (email, display_name, capital, capital_currency)
            VALUES (\(name + "-" + suffix + "@test.local"), \(name), \(capital)::numeric, \(currency)) RETURNING id
            """).rows[0].decode("id")
    }

    func account(_ user: UUID, broker: String) throws -> UUID {
        let conn = try connect()
        defer { conn.close() }
        return try conn.query("INSERT INTO broker_accounts (user_id, broker, label) VALUES (\(user), \(broker), \(broker)) RETURNING id")
            .rows[0].decode("id")
    }

    func instrument(_ symbol: String, _ exchange: String, currency: String) throws {
        let conn = try connect()
        defer { conn.close() }
        try conn.execute("INSERT INTO instruments (exchange, symbol, currency, tick_size) VALUES (\(exchange), \(symbol), \(currency), 0.01)")
    }

    /// A fill at `time` (ISO 8601, e.g. `2024-03-01T09:15:00.123456Z`).
    func fill(_ account: UUID, _ tradeID: String, _ symbol: String, _ exchange: String, _ side: String, qty: String, price: String,
              fee: String = "0", time: String, category: String? = nil) throws {
        let conn = try connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, fees, traded_at, category)
            VALUES (\(account), \(tradeID), \(symbol), \(exchange), \(side), \(qty)::numeric, \(price)::numeric, \(fee)::numeric,
                    \(time)::timestamptz, \(category))
            """)
    }

    static func micros(_ iso: String) -> Int64 {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = formatter.date(from: iso) ?? ISO8601DateFormatter().date(from: iso)!
        // The formatter keeps milliseconds only; add the rest of the fraction by hand.
        var micros = Int64((date.timeIntervalSince1970 * 1000).rounded()) * 1000
        if let dot = iso.firstIndex(of: "."), let end = iso.firstIndex(of: "Z") {
            let fraction = iso[iso.index(after: dot)..<end]
            if fraction.count == 6 { micros = micros / 1_000_000 * 1_000_000 + Int64(fraction)! }
        }
        return micros
    }

    func close() async {
        await pool.shutdown()
        db.drop()
    }
}
