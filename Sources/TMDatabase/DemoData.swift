import Foundation
import TMCrypto
import TMPostgres

/// The demo users, broker accounts and instruments that `make up` seeds, so a fresh checkout has
/// something to sync and trade against the broker simulator.
///
/// Guarantees: seeding is idempotent (natural keys with ON CONFLICT, so a second run adds nothing);
/// credentials are sealed with the configured key before they reach the database, bound to their
/// account and field so a sealed value cannot be moved to another account.
public enum DemoData {
    public struct Account: Sendable {
        public let email: String
        public let broker: String
        public let label: String
        public let apiKey: String
        public let apiSecret: String
        public let accessToken: String?
    }

    /// The demo users with the trading capital their analytics' returns are measured against.
    public static let users: [(email: String, name: String, capital: String, currency: String)] = [
        ("asha@demo.tm.local", "Asha (demo)", "1000000", "INR"),
        ("ben@demo.tm.local", "Ben (demo)", "100000", "USD"),
        ("chen@demo.tm.local", "Chen (demo)", "500000", "INR"),
    ]

    public static let accounts: [Account] = [
        Account(email: "asha@demo.tm.local", broker: "kite", label: "Zerodha main", apiKey: "demo_kite_key_asha", apiSecret: "demo_kite_secret_asha", accessToken: "demo_kite_token_asha"),
        Account(email: "asha@demo.tm.local", broker: "upstox", label: "Upstox", apiKey: "demo_upstox_key_asha", apiSecret: "demo_upstox_secret_asha", accessToken: "demo_upstox_token_asha"),
        Account(email: "ben@demo.tm.local", broker: "alpaca", label: "Alpaca paper", apiKey: "DEMOALPACAKEYBEN", apiSecret: "demo_alpaca_secret_ben", accessToken: nil),
        Account(email: "ben@demo.tm.local", broker: "binance", label: "Binance spot", apiKey: "demo_binance_key_ben", apiSecret: "demo_binance_secret_ben", accessToken: nil),
        Account(email: "chen@demo.tm.local", broker: "kite", label: "Zerodha", apiKey: "demo_kite_key_chen", apiSecret: "demo_kite_secret_chen", accessToken: "demo_kite_token_chen"),
        Account(email: "chen@demo.tm.local", broker: "alpaca", label: "Alpaca live", apiKey: "DEMOALPACAKEYCHEN", apiSecret: "demo_alpaca_secret_chen", accessToken: nil),
    ]

    /// (exchange, symbol, name, type, currency, lot size, tick size)
    public static let instruments: [(String, String, String, String, String, String, String)] = [
        ("NSE", "INFY", "Infosys", "equity", "INR", "1", "0.05"),
        ("NSE", "RELIANCE", "Reliance Industries", "equity", "INR", "1", "0.05"),
        ("NFO", "NIFTY24DECFUT", "Nifty 50 futures", "future", "INR", "25", "0.05"),
        ("NASDAQ", "AAPL", "Apple", "equity", "USD", "1", "0.01"),
        ("NYSE", "SPY", "SPDR S&P 500 ETF", "etf", "USD", "1", "0.01"),
        ("BINANCE", "BTCUSDT", "Bitcoin / Tether", "crypto", "USDT", "0.00001", "0.01"),
        ("BINANCE", "ETHUSDT", "Ether / Tether", "crypto", "USDT", "0.0001", "0.01"),
        ("BINANCE", "BNBUSDT", "BNB / Tether", "crypto", "USDT", "0.001", "0.01"),
    ]

    /// `instruments.broker_tokens` of the demo instruments: Upstox places and quotes by instrument key
    /// (the same keys broker-sim lists), so an Upstox order for INFY can be sent.
    public static let brokerTokens: [String: String] = [
        "INFY": #"{"upstox": "NSE_EQ|INE009A01021"}"#,
        "RELIANCE": #"{"upstox": "NSE_EQ|INE002A01018"}"#,
    ]

    /// What a seeding run added.
    public struct Report: Sendable {
        public var users = 0
        public var accounts = 0
        public var instruments = 0
    }

    /// The associated data a credential is sealed with: the account and the column it belongs to.
    public static func credentialContext(accountID: UUID, field: String) -> String {
        "broker_accounts/\(accountID.uuidString.lowercased())/\(field)"
    }

    @discardableResult
    public static func seed(_ db: PostgresConnection, keyring: SecretKeyring) throws -> Report {
        try db.transaction { db in
            var report = Report()
            var userIDs: [String: UUID] = [:]
            for user in users {
                report.users += try db.execute("""
                    INSERT INTO users (email, display_name, capital, capital_currency)
                    VALUES (\(user.email), \(user.name), \(Decimal(string: user.capital)!), \(user.currency))
                    ON CONFLICT ((lower(email))) DO NOTHING
                    """)
                let row = try db.query("SELECT id FROM users WHERE lower(email) = lower(\(user.email))").rows[0]
                userIDs[user.email] = try row.decode("id", as: UUID.self)
            }
            for account in accounts {
                let id = UUID()
                func seal(_ value: String?, _ field: String) throws -> String? {
                    try value.map { try keyring.seal($0, associatedData: credentialContext(accountID: id, field: field)) }
                }
                report.accounts += try db.execute("""
                    INSERT INTO broker_accounts (id, user_id, broker, label, api_key_sealed, api_secret_sealed, access_token_sealed)
                    VALUES (\(id), \(userIDs[account.email]!), \(account.broker), \(account.label),
                            \(try seal(account.apiKey, "api_key")), \(try seal(account.apiSecret, "api_secret")),
                            \(try seal(account.accessToken, "access_token")))
                    ON CONFLICT ON CONSTRAINT broker_accounts_label_key DO NOTHING
                    """)
            }
            for (exchange, symbol, name, type, currency, lot, tick) in instruments {
                report.instruments += try db.execute("""
                    INSERT INTO instruments (exchange, symbol, name, instrument_type, currency, lot_size, tick_size, broker_tokens)
                    VALUES (\(exchange), \(symbol), \(name), \(type), \(currency), \(Decimal(string: lot)!), \(Decimal(string: tick)!),
                            \(brokerTokens[symbol] ?? "{}")::jsonb)
                    ON CONFLICT ON CONSTRAINT instruments_exchange_symbol_key DO NOTHING
                    """)
            }
            return report
        }
    }
}
