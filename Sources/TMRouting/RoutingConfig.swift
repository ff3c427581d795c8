import Foundation
import TMBrokers
import TMCore
import TMManifest

/// What the router is configured with until market data exists: which exchanges each broker
/// lists, its fee schedule, and how liquid each venue is through it. Built-in defaults, overridden
/// field by field from `Config/routing.yaml`:
///
/// ```yaml
/// brokers:
///   kite:
///     exchanges: [NSE, BSE, NFO]          # replaces the list
///     fees:
///       default: {percent: "0.03", cap: "20"}
///       delivery: {percent: "0"}
///     liquidity: {default: 1, BSE: 0.5}   # 0 or more; higher is better
/// ```
///
/// Guarantees: a file is taken whole or refused (`ManifestError` naming the field path and the
/// reason): unknown brokers, products or fields, a percent outside 0...100 or finer than the
/// router's nine places, a negative cap or liquidity; never a silent default for a typo.
public struct RoutingConfig: Sendable, Equatable {
    public var fees: FeeSchedule
    /// Exchanges each broker lists (upper case).
    public var exchanges: [BrokerKind: Set<String>]
    /// Per broker: liquidity per exchange, and `default` for the others.
    public var liquidity: [BrokerKind: [String: Double]]

    public init(fees: FeeSchedule, exchanges: [BrokerKind: Set<String>], liquidity: [BrokerKind: [String: Double]]) {
        self.fees = fees
        self.exchanges = exchanges
        self.liquidity = liquidity
    }

    public func lists(_ broker: BrokerKind, exchange: String) -> Bool { exchanges[broker]?.contains(exchange) ?? false }

    /// How liquid `exchange` is through `broker` (1 when nothing is configured: all equal).
    public func liquidity(_ broker: BrokerKind, exchange: String) -> Double {
        liquidity[broker]?[exchange] ?? liquidity[broker]?["default"] ?? 1
    }

    /// The venues each broker's API trades (`instruments.exchange` values; the table has no
    /// per-broker listing — `broker_tokens` holds identifiers, only where a broker needs one).
    /// Kite and Upstox: the Indian exchanges and their derivative segments; Alpaca: US equity
    /// venues; Binance: its own book.
    public static let defaults = RoutingConfig(
        fees: .published,
        exchanges: [
            .kite: ["NSE", "BSE", "NFO", "BFO", "MCX", "CDS", "BCD"],
            .upstox: ["NSE", "BSE", "NFO", "BFO", "MCX", "CDS", "BCD"],
            .alpaca: ["NASDAQ", "NYSE", "ARCA", "AMEX", "BATS", "NYSEARCA"],
            .binance: ["BINANCE"],
        ],
        liquidity: [:])

    /// `routing.yaml` of `$TM_CONFIG_DIR`, else of the checkout's `Config/` (here or above); the
    /// defaults when there is no such file. A file that is there but wrong is refused, not skipped.
    public static func standard(environment: TMEnvironment = .current()) throws -> RoutingConfig {
        guard let folder = try? ManifestDirectory.locate("Config", variable: "TM_CONFIG_DIR", environment: environment) else { return defaults }
        let file = folder.appendingPathComponent("routing.yaml")
        guard FileManager.default.fileExists(atPath: file.path) else { return defaults }
        return try load(contentsOf: file)
    }

    /// `defaults` with the file's overrides.
    public static func load(contentsOf url: URL) throws -> RoutingConfig {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ManifestError(file: url.path, field: "(document)", reason: "cannot be read: \(error.localizedDescription)")
        }
        return try parse(text, file: url.path)
    }

    /// `base` with the overrides of a routing YAML document.
    public static func parse(_ text: String, file: String = "(inline)", base: RoutingConfig = .defaults) throws -> RoutingConfig {
        let fail: (String, String) -> any Error = { ManifestError(file: file, field: $0, reason: $1) }
        let root = try ManifestFields.document(text, example: "brokers: {kite: {exchanges: [NSE]}}", fail: fail)
        try root.rejectUnknown(["brokers"])
        var config = base
        guard let brokers = try root.mapping("brokers") else { return config }
        for name in brokers.values.keys.sorted() {
            guard let broker = BrokerKind(rawValue: name) else {
                throw fail(brokers.field(name), "unknown broker (known: \(BrokerKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let section = try brokers.mapping(name) else { continue }
            try section.rejectUnknown(["exchanges", "fees", "liquidity"])
            if let listed = try section.strings("exchanges") {
                config.exchanges[broker] = Set(try listed.enumerated().map { index, exchange in
                    guard exchange == exchange.uppercased(), !exchange.contains(" ") else {
                        throw fail("\(section.field("exchanges"))[\(index)]", "'\(exchange)' must be an exchange code in upper case, e.g. NSE")
                    }
                    return exchange
                })
            }
            if let fees = try section.mapping("fees") {
                var brokerFees = config.fees.brokers[broker] ?? FeeSchedule.BrokerFees(standard: .free)
                try fees.rejectUnknown(Set(["default"] + ProductType.allCases.map(\.rawValue)))
                for product in fees.values.keys.sorted() {
                    guard let fields = try fees.mapping(product) else { continue }
                    let rule = try feeRule(fields)
                    if let type = ProductType(rawValue: product) { brokerFees.byProduct[type] = rule } else { brokerFees.standard = rule }
                }
                config.fees.brokers[broker] = brokerFees
            }
            if let venues = try section.mapping("liquidity") {
                for venue in venues.values.keys.sorted() {
                    guard let text = try venues.scalar(venue), let value = Double(text), value.isFinite, value >= 0 else {
                        throw fail(venues.field(venue), "expected a number of 0 or more")
                    }
                    config.liquidity[broker, default: [:]][venue] = value
                }
            }
        }
        return config
    }

    /// `{percent: "0.03", cap: "20"}`: percent required, cap optional.
    static func feeRule(_ fields: ManifestFields) throws -> FeeRule {
        try fields.rejectUnknown(["percent", "cap"])
        guard let percentText = try fields.string("percent") else { throw fields.fail(fields.field("percent"), "required (0 for free)") }
        guard let percent = FixedDecimal(percentText), percent >= .zero, percent <= 100 else {
            throw fields.fail(fields.field("percent"), "'\(percentText)' is not a percentage from 0 to 100")
        }
        // percent / 100 must stay exact in nine places.
        guard percent.units % 100 == 0 else {
            throw fields.fail(fields.field("percent"), "'\(percentText)' has more than seven decimal places")
        }
        let rate = FixedDecimal(units: percent.units / 100)
        guard let capText = try fields.string("cap") else { return FeeRule(rate: rate) }
        guard let cap = FixedDecimal(capText), cap >= .zero else {
            throw fields.fail(fields.field("cap"), "'\(capText)' is not an amount of 0 or more")
        }
        return FeeRule(rate: rate, cap: cap)
    }
}
