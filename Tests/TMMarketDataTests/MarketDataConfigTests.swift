import Foundation
import Testing
import TMBrokers
import TMCore
import TMMarketData

/// `Config/market-data.yaml`: what it sets, and every refusal naming the field and the reason.
struct MarketDataConfigTests {
    @Test func theFileSetsProvidersInOrderAccountsAndDurations() throws {
        let account = UUID()
        let config = try MarketDataConfig.parse("""
            poll_interval: 500ms
            price_ttl: 15s
            providers:
              nse: [upstox, kite]
              BINANCE: [binance]
            accounts:
              kite: \(account.uuidString)
            """)
        #expect(config.pollInterval == .milliseconds(500) && config.priceTTL == .seconds(15))
        #expect(config.providers(of: "NSE") == [.upstox, .kite] && config.providers(of: "binance") == [.binance] && config.providers(of: "NASDAQ") == [])
        #expect(config.accounts == [.kite: account])
        #expect(MarketDataConfig.defaults.providers(of: "NSE") == [.kite, .upstox] && MarketDataConfig.defaults.priceTTL == .seconds(10))
        // The shipped file parses and says what the defaults say.
        let shipped = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Config/market-data.yaml"),
                                 encoding: .utf8)
        #expect(try MarketDataConfig.parse(shipped) == MarketDataConfig.defaults)
    }

    @Test func aWrongFileIsRefusedNamingTheFieldAndTheReason() {
        let cases: [(String, String)] = [
            ("providers: {NSE: [kite, zerodha]}", "providers.NSE[1]: unknown broker 'zerodha'"),
            ("providers: {NSE: [kite, kite]}", "providers.NSE[1]: kite is listed twice"),
            ("providers: {NSE: []}", "providers.NSE: expected a non-empty list"),
            ("price_ttl: 0s", "price_ttl: 0s is below the minimum"),
            ("poll_interval: soon", "poll_interval:"),
            ("accounts: {kite: main}", "accounts.kite: 'main' is not an account id"),
            ("pol_interval: 1s", "pol_interval"),
        ]
        for (text, message) in cases {
            #expect(throws: (any Error).self) { try MarketDataConfig.parse(text) }
            do {
                _ = try MarketDataConfig.parse(text)
            } catch {
                #expect("\(error)".contains(message), "\(text): \(error)")
            }
        }
    }

    @Test func theEnvironmentOverridesTheTTLAndTheInterval() throws {
        let config = try MarketDataConfig.defaults.overridden(by: TMEnvironment(process: ["TM_PRICE_TTL": "4", "TM_MARKET_DATA_INTERVAL": "2s"], envFile: nil))
        #expect(config.priceTTL == .seconds(4) && config.pollInterval == .seconds(2))
        #expect(throws: ConfigurationError.self) { try MarketDataConfig.defaults.overridden(by: TMEnvironment(process: ["TM_PRICE_TTL": "1.5"], envFile: nil)) }
        #expect(throws: ConfigurationError.self) { try MarketDataConfig.defaults.overridden(by: TMEnvironment(process: ["TM_MARKET_DATA_INTERVAL": "1ms"], envFile: nil)) }
    }
}
