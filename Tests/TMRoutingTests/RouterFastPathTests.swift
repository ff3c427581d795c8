import Foundation
import TMBrokers
import TMCore
@testable import TMRouting
import Testing

/// The router's per-order fast paths against the code they replaced: the same scores, bit for bit,
/// in the same order; the same candidates from the per-broker tables as from the configuration.
@Suite struct RouterFastPathTests {
    /// `scores` as it was: filtered, mapped and normalised arrays, then a stable sort.
    static func referenceScores(_ router: OrderRouter, _ candidates: [RouteCandidate]) -> [RouteScore] {
        func normalise(_ values: [Double], lowerIsBetter: Bool) -> [Double] {
            guard let low = values.min(), let high = values.max(), high > low else { return values.map { _ in 1 } }
            return values.map { lowerIsBetter ? (high - $0) / (high - low) : ($0 - low) / (high - low) }
        }
        let eligible = candidates.filter { !$0.circuitOpen }
        guard !eligible.isEmpty else { return [] }
        let speed = normalise(eligible.map(\.latency.seconds), lowerIsBetter: true)
        let cost = normalise(eligible.map { Double($0.fee.units) / 1e9 }, lowerIsBetter: true)
        let liquidity = normalise(eligible.map(\.liquidity), lowerIsBetter: false)
        let reliability = normalise(eligible.map(\.errorRate), lowerIsBetter: true)
        var scores: [RouteScore] = []
        for (index, candidate) in eligible.enumerated() {
            let weights = router.weights
            let total = weights.speed * speed[index] + weights.cost * cost[index] + weights.liquidity * liquidity[index]
                + weights.reliability * reliability[index]
            scores.append(RouteScore(accountID: candidate.accountID, broker: candidate.broker, speed: speed[index], cost: cost[index],
                                     liquidity: liquidity[index], reliability: reliability[index], total: total))
        }
        return scores.enumerated().sorted { ($0.element.total, -$0.offset) > ($1.element.total, -$1.offset) }.map(\.element)
    }

    @Test func scoresAreThoseOfTheArrayImplementation() {
        var generator = SystemRandomNumberGenerator()
        let router = OrderRouter()
        // Few distinct values, so ties (equal totals, equal criteria, all-equal ranges) are common.
        let latencies: [Duration] = [.zero, .milliseconds(20), .milliseconds(20), .microseconds(35_123), .seconds(2)]
        let fees: [FixedDecimal] = [0, 20, 20, FixedDecimal("0.000000001")!, FixedDecimal("6.123456789")!,
                                    FixedDecimal(units: Int128(Int64.max) + 12_345), FixedDecimal(units: Int128(Int64.min) - 7)]
        let liquidities = [0, 1, 1, 0.5, 3.25]
        let errorRates = [0, 0, 0.01, 0.5, 1]
        for round in 0..<3000 {
            let size = round % 6
            let candidates = (0..<size).map { index in
                RouteCandidate(accountID: "a\(index)", broker: BrokerKind.allCases[index % 4],
                               latency: latencies.randomElement(using: &generator)!, errorRate: errorRates.randomElement(using: &generator)!,
                               fee: fees.randomElement(using: &generator)!, liquidity: liquidities.randomElement(using: &generator)!,
                               circuitOpen: Int.random(in: 0..<5, using: &generator) == 0)
            }
            let fast = router.scores(candidates), reference = Self.referenceScores(router, candidates)
            #expect(fast == reference, "\(candidates)")
            // Bit for bit: -0.0 and 0.0 compare equal, their stored text does not.
            #expect(fast.map { [$0.speed, $0.cost, $0.liquidity, $0.reliability, $0.total].map(\.bitPattern) }
                    == reference.map { [$0.speed, $0.cost, $0.liquidity, $0.reliability, $0.total].map(\.bitPattern) })
        }
    }

    @Test func feesBecomeDoublesAsTheGenericConversionDoes() {
        for units: Int128 in [0, 1, -1, 999_999_999, 1_000_000_001, Int128(Int64.max), Int128(Int64.max) + 1, Int128(Int64.min),
                              Int128(Int64.min) - 1, Int128(1) << 100, (Int128(1) << 90) + 1, 9_007_199_254_740_993] {
            #expect(OrderRouter.amount(FixedDecimal(units: units)).bitPattern == (Double(units) / 1e9).bitPattern)
        }
    }

    @Test func ordinalsAreThePositionsInAllCases() {
        #expect(BrokerKind.allCases.map(\.ordinal) == Array(BrokerKind.allCases.indices))
        #expect(ProductType.allCases.map(\.ordinal) == Array(ProductType.allCases.indices))
    }

    /// The per-broker tables give what the configuration's own look-ups give, overrides included.
    @Test func candidatesAreTheConfigurationsAnswers() throws {
        let config = try RoutingConfig.parse("""
            brokers:
              kite:
                exchanges: [NSE, BSE, XYZ]
                fees:
                  default: {percent: "0.02", cap: "15"}
                  intraday: {percent: "0.01"}
                liquidity: {default: 2.5, BSE: 0.5}
              upstox:
                liquidity: {NSE: 4}
              binance:
                exchanges: [BINANCE, NSE]
                fees:
                  margin: {percent: "1", cap: "3"}
            """)
        for configuration in [config, RoutingConfig.defaults] {
            let inputs = RouteInputs(config: configuration)
            inputs.health.record(broker: .kite, latency: .milliseconds(10), failed: false)
            let accounts = BrokerKind.allCases.map { RouteInputs.Account(id: $0.rawValue, broker: $0) }
            for exchange in ["NSE", "BSE", "XYZ", "BINANCE", "NASDAQ", "nse"] {
                for product in ProductType.allCases {
                    for value: FixedDecimal in [1, 12_345, FixedDecimal("99999.95")!] {
                        let candidates = inputs.candidates(accounts, exchange: exchange, product: product, value: value, at: .now)
                        let listing = accounts.filter { configuration.lists($0.broker, exchange: exchange) }
                        #expect(candidates.map(\.broker) == listing.map(\.broker))
                        for candidate in candidates {
                            #expect(candidate.fee == configuration.fees.fee(candidate.broker, product: product, value: value))
                            #expect(candidate.liquidity == configuration.liquidity(candidate.broker, exchange: exchange))
                        }
                    }
                }
            }
        }
    }
}
