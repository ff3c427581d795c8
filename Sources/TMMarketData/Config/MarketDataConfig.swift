import Foundation
import TMBrokers
import TMCore
import TMManifest

/// What `market-data` polls and from whom: `Config/market-data.yaml` over built-in defaults, with
/// `TM_PRICE_TTL` (seconds) and `TM_MARKET_DATA_INTERVAL` (a duration) over the file.
///
/// Guarantees: a file that is there but wrong is refused with the field and the reason (an unknown
/// field, an unknown broker, a duration out of range), never silently defaulted; exchanges are
/// matched case-insensitively (kept upper-case); every exchange with no providers is simply not polled.
public struct MarketDataConfig: Sendable, Equatable {
    /// How often a cycle runs.
    public var pollInterval: Duration = .seconds(1)
    /// How long a cached price lives without a refresh.
    public var priceTTL: Duration = .seconds(10)
    /// How often the tracked instruments are re-read from Postgres.
    public var refreshInterval: Duration = .seconds(5)
    /// How long to wait before asking again for a previous close the brokers did not give.
    public var previousCloseRetry: Duration = .seconds(60)
    /// Most instruments polled (a bound on each cycle's work; the rest are logged as dropped).
    public var maxInstruments = 5000
    /// Per exchange, the brokers that price it, in fallback order.
    public var providers: [String: [BrokerKind]]
    /// Per broker, the account whose credentials its calls use; else the first active account.
    public var accounts: [BrokerKind: UUID] = [:]

    public static let defaults = MarketDataConfig(providers: [
        "NSE": [.kite, .upstox], "BSE": [.kite, .upstox], "NFO": [.kite, .upstox],
        "NASDAQ": [.alpaca], "NYSE": [.alpaca], "US": [.alpaca], "BINANCE": [.binance],
    ])

    /// The providers of `exchange`, in order (none when the exchange is not configured).
    public func providers(of exchange: String) -> [BrokerKind] { providers[exchange.uppercased()] ?? [] }

    /// `market-data.yaml` of `$TM_CONFIG_DIR`, else of the checkout's `Config/`; the defaults when
    /// there is no such file; then the environment's overrides.
    public static func standard(environment: TMEnvironment = .current()) throws -> MarketDataConfig {
        var config = defaults
        if let folder = try? ManifestDirectory.locate("Config", variable: "TM_CONFIG_DIR", environment: environment) {
            let file = folder.appendingPathComponent("market-data.yaml")
            if FileManager.default.fileExists(atPath: file.path) {
                let text: String
                do { text = try String(contentsOf: file, encoding: .utf8) } catch {
                    throw ManifestError(file: file.path, field: "(document)", reason: "cannot be read: \(error.localizedDescription)")
                }
                config = try parse(text, file: file.path)
            }
        }
        return try config.overridden(by: environment)
    }

    /// `TM_PRICE_TTL` (whole seconds, 1...3600) and `TM_MARKET_DATA_INTERVAL` (100ms...1h).
    public func overridden(by environment: TMEnvironment) throws(ConfigurationError) -> MarketDataConfig {
        var config = self
        if let text = environment["TM_PRICE_TTL"] {
            guard let seconds = Int(text.trimmingCharacters(in: .whitespaces)), (1...3600).contains(seconds) else {
                throw ConfigurationError(variable: "TM_PRICE_TTL", reason: "'\(text)' is not a whole number of seconds in 1...3600")
            }
            config.priceTTL = .seconds(seconds)
        }
        if let text = environment["TM_MARKET_DATA_INTERVAL"] {
            guard let value = try? DurationText.parse(text), value >= .milliseconds(100), value <= .seconds(3600) else {
                throw ConfigurationError(variable: "TM_MARKET_DATA_INTERVAL", reason: "'\(text)' is not a duration in 100ms...1h (e.g. 1s)")
            }
            config.pollInterval = value
        }
        return config
    }

    public static func parse(_ text: String, file: String = "(inline)") throws -> MarketDataConfig {
        let fail: (String, String) -> any Error = { ManifestError(file: file, field: $0, reason: $1) }
        let root = try ManifestFields.document(text, example: "providers: {NSE: [kite, upstox]}", fail: fail)
        try root.rejectUnknown(["poll_interval", "price_ttl", "refresh_interval", "previous_close_retry", "max_instruments", "providers", "accounts"])
        var config = defaults
        config.pollInterval = try root.duration("poll_interval", atLeast: .milliseconds(100), atMost: .seconds(3600)) ?? config.pollInterval
        config.priceTTL = try root.duration("price_ttl", atLeast: .seconds(1), atMost: .seconds(3600)) ?? config.priceTTL
        config.refreshInterval = try root.duration("refresh_interval", atLeast: .milliseconds(100), atMost: .seconds(3600)) ?? config.refreshInterval
        config.previousCloseRetry = try root.duration("previous_close_retry", atLeast: .seconds(1), atMost: .seconds(86_400)) ?? config.previousCloseRetry
        config.maxInstruments = try root.int("max_instruments", in: 1...100_000) ?? config.maxInstruments
        func broker(_ name: String, field: String) throws -> BrokerKind {
            guard let kind = BrokerKind(rawValue: name.lowercased()) else {
                throw fail(field, "unknown broker '\(name)' (expected kite, upstox, alpaca or binance)")
            }
            return kind
        }
        if let providers = try root.mapping("providers") {
            config.providers = [:]
            for exchange in providers.values.keys.sorted() {
                let names = try providers.strings(exchange) ?? []
                guard !names.isEmpty else { throw fail(providers.field(exchange), "expected a non-empty list of brokers, e.g. [kite, upstox]") }
                var kinds: [BrokerKind] = []
                for (index, name) in names.enumerated() {
                    let kind = try broker(name, field: "\(providers.field(exchange))[\(index)]")
                    guard !kinds.contains(kind) else { throw fail("\(providers.field(exchange))[\(index)]", "\(name) is listed twice") }
                    kinds.append(kind)
                }
                config.providers[exchange.uppercased()] = kinds
            }
        }
        if let accounts = try root.stringMap("accounts") {
            for (name, id) in accounts {
                let kind = try broker(name, field: "accounts.\(name)")
                guard let uuid = UUID(uuidString: id) else { throw fail("accounts.\(name)", "'\(id)' is not an account id (a UUID)") }
                config.accounts[kind] = uuid
            }
        }
        return config
    }
}
