import Foundation
import TMBrokers
import TMCore

/// What one broker charges per executed order: a share of the order's value, capped.
public struct FeeRule: Sendable, Equatable, CustomStringConvertible {
    /// Share of the order's value (0.0003 is 0.03%).
    public var rate: FixedDecimal
    /// The most one order pays (nil: no cap).
    public var cap: FixedDecimal?

    public init(rate: FixedDecimal, cap: FixedDecimal? = nil) {
        self.rate = rate
        self.cap = cap
    }

    public static let free = FeeRule(rate: .zero)

    /// The fee of an order worth `value` (its magnitude: a sell pays like a buy): min(value × rate,
    /// cap), exact to nine places (the product rounds up, never understating a cost).
    public func fee(on value: FixedDecimal) -> FixedDecimal {
        let proportional = (value < .zero ? -value : value) * rate
        guard let cap else { return proportional }
        return min(proportional, cap)
    }

    public var description: String {
        let percent = "\(rate * 100)%"
        return cap.map { "\(percent) capped at \($0)" } ?? percent
    }
}

/// Each broker's brokerage per executed order, by product, in the order's own currency (the router
/// compares fees of the same order, so currencies never mix).
///
/// Guarantees: every broker has a rule for every product (a product without its own rule uses the
/// broker's default); `published` is each broker's published retail schedule, overridable from
/// `Config/routing.yaml` (`RoutingConfig`).
public struct FeeSchedule: Sendable, Equatable {
    public struct BrokerFees: Sendable, Equatable {
        /// Every product without a rule of its own.
        public var standard: FeeRule
        public var byProduct: [ProductType: FeeRule]

        public init(standard: FeeRule, byProduct: [ProductType: FeeRule] = [:]) {
            self.standard = standard
            self.byProduct = byProduct
        }

        public func rule(_ product: ProductType) -> FeeRule { byProduct[product] ?? standard }
    }

    public var brokers: [BrokerKind: BrokerFees]

    public init(brokers: [BrokerKind: BrokerFees]) { self.brokers = brokers }

    public func rule(_ broker: BrokerKind, _ product: ProductType) -> FeeRule { brokers[broker]?.rule(product) ?? .free }

    public func fee(_ broker: BrokerKind, product: ProductType, value: FixedDecimal) -> FixedDecimal {
        rule(broker, product).fee(on: value)
    }

    /// The brokers' published retail schedules (brokerage only: taxes and exchange charges are the
    /// same whichever broker routes the order, so they do not move the choice).
    public static let published = FeeSchedule(brokers: [
        // Zerodha: equity delivery free; equity intraday 0.03% or ₹20 per executed order, whichever
        // is lower; futures, currency and commodity the same (equity options are a flat ₹20, which the
        // cap gives for any option order over ₹66,667).
        // https://support.zerodha.com/category/account-opening/getting-started/charges/articles/what-is-the-brokerage-at-zerodha-for-equity
        .kite: BrokerFees(standard: FeeRule(rate: FixedDecimal("0.0003")!, cap: 20), byProduct: [.delivery: .free]),
        // Upstox: equity intraday and futures ₹20 or 0.05% per executed order, whichever is lower;
        // equity delivery ₹20 per executed order (or 2.5% when lower).
        // http://upstox.com/pricing/pro-plan/ and https://investingexpert.in/upstox-annual-charges/
        .upstox: BrokerFees(standard: FeeRule(rate: FixedDecimal("0.0005")!, cap: 20),
                            byProduct: [.delivery: FeeRule(rate: FixedDecimal("0.025")!, cap: 20)]),
        // Alpaca: commission-free for US-listed securities traded through the API (SEC and FINRA
        // pass-through fees apply whoever routes). https://alpaca.markets/support/application-examples
        .alpaca: BrokerFees(standard: .free),
        // Binance spot, regular (VIP 0) user: 0.1000% maker and taker, uncapped.
        // https://www.binance.com/en/fee/schedule
        .binance: BrokerFees(standard: FeeRule(rate: FixedDecimal("0.001")!)),
    ])
}
