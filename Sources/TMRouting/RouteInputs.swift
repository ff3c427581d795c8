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

    public init(config: RoutingConfig = .defaults, health: BrokerHealth = BrokerHealth(), circuits: CircuitWatch? = nil) {
        self.config = config
        self.health = health
        self.circuits = circuits
    }

    /// The candidates among `accounts` for an order on `exchange` of `product` worth `value`.
    public func candidates(_ accounts: [Account], exchange: String, product: ProductType, value: FixedDecimal,
                           at now: ContinuousClock.Instant) -> [RouteCandidate] {
        var candidates: [RouteCandidate] = []
        candidates.reserveCapacity(accounts.count)
        var measuredSum = Duration.zero, measured = 0
        var unmeasured: [Int] = []
        for account in accounts where config.lists(account.broker, exchange: exchange) {
            let stats = health.stats(account.broker)
            if let latency = stats.latency { measuredSum += latency; measured += 1 } else { unmeasured.append(candidates.count) }
            candidates.append(RouteCandidate(accountID: account.id, broker: account.broker, latency: stats.latency ?? .zero,
                                             errorRate: stats.errorRate,
                                             fee: config.fees.fee(account.broker, product: product, value: value),
                                             liquidity: config.liquidity(account.broker, exchange: exchange),
                                             circuitOpen: circuits?.isOpen(account.broker, at: now) ?? false))
        }
        if measured > 0 {
            let neutral = measuredSum / measured
            for index in unmeasured { candidates[index].latency = neutral }
        }
        return candidates
    }
}
