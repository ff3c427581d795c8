import Foundation
import TestSupport
import TMAlerts
import TMCore
import TMOrders
import TMPostgres
import TMQueue
import TMRedis
import TMRisk

/// A migrated database with one trader's account `main` (kite, INFY on NSE), its limits set per
/// test, fills put in by hand, and a scratch notifications queue. Every clock is `day` plus
/// something: no test depends on the wall clock.
final class LimitHarness: LimitEscalationStore, @unchecked Sendable {
    let user = UUID(), account = UUID()
    /// 2026-03-02 00:00:00 UTC: the trading day of the tests (UTC, as the risk engine counts it).
    let day = Date(timeIntervalSince1970: 1_772_409_600)
    /// 10:00 UTC on `day`.
    var now: Date { day.addingTimeInterval(10 * 3600) }

    init() async throws {
        try await super.init(prefix: "tm_limits")
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'limits@example.com')")
        try db.execute("INSERT INTO broker_accounts (id, user_id, broker, label, last_sync_at) VALUES (\(account), \(user), 'kite', 'main', \(day))")
        try db.simpleQuery("INSERT INTO instruments (exchange, symbol, lot_size, tick_size, tradable, currency) VALUES ('NSE', 'INFY', 1, 0.05, true, 'INR')")
    }

    /// The account's own limits row (nil: not limited at that level).
    func limits(loss: String?, turnover: String?) throws {
        try db.execute("""
            INSERT INTO trading_limits (user_id, account_id, daily_loss_limit, daily_turnover_limit)
            VALUES (\(user), \(account), \(loss)::numeric, \(turnover)::numeric)
            ON CONFLICT (account_id) WHERE account_id IS NOT NULL DO UPDATE SET
              daily_loss_limit = EXCLUDED.daily_loss_limit, daily_turnover_limit = EXCLUDED.daily_turnover_limit
            """)
    }

    /// A fill at 09:00 UTC + `minute` of `day` (default: the harness's day).
    func trade(_ side: String, _ quantity: String, at price: String, on day: Date? = nil, minute: Int = 0) throws {
        let at = (day ?? self.day).addingTimeInterval(9 * 3600 + Double(minute) * 60)
        try db.execute("""
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, traded_at)
            VALUES (\(account), \("t-" + UUID().uuidString), 'INFY', 'NSE', \(side), \(quantity)::numeric, \(price)::numeric, \(at))
            """)
    }

    /// A round trip of 100 shares, bought at 1000 and sold lower, that loses `loss`.
    func lose(_ loss: String, on day: Date? = nil, minute: Int = 0) throws {
        let price = FixedDecimal(1000) - FixedDecimal(loss)! * FixedDecimal("0.01")!
        try trade("buy", "100", at: "1000", on: day, minute: minute)
        try trade("sell", "100", at: price.description, on: day, minute: minute + 1)
    }

    func sweep() -> LimitAlertSweep {
        LimitAlertSweep(pool: pool, producer: producer, queue: notifications)
    }

    /// Two sweeps of their own at once, as two evaluators would run them.
    func sweepTwiceAtOnce(now: Date) async throws -> Int {
        let (first, second) = (sweep(), sweep())
        async let a = first.sweep(now: now)
        async let b = second.sweep(now: now)
        return try await a + b
    }

    func notifications(kind: String) throws -> Int {
        try count("SELECT count(*) AS n FROM notifications WHERE kind = '\(kind)'")
    }

    /// The account's trading state as the order path's risk book loads it.
    func tradingState() throws -> TradingState? {
        let book = RiskBook()
        try book.load(db, accounts: [account], now: now)
        return book.limits(account: account)?.tradingState
    }

    func announced() async throws -> Int {
        // An announced value is "<n>:<nonce>": its n grows with each announcement.
        Int(try await TradingControls.announcedVersion(redis)?.prefix { $0 != ":" } ?? "0") ?? 0
    }
}
