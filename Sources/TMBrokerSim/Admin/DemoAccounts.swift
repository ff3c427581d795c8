import Foundation

/// The demo broker accounts `make up` seeds into Postgres (`TMDatabase.DemoData.accounts`), repeated
/// here so the simulator needs no database: the same six credential tuples.
public enum DemoAccounts {
    public struct Account: Sendable {
        public let broker: Broker
        public let apiKey: String
        public let apiSecret: String
        public let accessToken: String?
    }

    public static let all: [Account] = [
        Account(broker: .kite, apiKey: "demo_kite_key_asha", apiSecret: "demo_kite_secret_asha", accessToken: "demo_kite_token_asha"),
        Account(broker: .upstox, apiKey: "demo_upstox_key_asha", apiSecret: "demo_upstox_secret_asha", accessToken: "demo_upstox_token_asha"),
        Account(broker: .alpaca, apiKey: "DEMOALPACAKEYBEN", apiSecret: "demo_alpaca_secret_ben", accessToken: nil),
        Account(broker: .binance, apiKey: "demo_binance_key_ben", apiSecret: "demo_binance_secret_ben", accessToken: nil),
        Account(broker: .kite, apiKey: "demo_kite_key_chen", apiSecret: "demo_kite_secret_chen", accessToken: "demo_kite_token_chen"),
        Account(broker: .alpaca, apiKey: "DEMOALPACAKEYCHEN", apiSecret: "demo_alpaca_secret_chen", accessToken: nil),
    ]

    /// Creates the demo accounts with `tradesEach` filled orders of history each.
    public static func seed(into exchange: Exchange, tradesEach: Int = 12) {
        for account in all {
            exchange.upsertAccount(account.broker, SimCredentials(apiKey: account.apiKey, apiSecret: account.apiSecret, accessToken: account.accessToken))
            _ = try? exchange.seedTrades(account.broker, apiKey: account.apiKey, count: tradesEach, symbols: [])
        }
    }
}
