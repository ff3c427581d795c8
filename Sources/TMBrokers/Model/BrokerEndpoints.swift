import Foundation
import TMCore

/// Where each broker's API lives: production by default, the environment to override, or the
/// local `broker-sim`.
///
/// Guarantees: base URLs never end in `/` (paths are appended as the brokers document them);
/// `fromEnvironment` accepts only `http`/`https` URLs and names the variable it refuses.
public struct BrokerEndpoints: Sendable, Equatable {
    public var kite: String
    /// Upstox's API host for everything but orders.
    public var upstox: String
    /// Upstox's order host (place, modify, cancel).
    public var upstoxOrders: String
    public var alpaca: String
    /// Alpaca's market-data host (last prices); Alpaca serves market data apart from trading.
    public var alpacaData: String
    public var binance: String

    public init(kite: String, upstox: String, upstoxOrders: String, alpaca: String,
                alpacaData: String = BrokerEndpoints.alpacaDataProduction, binance: String) {
        self.kite = BrokerEndpoints.trimmed(kite)
        self.upstox = BrokerEndpoints.trimmed(upstox)
        self.upstoxOrders = BrokerEndpoints.trimmed(upstoxOrders)
        self.alpaca = BrokerEndpoints.trimmed(alpaca)
        self.alpacaData = BrokerEndpoints.trimmed(alpacaData)
        self.binance = BrokerEndpoints.trimmed(binance)
    }

    /// Alpaca's market-data host, the same for paper and live accounts.
    public static let alpacaDataProduction = "https://data.alpaca.markets"

    /// The real brokers (Alpaca's paper-trading host: live trading is an explicit override).
    public static let production = BrokerEndpoints(
        kite: "https://api.kite.trade", upstox: "https://api.upstox.com", upstoxOrders: "https://api-hft.upstox.com",
        alpaca: "https://paper-api.alpaca.markets", alpacaData: alpacaDataProduction, binance: "https://api.binance.com")

    /// The variables read by `fromEnvironment`, each with its production default.
    public static var variables: [(name: String, path: WritableKeyPath<BrokerEndpoints, String>)] {
        [("TM_KITE_BASE_URL", \.kite), ("TM_UPSTOX_BASE_URL", \.upstox), ("TM_UPSTOX_ORDER_BASE_URL", \.upstoxOrders),
         ("TM_ALPACA_BASE_URL", \.alpaca), ("TM_ALPACA_DATA_BASE_URL", \.alpacaData), ("TM_BINANCE_BASE_URL", \.binance)]
    }

    /// Production endpoints with each variable that is set (and not empty) taking its place.
    public static func fromEnvironment(_ environment: TMEnvironment = .current()) throws(ConfigurationError) -> BrokerEndpoints {
        var endpoints = production
        for (name, path) in variables {
            guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { continue }
            let lower = value.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
                throw ConfigurationError(variable: name, reason: "must be an http:// or https:// URL")
            }
            endpoints[keyPath: path] = trimmed(value)
        }
        return endpoints
    }

    /// `broker-sim` on one loopback port, each broker under its prefix with the broker's real paths
    /// after it; Upstox's order host maps to the same `/upstox` prefix, Alpaca's market-data host
    /// to `/alpaca-data`.
    public static func simulator(port: Int, host: String = "127.0.0.1") -> BrokerEndpoints {
        let base = "http://\(host):\(port)"
        return BrokerEndpoints(kite: base + "/kite", upstox: base + "/upstox", upstoxOrders: base + "/upstox",
                               alpaca: base + "/alpaca", alpacaData: base + "/alpaca-data", binance: base + "/binance")
    }

    private static func trimmed(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}

/// How long an adapter waits on a broker.
///
/// Guarantees: every adapter request carries both limits, so no call can hang past `total`
/// (a placement that times out after sending is `unknownOutcome`, never a silent retry).
public struct BrokerTimeouts: Sendable, Equatable {
    /// DNS + TCP + TLS.
    public var connect: Duration
    /// The whole exchange.
    public var total: Duration

    public init(connect: Duration = .seconds(3), total: Duration = .seconds(10)) {
        self.connect = connect
        self.total = total
    }

    /// Defaults overridden by `TM_BROKER_CONNECT_TIMEOUT` and `TM_BROKER_TIMEOUT` (e.g. `3s`, `800ms`).
    public static func fromEnvironment(_ environment: TMEnvironment = .current()) throws(ConfigurationError) -> BrokerTimeouts {
        var timeouts = BrokerTimeouts()
        for (name, path) in [("TM_BROKER_CONNECT_TIMEOUT", \BrokerTimeouts.connect), ("TM_BROKER_TIMEOUT", \.total)] {
            guard let text = environment[name] else { continue }
            guard let value = try? DurationText.parse(text), value > .zero else {
                throw ConfigurationError(variable: name, reason: "'\(text)' is not a positive duration (e.g. 3s, 800ms)")
            }
            timeouts[keyPath: path] = value
        }
        return timeouts
    }
}
