import Foundation
import TMPostgres
import TMRisk

/// One instrument market data keeps priced, with what the brokers need to quote it.
public struct TrackedInstrument: Sendable, Hashable {
    public var symbol: String
    public var exchange: String
    /// `instruments.broker_tokens` (e.g. `{"upstox": "NSE_EQ|INE009A01021"}`), where the instrument master has the row.
    public var brokerTokens: [String: String]
    /// A coin a Binance account holds (`BTC`, from its balances): it has no ticker of its own and
    /// is priced through its pair with the quote asset balances are valued in (`BTCUSDT`).
    public var coinBalance: Bool

    public init(symbol: String, exchange: String, brokerTokens: [String: String] = [:], coinBalance: Bool = false) {
        self.symbol = symbol
        self.exchange = exchange
        self.brokerTokens = brokerTokens
        self.coinBalance = coinBalance
    }

    /// The cache's and the ticks' identity of the instrument.
    public var key: InstrumentKey { InstrumentKey(symbol: symbol, exchange: exchange) }
}

/// The instruments someone holds, orders or watches, read from Postgres.
///
/// Guarantees: an instrument is tracked while a position of it has a non-zero quantity (a closed
/// position is not), an order of it is open (not yet filled, cancelled, rejected or expired), or an
/// active, unexpired price alert watches it; each once, ordered by exchange then symbol, at most
/// `limit` of them (the bound on a cycle's work), in one query. An instrument held in a Binance
/// account's positions is a coin balance (sync stores Binance's non-cash balances as positions).
public enum TrackedInstruments {
    /// The order states in which an order still needs a price (everything but the terminal ones).
    public static let openOrderStates = ["RECEIVED", "ROUTED", "SUBMITTING", "ACCEPTED", "PARTIALLY_FILLED", "UNKNOWN"]

    /// The tracked (symbol, exchange) pairs, as SQL (the states are constants, not input).
    static var trackedSQL: String {
        let states = openOrderStates.map { "'\($0)'" }.joined(separator: ", ")
        return """
            SELECT symbol, exchange FROM positions WHERE quantity <> 0
            UNION
            SELECT symbol, exchange FROM orders WHERE state IN (\(states))
            UNION
            SELECT symbol, exchange FROM price_alerts WHERE state = 'active' AND (expires_at IS NULL OR expires_at > now())
            """
    }

    public static func load(_ db: PostgresConnection, limit: Int) throws -> [TrackedInstrument] {
        let rows = try db.query(PostgresQuery(unsafeSQL: """
            WITH tracked AS (\(trackedSQL)),
            coins AS (
                SELECT DISTINCT p.symbol, p.exchange FROM positions p JOIN broker_accounts a ON a.id = p.account_id
                WHERE a.broker = 'binance' AND p.quantity <> 0)
            SELECT t.symbol, t.exchange, coalesce(i.broker_tokens, '{}'::jsonb)::text AS tokens, c.symbol IS NOT NULL AS coin_balance
            FROM tracked t LEFT JOIN instruments i ON i.exchange = t.exchange AND i.symbol = t.symbol
            LEFT JOIN coins c ON c.exchange = t.exchange AND c.symbol = t.symbol
            ORDER BY t.exchange, t.symbol LIMIT $1
            """, binds: [limit.postgresData()])).rows
        return try rows.map { row in
            let tokens: String = try row.decode("tokens")
            let parsed = (try? JSONDecoder().decode([String: String].self, from: Data(tokens.utf8))) ?? [:]
            return TrackedInstrument(symbol: try row.decode("symbol"), exchange: try row.decode("exchange"), brokerTokens: parsed,
                                     coinBalance: try row.decode("coin_balance"))
        }
    }

    /// How many instruments are tracked in all (to report what `limit` left out).
    public static func count(_ db: PostgresConnection) throws -> Int {
        Int(try db.query(PostgresQuery(unsafeSQL: "SELECT count(*)::bigint AS n FROM (\(trackedSQL)) t")).rows[0].decode("n", as: Int64.self))
    }
}
