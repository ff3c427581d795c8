import Foundation
import Logging
import TestSupport
import TMCore
import TMFunctionRuntime
import TMPostgres
import TMQueue
import TMRedis
@testable import TMAnalytics

/// A migrated database, Redis, and helpers to write users, accounts and fills the way sync does;
/// counts every recompute the refresh asks for, per user (so a duplicate shows).
final class RefreshFixture: @unchecked Sendable {
    let db: TestDatabase
    let pool: PostgresPool
    let redis: RedisClient
    let suffix = UUID().uuidString.prefix(8).lowercased()
    /// Users the refresh recomputed, one entry per user per `recompute` call.
    let recomputed = Locked<[UUID]>([])
    private var users: [UUID] = []

    init() async throws {
        db = try TestDatabase(migrated: true, prefix: "tm_refresh")
        pool = PostgresPool(configuration: db.configuration, size: 4)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
    }

    func count(_ user: UUID) -> Int { recomputed.withLock { $0.filter { $0 == user }.count } }

    func user(_ name: String, capital: String? = nil, currency: String? = nil) async throws -> UUID {
        let id: UUID = try await pool.query("""
            INSERT INTO users (email, display_name, capital, capital_currency)
            VALUES (\(name + "-" + suffix + "@test.local"), \(name), \(capital)::numeric, \(currency)) RETURNING id
            """).rows[0].decode("id")
        users.append(id)
        return id
    }

    func account(_ user: UUID, broker: String = "kite", label: String = "main") async throws -> UUID {
        try await pool.query("INSERT INTO broker_accounts (user_id, broker, label, status) VALUES (\(user), \(broker), \(label), 'active') RETURNING id")
            .rows[0].decode("id")
    }

    /// A refresher over this fixture's Redis whose recompute counts, then runs `then` (default nothing).
    func refresher(settle: Duration = .milliseconds(250), then: @escaping @Sendable ([UUID]) async throws -> Void = { _ in }) -> AnalyticsRefresher {
        var refresher = AnalyticsRefresher(coordinator: RefreshCoordinator(redis: redis)) { [recomputed] users in
            recomputed.withLock { $0 += users }
            try await then(users)
        }
        refresher.settle = settle
        return refresher
    }

    static func request(_ bodies: [String], deadline: Duration = .seconds(30)) -> InvocationRequest {
        InvocationRequest(invocationID: UUID().uuidString, function: "analytics-refresh", attempt: 1,
                          deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + deadline.milliseconds,
                          records: bodies.enumerated().map {
                              InvocationRecord(messageID: "m\($0.offset + 1)", queue: "trade-events", attempt: 1, epoch: 1, enqueuedAtMillis: 0, body: $0.element)
                          })
    }

    static func context(_ request: InvocationRequest) -> FunctionContext {
        FunctionContext(request: request, logger: Logger(label: "test.analytics-refresh"))
    }

    /// A sync's `trade.created` message, as `TradeEvent` (TMSync) writes it.
    static func tradeCreated(account: UUID, user: UUID, trade: String = "T-1") -> String {
        JSONValue.object([
            ("event", "trade.created"), ("account_id", .string(account.uuidString.lowercased())), ("user_id", .string(user.uuidString.lowercased())),
            ("trade_id", .string(UUID().uuidString.lowercased())), ("broker_trade_id", .string(trade)), ("broker_order_id", "O-1"), ("symbol", "INFY"),
            ("side", "buy"), ("quantity", "10"), ("price", "1500.25"), ("fee", "0"), ("executed_at", "2026-12-04T09:00:00Z"), ("revision", "r1"),
        ]).text
    }

    /// The order path's `order.state` message naming only the account.
    static func orderFilled(account: UUID, filled: String = "5") -> String {
        JSONValue.object([
            ("event", "order.state"), ("order_id", .string(UUID().uuidString.lowercased())), ("account_id", .string(account.uuidString.lowercased())),
            ("symbol", "INFY"), ("exchange", "NSE"), ("side", "buy"), ("filled_quantity", .string(filled)), ("average_price", "1510"),
            ("from", "ACCEPTED"), ("to", "FILLED"),
        ]).text
    }

    /// A fill in `trades` on `account` (what a sync writes), `seconds` after 2026-12-01 09:00 UTC.
    func fill(_ account: UUID, id: String, side: String, quantity: String, price: String, fee: String = "0", symbol: String = "INFY",
              exchange: String = "NSE", at seconds: Double) async throws {
        let at = Date(timeIntervalSince1970: 1_796_115_600 + seconds)
        _ = try await pool.execute("""
            INSERT INTO trades (account_id, broker_trade_id, broker_order_id, symbol, exchange, side, quantity, price, fees, fee_currency, traded_at)
            VALUES (\(account), \(id), \("O-" + id), \(symbol), \(exchange), \(side), \(quantity)::numeric, \(price)::numeric, \(fee)::numeric, 'INR', \(at))
            """)
    }

    /// The production recompute (the bulk pipeline: rows replaced, cache keys deleted).
    func recompute(_ users: [UUID]) async throws {
        _ = try await AnalyticsPipeline(pool: pool, redis: redis).recompute(users: users, runID: nil)
    }

    func cleanUp() async {
        for user in users {
            _ = try? await redis.send("DEL", RefreshCoordinator.key(user))
            for period in AnalyticsPeriod.allCases { _ = try? await redis.send("DEL", AnalyticsCache.key(user, period)) }
        }
        await pool.shutdown()
        redis.close()
        db.drop()
    }
}
