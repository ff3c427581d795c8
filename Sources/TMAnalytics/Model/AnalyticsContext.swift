import Foundation
import TMCore
import TMRisk

/// What a computation is evaluated against besides the fills: the instant, the risk-free rate and
/// the latest prices of open instruments.
public struct AnalyticsContext: Sendable {
    /// The evaluation instant (µs since the epoch): the last day of the daily returns is its date
    /// in the exchange zone, and the periods reported are those holding closing fills up to it.
    public var asOfMicros: Int64
    /// Annual risk-free rate (`TM_ANALYTICS_RISK_FREE_RATE`, default 0.05); the daily rate is
    /// `(1 + annual)^(1/252) − 1`.
    public var riskFreeAnnual: Double
    /// Latest prices (the price cache) of instruments with open lots; an instrument missing here is
    /// marked at its last fill price.
    public var latestPrices: [InstrumentKey: FixedDecimal]

    public init(asOfMicros: Int64, riskFreeAnnual: Double = 0.05, latestPrices: [InstrumentKey: FixedDecimal] = [:]) {
        self.asOfMicros = asOfMicros
        self.riskFreeAnnual = riskFreeAnnual
        self.latestPrices = latestPrices
    }

    /// `TM_ANALYTICS_RISK_FREE_RATE` as a fraction (0.05 = 5 %), default 0.05; a bad value is refused naming the variable.
    public static func riskFreeRate(environment: TMEnvironment) throws -> Double {
        guard let text = environment["TM_ANALYTICS_RISK_FREE_RATE"], !text.isEmpty else { return 0.05 }
        guard let rate = Double(text), rate.isFinite, rate > -1, rate < 1 else {
            throw AnalyticsConfigurationError("TM_ANALYTICS_RISK_FREE_RATE", "'\(text)' is not an annual rate as a fraction (e.g. 0.05 for 5 %)")
        }
        return rate
    }
}

/// A configuration value the analytics refuse, naming it and why.
public struct AnalyticsConfigurationError: Error, CustomStringConvertible, Sendable {
    public let field: String
    public let reason: String
    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
    public var description: String { "\(field): \(reason)" }
}
