import Foundation
import TMBrokers
import TMCore
@testable import TMRouting
import Testing

/// The router: weighted scores, no open circuit, splits in whole lots with child ids from the parent key.
@Suite struct OrderRouterTests {
    static func candidate(_ id: String, _ broker: BrokerKind, ms: Int64, errors: Double = 0, fee: FixedDecimal = 20, liquidity: Double = 1,
                          open: Bool = false) -> RouteCandidate {
        RouteCandidate(accountID: id, broker: broker, latency: .milliseconds(ms), errorRate: errors, fee: fee, liquidity: liquidity, circuitOpen: open)
    }

    @Test func scoresWeighSpeedCostLiquidityAndReliability() {
        let router = OrderRouter()
        let scores = router.scores([
            Self.candidate("k", .kite, ms: 20, errors: 0.01, fee: 20, liquidity: 5),
            Self.candidate("u", .upstox, ms: 40, errors: 0.00, fee: 10, liquidity: 3),
        ])
        // Kite: fastest (1), dearer (0), more liquid (1), less reliable (0) → 0.4 + 0.2 = 0.6.
        // Upstox: slower (0), cheaper (1), less liquid (0), reliable (1) → 0.3 + 0.1 = 0.4.
        #expect(scores.map(\.accountID) == ["k", "u"])
        #expect(abs(scores[0].total - 0.6) < 1e-9)
        #expect(abs(scores[1].total - 0.4) < 1e-9)
        #expect(scores[0].speed == 1 && scores[0].cost == 0 && scores[0].liquidity == 1 && scores[0].reliability == 0)
    }

    @Test func anOpenCircuitIsNeverChosen() {
        let router = OrderRouter()
        let candidates = [Self.candidate("k", .kite, ms: 1, fee: 0, liquidity: 9, open: true), Self.candidate("u", .upstox, ms: 90)]
        guard case .success(let decision) = router.route(quantity: 10, lotSize: 1, value: 1000, idempotencyKey: "key-1",
                                                         averageTradeValue: nil, candidates: candidates) else {
            Issue.record("no route")
            return
        }
        #expect(decision.orders.map(\.accountID) == ["u"])
        #expect(decision.scores.map(\.accountID) == ["u"])
        #expect(router.route(quantity: 1, lotSize: 1, value: 1, idempotencyKey: "k", averageTradeValue: nil,
                             candidates: [candidates[0]]) == .failure(.noEligibleBroker("every broker's circuit is open")))
    }

    @Test func aLargeOrderIsSplitInWholeLotsWithChildIdsFromTheParentKey() throws {
        let router = OrderRouter()
        let candidates = [Self.candidate("k", .kite, ms: 20, fee: 20, liquidity: 5), Self.candidate("u", .upstox, ms: 40, fee: 10, liquidity: 3)]
        // 1,000 × 25 lots worth 10,001 against an average trade of 1,000: split.
        let decision = try router.route(quantity: 25_000, lotSize: 25, value: 10_001, idempotencyKey: "parent-7", averageTradeValue: 1000,
                                        candidates: candidates).get()
        #expect(decision.orders.count == 2)
        #expect(decision.orders.reduce(FixedDecimal.zero) { $0 + $1.quantity } == 25_000)
        #expect(decision.orders.allSatisfy { $0.quantity.isMultiple(of: 25) })
        #expect(decision.orders.map(\.idempotencyKey) == ["parent-7/child-1", "parent-7/child-2"])
        for child in decision.orders {
            #expect(child.clientOrderID == ClientOrderID.derive(idempotencyKey: child.idempotencyKey, for: child.broker))
            #expect(child.clientOrderID.count <= ClientOrderID.maxLength(for: child.broker))
        }
        #expect(decision.splitReason != nil)
        // The same parent routes to the same children (a redelivery places nothing new).
        #expect(try router.route(quantity: 25_000, lotSize: 25, value: 10_001, idempotencyKey: "parent-7", averageTradeValue: 1000,
                                 candidates: candidates).get() == decision)
        // At exactly 10× it is not split.
        let whole = try router.route(quantity: 25_000, lotSize: 25, value: 10_000, idempotencyKey: "parent-8", averageTradeValue: 1000,
                                     candidates: candidates).get()
        #expect(whole.orders.count == 1 && whole.splitReason == nil)
        #expect(whole.orders[0].clientOrderID == ClientOrderID.derive(idempotencyKey: "parent-8", for: .kite))
    }

    @Test func sharesFollowTheScoresAndAddUp() {
        let router = OrderRouter()
        #expect(router.split(lots: 10, by: [0.6, 0.4]) == [6, 4])
        #expect(router.split(lots: 7, by: [0.5, 0.5]) == [4, 3])
        #expect(router.split(lots: 3, by: [0, 0]) == [2, 1])
        #expect(router.split(lots: 1, by: [1, 0]) == [1, 0])
    }
}
