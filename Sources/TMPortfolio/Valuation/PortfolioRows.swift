import Foundation
import TMCore
import TMMarketData
import TMPostgres
import TMSync
import TMRisk

/// What the valuation reads from Postgres, and who holds what.
///
/// Guarantees: a user's accounts, positions, fills and funds are read in one REPEATABLE READ
/// transaction, so positions and funds are of the same sync (a sync replaces both in one commit);
/// accounts that are `disabled` are left out (the user disconnected them), paused or failing ones
/// stay (their positions as of the last sync are still theirs).
public enum PortfolioRows {
    /// The currency of an instrument that is not in `instruments`: the broker's usual one.
    static let brokerCurrencySQL = BrokerAccount.currencySQL(broker: "a.broker")

    /// The UTC day `day` (`YYYY-MM-DD`) as [start, end).
    public static func window(day: String) throws -> (start: Date, end: Date) {
        guard let start = dayFormatter.date(from: day), dayFormatter.string(from: start) == day else {
            throw PortfolioError.badDate(day)
        }
        return (start, start.addingTimeInterval(86_400))
    }

    /// The UTC day of `date` (`YYYY-MM-DD`).
    public static func day(of date: Date) -> String { dayFormatter.string(from: date) }

    private static var dayFormatter: DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter
    }

    /// The user's accounts, holdings (positions and the day's fills) and cash, for the UTC `day`.
    public static func read(_ db: PostgresConnection, user: UUID, day: String) throws -> PortfolioInputs {
        let (start, end) = try window(day: day)
        return try db.transaction { db in
            try db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            let accounts = try db.query("""
                SELECT id, broker, label FROM broker_accounts WHERE user_id = \(user) AND status <> 'disabled' ORDER BY created_at, id
                """).rows.map { AccountRef(id: try $0.decode("id"), broker: try $0.decode("broker"), label: try $0.decode("label")) }
            let holdings = try db.query(PostgresQuery(unsafeSQL: """
                WITH acct AS (
                    SELECT a.id, \(brokerCurrencySQL) AS broker_currency FROM broker_accounts a WHERE a.user_id = $1 AND a.status <> 'disabled'),
                day AS (
                    SELECT t.account_id, t.symbol, t.exchange,
                           coalesce(sum(t.quantity) FILTER (WHERE t.side = 'buy'), 0) AS bought,
                           coalesce(sum(t.quantity * t.price) FILTER (WHERE t.side = 'buy'), 0) AS bought_value,
                           coalesce(sum(t.quantity) FILTER (WHERE t.side = 'sell'), 0) AS sold,
                           coalesce(sum(t.quantity * t.price) FILTER (WHERE t.side = 'sell'), 0) AS sold_value,
                           coalesce(sum(t.fees) FILTER (WHERE t.fee_currency IS NULL
                                                          OR t.fee_currency = coalesce(i.currency, acct.broker_currency)), 0) AS fees
                    FROM trades t JOIN acct ON acct.id = t.account_id
                    LEFT JOIN instruments i ON i.exchange = t.exchange AND i.symbol = t.symbol
                    WHERE t.traded_at >= $2 AND t.traded_at < $3
                    GROUP BY t.account_id, t.symbol, t.exchange),
                held AS (
                    SELECT p.account_id, p.symbol, p.exchange FROM positions p JOIN acct ON acct.id = p.account_id
                    UNION SELECT account_id, symbol, exchange FROM day)
                SELECT h.account_id, h.symbol, h.exchange, coalesce(i.currency, acct.broker_currency) AS currency,
                       coalesce(p.quantity, 0) AS quantity, coalesce(p.average_price, 0) AS average_price,
                       coalesce(p.realized_pnl, 0) AS realized_pnl, coalesce(i.multiplier, p.multiplier, 1) AS multiplier,
                       coalesce(i.instrument_type = 'future', false) AS is_future,
                       d.bought, d.bought_value, d.sold, d.sold_value, d.fees, lf.price AS fill_price, lf.traded_at AS fill_at
                FROM held h JOIN acct ON acct.id = h.account_id
                LEFT JOIN positions p ON p.account_id = h.account_id AND p.exchange = h.exchange AND p.symbol = h.symbol
                LEFT JOIN day d ON d.account_id = h.account_id AND d.exchange = h.exchange AND d.symbol = h.symbol
                LEFT JOIN instruments i ON i.exchange = h.exchange AND i.symbol = h.symbol
                LEFT JOIN LATERAL (
                    SELECT t.price, t.traded_at FROM trades t
                    WHERE t.account_id = h.account_id AND t.exchange = h.exchange AND t.symbol = h.symbol AND t.traded_at < $3
                    ORDER BY t.traded_at DESC, t.created_at DESC LIMIT 1) lf ON true
                ORDER BY h.account_id, h.exchange, h.symbol
                """, binds: [user.postgresData(), start.postgresData(), end.postgresData()])).rows.map { row in
                var h = Holding(accountID: try row.decode("account_id"),
                                instrument: InstrumentKey(symbol: try row.decode("symbol"), exchange: try row.decode("exchange")),
                                currency: try row.decode("currency"))
                h.quantity = try row.decode("quantity")
                h.averagePrice = try row.decode("average_price")
                h.realizedPnl = try row.decode("realized_pnl")
                h.multiplier = try row.decode("multiplier")
                h.isFuture = try row.decode("is_future")
                h.bought = try row.decode("bought", as: Decimal?.self) ?? 0
                h.boughtValue = try row.decode("bought_value", as: Decimal?.self) ?? 0
                h.sold = try row.decode("sold", as: Decimal?.self) ?? 0
                h.soldValue = try row.decode("sold_value", as: Decimal?.self) ?? 0
                h.fees = try row.decode("fees", as: Decimal?.self) ?? 0
                if let price = try row.decode("fill_price", as: Decimal?.self), let at = try row.decode("fill_at", as: Date?.self) {
                    h.lastFill = LastFill(price: price, atMs: Int64((at.timeIntervalSince1970 * 1000).rounded()))
                }
                return h
            }
            // Cash: the funds line's `cash` where the broker reports it apart (Kite, Alpaca), else its
            // `total` (Binance: free + locked of a cash asset), else `available` (Upstox's margin).
            let cash = try db.query("""
                SELECT f.account_id, f.currency, sum(coalesce(f.cash, f.total, f.available)) AS amount
                FROM account_funds f JOIN broker_accounts a ON a.id = f.account_id
                WHERE a.user_id = \(user) AND a.status <> 'disabled'
                GROUP BY f.account_id, f.currency ORDER BY f.account_id, f.currency
                """).rows.map { CashLine(accountID: try $0.decode("account_id"), currency: try $0.decode("currency"), amount: try $0.decode("amount")) }
            return PortfolioInputs(userID: user, day: day, accounts: accounts, holdings: holdings, cash: cash)
        }
    }

    /// The users with an open position in any of `instruments` (in an account not disabled).
    public static func holders(_ db: PostgresConnection, of instruments: [InstrumentKey]) throws -> [UUID] {
        guard !instruments.isEmpty else { return [] }
        let list = JSONValue.array(instruments.map { .object([("symbol", .string($0.symbol)), ("exchange", .string($0.exchange))]) })
        return try db.query("""
            SELECT DISTINCT a.user_id FROM jsonb_to_recordset(\(list.text)::jsonb) AS x(symbol text, exchange text)
            JOIN positions p ON p.exchange = x.exchange AND p.symbol = x.symbol
            JOIN broker_accounts a ON a.id = p.account_id
            WHERE p.quantity <> 0 AND a.status <> 'disabled'
            ORDER BY a.user_id
            """).rows.map { try $0.decode("user_id") }
    }

    /// The users of the given accounts.
    public static func users(_ db: PostgresConnection, ofAccounts accounts: [UUID]) throws -> [UUID: UUID] {
        guard !accounts.isEmpty else { return [:] }
        let list = "{" + accounts.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}"
        var users: [UUID: UUID] = [:]
        for row in try db.query("SELECT id, user_id FROM broker_accounts WHERE id = ANY(\(list)::uuid[])").rows {
            users[try row.decode("id")] = try row.decode("user_id")
        }
        return users
    }

    /// Every user with an account that is not disabled (whose portfolio a snapshot covers).
    public static func usersWithAccounts(_ db: PostgresConnection) throws -> [UUID] {
        try db.query("SELECT DISTINCT user_id FROM broker_accounts WHERE status <> 'disabled' ORDER BY user_id").rows.map { try $0.decode("user_id") }
    }

    /// A user named by id or email (case-insensitively).
    public static func user(_ db: PostgresConnection, named reference: String) throws -> UUID {
        if let id = UUID(uuidString: reference) {
            guard try !db.query("SELECT 1 FROM users WHERE id = \(id)").rows.isEmpty else { throw PortfolioError.noUser(reference) }
            return id
        }
        guard let row = try db.query("SELECT id FROM users WHERE lower(email) = lower(\(reference))").rows.first else {
            throw PortfolioError.noUser(reference)
        }
        return try row.decode("id")
    }
}

/// What a portfolio command or valuation refuses.
public enum PortfolioError: Error, CustomStringConvertible, Equatable, RetryClassifying {
    case badDate(String)
    case futureDate(String)
    case noUser(String)

    /// Bad input: no retry can fix it.
    public var isRetryable: Bool { false }

    public var description: String {
        switch self {
        case .badDate(let text): return "date: '\(text)' is not a day (YYYY-MM-DD)"
        case .futureDate(let text): return "date: \(text) has not begun yet (UTC)"
        case .noUser(let text): return "user: no user '\(text)' (give an email or a user id)"
        }
    }
}
