import Foundation
import TMBrokers
import TMCore

/// What the router knows of each broker now, joined into candidates for one order: live call
/// health (`BrokerHealth`), the circuit as last read (`CircuitWatch`), the fee of the order
/// (`FeeSchedule`) and the venue's configured liquidity (`RoutingConfig`). In memory only — it
/// runs per order.
///
/// Guarantees: a candidate for every given account whose broker lists the exchange, in the given
/// order; a broker not yet measured is given the mean latency of the measured ones (neither
/// favoured as instant nor shunned); `circuitOpen` is `circuits`' answer at `now` (never open
/// without a watch).
public final class RouteInputs: Sendable {
    /// One account an order may be sent to.
    public struct Account: Sendable, Equatable {
        public var id: String
        public var broker: BrokerKind
        public init(id: String, broker: BrokerKind) {
            self.id = id
            self.broker = broker
        }
    }

    public let config: RoutingConfig
    public let health: BrokerHealth
    /// nil: no breaker is consulted (every circuit counts as closed).
    public let circuits: CircuitWatch?
    /// `config` per broker (by `BrokerKind.ordinal`), looked up per order without hashing broker
    /// or product names: exactly `config.lists`, `config.fees.rule` and `config.liquidity`.
    private let venues: [Venue]

    struct Venue: Sendable {
        var exchanges: Set<String>
        /// The broker's configured liquidity per exchange (nil: none configured).
        var liquidity: [String: Double]?
        /// For an exchange without its own figure: the broker's `default`, else 1.
        var otherLiquidity: Double
        /// The fee rule per product (by `ProductType.ordinal`).
        var fees: [FeeRule]

        init(_ config: RoutingConfig, _ broker: BrokerKind) {
            exchanges = config.exchanges[broker] ?? []
            liquidity = config.liquidity[broker]
            otherLiquidity = config.liquidity[broker]?["default"] ?? 1
            fees = ProductType.allCases.map { config.fees.rule(broker, $0) }
        }
    }

    public init(config: RoutingConfig = .defaults, health: BrokerHealth = BrokerHealth(), circuits: CircuitWatch? = nil) {
        self.config = config
        self.health = health
        self.circuits = circuits
        venues = BrokerKind.allCases.map { Venue(config, $0) }
    }

    /// The candidates among `accounts` for an order on `exchange` of `product` worth `value`.
    public func candidates(_ accounts: [Account], exchange: String, product: ProductType, value: FixedDecimal,
                           at now: ContinuousClock.Instant) -> [RouteCandidate] {
        var candidates: [RouteCandidate] = []
        candidates.reserveCapacity(accounts.count)
        var measuredSum = Duration.zero, measured = 0
        var unmeasured: [Int] = []
        for account in accounts {
            let venue = account.broker.ordinal
            guard venues[venue].exchanges.contains(exchange) else { continue }
            let stats = health.stats(account.broker)
            if let latency = stats.latency { measuredSum += latency; measured += 1 } else { unmeasured.append(candidates.count) }
            candidates.append(RouteCandidate(accountID: account.id, broker: account.broker, latency: stats.latency ?? .zero,
                                             errorRate: stats.errorRate,
                                             fee: venues[venue].fees[product.ordinal].fee(on: value),
                                             liquidity: venues[venue].liquidity?[exchange] ?? venues[venue].otherLiquidity,
                                             circuitOpen: circuits?.isOpen(account.broker, at: now) ?? false))
        }
        if measured > 0 {
            let neutral = measuredSum / measured
            for index in unmeasured { candidates[index].latency = neutral }
        }
        return candidates
    }
}
