import Foundation
import TestSupport
import TMCore
import TMMarketData
import TMPortfolio
import TMPostgres
import TMQueue
import TMRedis

/// A migrated database of its own, the harness's Redis, and helpers to write users, accounts,
/// instruments, positions, fills, funds and cached prices. Symbols carry a suffix unique to the
/// fixture, so the shared Redis's price keys of other tests are never read or written.
final class PortfolioFixture: @unchecked Sendable {
    let db: TestDatabase
    let pool: PostgresPool
    let redis: RedisClient
    let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36).uppercased()
    /// Noon UTC on 5 December 2026: the valuations' "now" (the day's fills are on that day).
    static let noon = Date(timeIntervalSince1970: 1_796_472_000)
    let clock = Locked(PortfolioFixture.noon)
    /// How many times a valuer read the clock: once per valuation.
    let clockReads = Locked(0)
    private var users: [UUID] = []
    private var instruments: [(symbol: String, exchange: String)] = []

    init() async throws {
        db = try TestDatabase(migrated: true, prefix: "tm_portfolio")
        pool = PostgresPool(configuration: db.configuration, size: 4)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
    }

    /// A valuer over the fixture's database, reading the fixture's clock.
    func valuer(ttl: Duration = PortfolioCache.defaultTTL) -> PortfolioValuer {
        PortfolioValuer(pool: pool, redis: redis, ttl: ttl) { [clock, clockReads] in
            clockReads.withLock { $0 += 1 }
            return clock.withLock { $0 }
        }
    }

    var nowMs: Int64 { Int64(clock.withLock { $0 }.timeIntervalSince1970 * 1000) }

    /// `base` with the fixture's suffix, e.g. INFY → INFY7K2Q.
    func symbol(_ base: String) -> String { base + suffix }

    func connect() throws -> PostgresConnection { try db.connect() }

    @discardableResult
    func user(_ name: String) throws -> UUID {
        let conn = try connect()
        defer { conn.close() }
        let id: UUID = try conn.query("INSERT INTO users (email, display_name) VALUES (\(name + "-" + suffix.lowercased() + "@test.local"), \(name)) RETURNING id")
            .rows[0].decode("id")
        users.append(id)
        return id
    }

    func email(_ name: String) -> String { name + "-" + suffix.lowercased() + "@test.local" }

    func account(_ user: UUID, broker: String, label: String, status: String = "active") throws -> UUID {
        let conn = try connect()
        defer { conn.close() }
        return try conn.query("""
            INSERT INTO broker_accounts (user_id, broker, label, status, error_reason)
            VALUES (\(user), \(broker), \(label), \(status), \(status == "error" ? "test" : nil as String?)) RETURNING id
            """).rows[0].decode("id")
    }

    func instrument(_ symbol: String, _ exchange: String, currency: String, multiplier: Decimal = 1, type: String = "equity") throws {
        let conn = try connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO instruments (exchange, symbol, currency, tick_size, multiplier, instrument_type)
            VALUES (\(exchange), \(symbol), \(currency), 0.05, \(multiplier), \(type))
            """)
        instruments.append((symbol, exchange))
    }

    func position(_ account: UUID, _ symbol: String, _ exchange: String, quantity: Decimal, average: Decimal, realized: Decimal = 0) throws {
        let conn = try connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO positions (account_id, symbol, exchange, quantity, average_price, realized_pnl, as_of)
            VALUES (\(account), \(symbol), \(exchange), \(quantity), \(average), \(realized), now())
            ON CONFLICT (account_id, exchange, symbol) DO UPDATE SET quantity = EXCLUDED.quantity, average_price = EXCLUDED.average_price,
              realized_pnl = EXCLUDED.realized_pnl
            """)
    }

    func fill(_ account: UUID, _ symbol: String, _ exchange: String, side: String, quantity: Decimal, price: Decimal, fees: Decimal = 0,
              feeCurrency: String? = nil, at: Date) throws {
        let conn = try connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, fees, fee_currency, traded_at)
            VALUES (\(account), \(UUID().uuidString), \(symbol), \(exchange), \(side), \(quantity), \(price), \(fees), \(feeCurrency), \(at))
            """)
    }

    func funds(_ account: UUID, segment: String = "", currency: String, available: Decimal, cash: Decimal? = nil, total: Decimal? = nil) throws {
        let conn = try connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO account_funds (account_id, segment, currency, available, cash, total, as_of)
            VALUES (\(account), \(segment), \(currency), \(available), \(cash), \(total), now())
            ON CONFLICT (account_id, segment, currency) DO UPDATE SET available = EXCLUDED.available, cash = EXCLUDED.cash, total = EXCLUDED.total
            """)
    }

    /// A cached price observed `ageMs` before the fixture's now.
    func price(_ symbol: String, _ exchange: String, _ price: Decimal, previousClose: Decimal? = nil, ageMs: Int64 = 1_000) async throws {
        try await PriceCache(redis: redis).store(PriceTick(symbol: symbol, exchange: exchange, price: price, previousClose: previousClose,
                                                           source: "kite", atMs: nowMs - ageMs), ttl: .seconds(120))
        instruments.append((symbol, exchange))
    }

    func cached(_ user: UUID) async throws -> PortfolioValuation? { try await PortfolioCache(redis: redis).read(user: user) }

    func count(_ sql: PostgresQuery) throws -> Int {
        let conn = try connect()
        defer { conn.close() }
        return try conn.query(sql).rows[0].decode(0, as: Int.self)
    }

    func cleanUp() async {
        for user in users { _ = try? await redis.send("DEL", CacheKeys.portfolio(user: user.uuidString.lowercased())) }
        for i in instruments { _ = try? await redis.send("DEL", CacheKeys.price(symbol: i.symbol, exchange: i.exchange)) }
        await pool.shutdown()
        redis.close()
        db.drop()
    }
}

extension String {
    /// The exact decimal of a literal in tests: `"1510.75".d`.
    var d: Decimal { DecimalText.parse(self)! }
}
