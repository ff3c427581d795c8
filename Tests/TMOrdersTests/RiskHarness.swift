import Foundation
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMPostgres
import TMRisk

/// A migrated database with one trader's two accounts, synced at a fixed time (`syncedAt`), with
/// funds, a position and instruments, for the risk book's tests. Every clock is `syncedAt` plus
/// something: no test depends on the wall clock.
final class RiskHarness: @unchecked Sendable {
    let database: TestDatabase
    let db: PostgresConnection
    let user = UUID()
    /// `main` holds 100 INFY (last price 1500) and 1,000,000 INR; `second` is flat with 500,000 INR.
    let main = UUID(), second = UUID()
    /// 2026-03-02 10:00:00 UTC: when both accounts last synced (positions and funds as of then).
    let syncedAt = Date(timeIntervalSince1970: 1_772_445_600)
    var now: Date { syncedAt.addingTimeInterval(60) }

    init() throws {
        database = try TestDatabase(migrated: true, prefix: "tm_risk")
        db = try database.connect()
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'risk@example.com')")
        for (id, label) in [(main, "main"), (second, "second")] {
            try db.execute("""
                INSERT INTO broker_accounts (id, user_id, broker, label, last_sync_at) VALUES (\(id), \(user), 'kite', \(label), \(syncedAt))
                """)
        }
        try db.simpleQuery("""
            INSERT INTO instruments (exchange, symbol, lot_size, tick_size, tradable, currency) VALUES
                ('NSE', 'INFY', 1, 0.05, true, 'INR'), ('NSE', 'TCS', 1, 0.05, true, 'INR')
            """)
        try db.execute("""
            INSERT INTO account_funds (account_id, segment, currency, available, total, as_of) VALUES
                (\(main), 'equity', 'INR', 1000000, 2000000, \(syncedAt)), (\(second), 'equity', 'INR', 500000, 500000, \(syncedAt))
            """)
        try db.execute("""
            INSERT INTO positions (account_id, symbol, exchange, quantity, average_price, last_price, as_of)
            VALUES (\(main), 'INFY', 'NSE', 100, 1400, 1500, \(syncedAt))
            """)
    }

    /// A new book loaded with both accounts, as a (re)started worker has it.
    func book(now: Date? = nil) throws -> RiskBook {
        let book = RiskBook()
        try book.load(db, accounts: [main, second], now: now ?? self.now)
        return book
    }

    func order(_ account: UUID? = nil, _ side: OrderSide = .buy, _ quantity: Decimal, at price: Decimal? = 1500, symbol: String = "INFY") -> PlaceOrder {
        PlaceOrder(idempotencyKey: "k-\(UUID().uuidString)", accountID: account ?? main, symbol: symbol, exchange: "NSE", side: side,
                   quantity: quantity, type: price == nil ? .market : .limit, limitPrice: price)
    }

    /// An order row as the placer leaves it in `state`.
    @discardableResult
    func insertOrder(_ account: UUID? = nil, state: String, side: String = "buy", quantity: Int, filled: Int = 0, price: String = "1500",
                     submittedAt: Date? = nil) throws -> UUID {
        let id = UUID()
        try db.execute("""
            INSERT INTO orders (id, user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity,
                                filled_quantity, average_price, price, requested_price, state, submitted_at)
            VALUES (\(id), \(user), \(account ?? main), \("k-" + id.uuidString), \("c" + String(id.uuidString.prefix(8))), 'INFY', 'NSE', \(side),
                    'limit', \(quantity), \(filled), \(filled > 0 ? price : nil)::numeric, \(price)::numeric, \(price)::numeric, \(state), \(submittedAt))
            """)
        return id
    }

    func insertTrade(_ account: UUID? = nil, side: String = "buy", quantity: Int, price: String, at: Date) throws {
        try db.execute("""
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, traded_at)
            VALUES (\(account ?? main), \("t-" + UUID().uuidString), 'INFY', 'NSE', \(side), \(quantity), \(price)::numeric, \(at))
            """)
    }

    func cleanUp() {
        db.close()
        database.drop()
    }
}

extension RiskCheck {
    var denial: RiskDenial? {
        if case .denied(let denial) = outcome { return denial }
        return nil
    }
    var passed: Bool { denial == nil }
    var reason: RiskReason? { denial?.reason }
}
