import Foundation
import TMBrokers
import TMCore

/// One of the account holder's connected broker accounts that lists the instrument, with what the
/// router knows of it now.
public struct RouteCandidate: Sendable, Equatable {
    public var accountID: String
    public var broker: BrokerKind
    /// Recent call latency to the broker (live, from the adapters' calls).
    public var latency: Duration
    /// Share of recent calls that failed (0...1).
    public var errorRate: Double
    /// What the broker charges for this order (from its fee schedule).
    public var fee: FixedDecimal
    /// How much of the order the venue can take, relative to the others (configuration until
    /// market data exists); higher is better.
    public var liquidity: Double
    /// The broker's circuit breaker is open: not eligible.
    public var circuitOpen: Bool

    public init(accountID: String, broker: BrokerKind, latency: Duration, errorRate: Double, fee: FixedDecimal, liquidity: Double,
                circuitOpen: Bool = false) {
        self.accountID = accountID
        self.broker = broker
        self.latency = latency
        self.errorRate = errorRate
        self.fee = fee
        self.liquidity = liquidity
        self.circuitOpen = circuitOpen
    }
}

/// A candidate's score: each criterion normalised across the eligible candidates to 0...1 (1 =
/// best among them), and the weighted total.
public struct RouteScore: Sendable, Equatable, Codable {
    public var accountID: String
    public var broker: BrokerKind
    public var speed: Double
    public var cost: Double
    public var liquidity: Double
    public var reliability: Double
    public var total: Double
}

/// One order to send: the whole order, or one child of a split, with its own client order id.
public struct RoutedOrder: Sendable, Equatable {
    public var accountID: String
    public var broker: BrokerKind
    public var quantity: FixedDecimal
    /// Derived from the parent's idempotency key (and the child's index for a split), in the
    /// broker's format.
    public var clientOrderID: String
    /// The idempotency key the child is placed under: the parent's, or `parent/child-N`.
    public var idempotencyKey: String
}

/// What the router decided and why: stored with the order.
public struct RouteDecision: Sendable, Equatable {
    public var orders: [RoutedOrder]
    /// Every eligible candidate's score, best first.
    public var scores: [RouteScore]
    /// Why the order was split (nil when it was not).
    public var splitReason: String?
}

public enum RouteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connected broker lists the instrument, or every one's circuit is open.
    case noEligibleBroker(String)

    public var description: String {
        switch self {
        case .noEligibleBroker(let reason): return "no broker can take the order: \(reason)"
        }
    }
}

/// Chooses where an order goes: scores the eligible brokers — speed 40%, cost 30%, liquidity 20%,
/// reliability 10% — and splits an order larger than `splitMultiple` × the account's average trade
/// value across them.
///
/// Guarantees: a broker whose circuit is open is never chosen; ties go to the candidate listed first
/// (the order is deterministic); a split's children are whole lots that add up to the order, each
/// with a client order id derived from the parent's key and its index (so a redelivered parent
/// yields the same children), within each broker's id format (Kite's 20 characters included).
public struct OrderRouter: Sendable {
    public struct Weights: Sendable, Equatable {
        public var speed = 0.4, cost = 0.3, liquidity = 0.2, reliability = 0.1
        public init() {}
    }

    public var weights = Weights()
    /// Split when the order's value exceeds this multiple of the account's average trade value.
    public var splitMultiple: FixedDecimal = 10

    public init() {}

    /// Scores only (no split): every eligible candidate, best first.
    ///
    /// Runs per order, so it builds one array (the scores) and nothing else: one pass finds each
    /// criterion's range over the eligible candidates, a second scores them (min-max, `Range`) and
    /// inserts each after those at least as good (a stable sort).
    public func scores(_ candidates: [RouteCandidate]) -> [RouteScore] {
        var speed = Range(), cost = Range(), liquidity = Range(), reliability = Range()
        var eligible = 0
        for candidate in candidates where !candidate.circuitOpen {
            speed.include(candidate.latency.seconds)
            cost.include(Self.amount(candidate.fee))
            liquidity.include(candidate.liquidity)
            reliability.include(candidate.errorRate)
            eligible += 1
        }
        guard eligible > 0 else { return [] }
        var scores: [RouteScore] = []
        scores.reserveCapacity(eligible)
        for candidate in candidates where !candidate.circuitOpen {
            var score = RouteScore(accountID: candidate.accountID, broker: candidate.broker,
                                   speed: speed.normalised(candidate.latency.seconds, lowerIsBetter: true),
                                   cost: cost.normalised(Self.amount(candidate.fee), lowerIsBetter: true),
                                   liquidity: liquidity.normalised(candidate.liquidity, lowerIsBetter: false),
                                   reliability: reliability.normalised(candidate.errorRate, lowerIsBetter: true), total: 0)
            score.total = weights.speed * score.speed + weights.cost * score.cost + weights.liquidity * score.liquidity
                + weights.reliability * score.reliability
            // Stable, best first: after every score at least as high (equal totals keep the candidates' order).
            var position = scores.count
            while position > 0, !(scores[position - 1].total >= score.total) { position -= 1 }
            scores.insert(score, at: position)
        }
        return scores
    }

    /// A fee as a Double (units of 10⁻⁹): through Int64 when it fits, which rounds exactly as the
    /// generic Int128 conversion does (both are correctly rounded) at a fraction of its cost.
    static func amount(_ fee: FixedDecimal) -> Double {
        if let small = Int64(exactly: fee.units) { return Double(small) / 1e9 }
        return Double(fee.units) / 1e9
    }

    /// One criterion's lowest and highest value over the eligible candidates.
    struct Range {
        var low = Double.infinity, high = -Double.infinity

        mutating func include(_ value: Double) {
            if value < low { low = value }
            if value > high { high = value }
        }

        /// Min-max to 0...1, 1 for the best; all equal → all 1.
        func normalised(_ value: Double, lowerIsBetter: Bool) -> Double {
            guard high > low else { return 1 }
            return lowerIsBetter ? (high - value) / (high - low) : (value - low) / (high - low)
        }
    }

    /// The route for an order of `quantity` (in `lotSize` lots) worth `value`, placed under
    /// `idempotencyKey`, for an account whose average trade is worth `averageTradeValue` (nil: no
    /// history, never split).
    public func route(quantity: FixedDecimal, lotSize: FixedDecimal, value: FixedDecimal, idempotencyKey: String,
                      averageTradeValue: FixedDecimal?, candidates: [RouteCandidate]) -> Result<RouteDecision, RouteError> {
        guard !candidates.isEmpty else { return .failure(.noEligibleBroker("no connected broker lists the instrument")) }
        let ranked = scores(candidates)
        guard let best = ranked.first else { return .failure(.noEligibleBroker("every broker's circuit is open")) }
        guard let average = averageTradeValue, average > 0, value > splitMultiple * average, ranked.count > 1 else {
            let single = RoutedOrder(accountID: best.accountID, broker: best.broker, quantity: quantity,
                                     clientOrderID: ClientOrderID.derive(idempotencyKey: idempotencyKey, for: best.broker),
                                     idempotencyKey: idempotencyKey)
            return .success(RouteDecision(orders: [single], scores: ranked, splitReason: nil))
        }
        let lots = quantity.units / lotSize.units
        let shares = split(lots: lots, by: ranked.map(\.total))
        var children: [RoutedOrder] = []
        for (index, score) in ranked.enumerated() where shares[index] > 0 {
            let key = "\(idempotencyKey)/child-\(children.count + 1)"
            children.append(RoutedOrder(accountID: score.accountID, broker: score.broker, quantity: FixedDecimal(units: shares[index] * lotSize.units),
                                        clientOrderID: ClientOrderID.derive(idempotencyKey: key, for: score.broker), idempotencyKey: key))
        }
        let reason = "value \(value) is over \(splitMultiple)× the account's average trade \(average)"
        return .success(RouteDecision(orders: children, scores: ranked, splitReason: reason))
    }

    /// Whole lots in proportion to the weights (largest remainders first, ties to the better
    /// candidate); a zero weight gets nothing unless every weight is zero (then equal shares).
    func split(lots: Int128, by weights: [Double]) -> [Int128] {
        let total = weights.reduce(0, +)
        let effective = total > 0 ? weights : weights.map { _ in 1.0 }
        let sum = effective.reduce(0, +)
        var shares = effective.map { Int128((Double(lots) * $0 / sum).rounded(.down)) }
        var left = lots - shares.reduce(0, +)
        let order = effective.indices.sorted { a, b in
            let ra = Double(lots) * effective[a] / sum - Double(shares[a]), rb = Double(lots) * effective[b] / sum - Double(shares[b])
            return ra != rb ? ra > rb : a < b
        }
        var cursor = 0
        while left > 0 {
            shares[order[cursor % order.count]] += 1
            left -= 1
            cursor += 1
        }
        return shares
    }
}
