import Foundation
import Logging
import TMBrokers
import TMCore
import TMOrders
import TMQueue
import TMRisk
import TMRouting

/// The worker's resident risk and routing state. INTERIM: until the RiskBook and the live route
/// source land, every order passes risk and goes to the account it was asked for.
struct ResidentOrderState: Sendable {
    let risk: any RiskGate
    let routes: any RouteSource

    init(services: OrderServices, logger: Logger) throws {
        risk = InterimRisk()
        routes = InterimRoutes(services: services)
    }

    func load(shards: Set<Int>, of manifest: QueueManifest) async throws {}
    func refresh() async {}
}

private struct InterimRisk: RiskGate {
    func check(_ order: PlaceOrder, orderID: UUID, now: Date) -> RiskCheck {
        let price = FixedDecimal(exactly: order.limitPrice ?? order.triggerPrice ?? 1) ?? 1
        let quantity = FixedDecimal(exactly: order.quantity) ?? 1
        return RiskCheck(outcome: .passed(RiskAssessment(price: price, multiplier: 1, notional: price * quantity, reducesExposure: false,
                                                         underEmergencyLimits: false)), lastPrice: nil)
    }
    func release(orderID: UUID, account: UUID) {}
    func fill(orderID: UUID, account: UUID, symbol: String, exchange: String, side: OrderSide, quantity: FixedDecimal, price: FixedDecimal) {}
}

private struct InterimRoutes: RouteSource {
    let services: OrderServices
    func candidates(for order: PlaceOrder, value: FixedDecimal) -> [RouteCandidate] {
        [RouteCandidate(accountID: order.accountID.uuidString.lowercased(), broker: .kite, latency: .milliseconds(1), errorRate: 0, fee: 0, liquidity: 1)]
    }
    func record(broker: BrokerKind, latency: Duration, failed: Bool) {}
}
