import Foundation
import TMBrokers
import TMCore
@testable import TMOrders
import TMRouting
import Testing

/// The route as stored with the order, built without Foundation's formatting: the same text as
/// `String(format: "%.4f")` and `uuidString` gave, so old and new stored decisions agree.
@Suite struct RouteRecordTests {
    @Test func fourPlacesIsPrintfsRounding() {
        var values: [Double] = [0, -0.0, 1, 0.5, 0.00005, 0.00015, 0.00025, 0.99995, 0.999949999, 1.00005, 123.45675, 1e-300,
                                Double.leastNonzeroMagnitude, Double.leastNormalMagnitude, 5e-5.nextDown, 5e-5.nextUp, 999_999_999.99995,
                                1e9, 1e9.nextDown, 1e12, -0.00004, -1.5, .nan, .infinity, -.infinity, 0.6, 0.4, 0.3 + 0.1 * 0.2]
        // Exact ties (k/32 has five binary places: a tie at the fifth decimal) go to the even digit.
        for k in 0...64 { values.append(Double(k) / 32) }
        for k in 0...20_000 {
            let value = Double(k) / 20_000
            values += [value, value.nextUp, value.nextDown, (Double(k) + 0.5) / 10_000, ((Double(k) + 0.5) / 10_000).nextUp]
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50_000 { values.append(Double.random(in: 0...1, using: &generator)) }
        for _ in 0..<5_000 { values.append(Double.random(in: 0...1e9, using: &generator)) }
        for value in values {
            #expect(RouteRecord.fourPlaces(value) == String(format: "%.4f", value), "\(value.bitPattern)")
        }
    }

    @Test func uuidTextIsFoundations() {
        for uuid in (0..<2000).map({ _ in UUID() }) + [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                                                         UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))] {
            #expect(UUIDText.upper(uuid) == uuid.uuidString)
            #expect(UUIDText.lower(uuid) == uuid.uuidString.lowercased())
        }
    }

    /// The stored route as `OrderPlacer` built it before (Foundation formatting throughout).
    static func reference(_ route: RouteDecision, requested: UUID) -> JSONValue {
        let rounded = { (value: Double) in String(format: "%.4f", value) }
        let scores: [JSONValue] = route.scores.map { score in
            ["account_id": .string(score.accountID), "broker": .string(score.broker.rawValue), "speed": .number(rounded(score.speed)),
             "cost": .number(rounded(score.cost)), "liquidity": .number(rounded(score.liquidity)),
             "reliability": .number(rounded(score.reliability)), "total": .number(rounded(score.total))]
        }
        let orders: [JSONValue] = route.orders.map { order in
            ["account_id": .string(order.accountID), "broker": .string(order.broker.rawValue), "quantity": .string(order.quantity.description),
             "client_order_id": .string(order.clientOrderID), "idempotency_key": .string(order.idempotencyKey)]
        }
        return ["requested_account_id": .string(requested.uuidString.lowercased()), "scores": .array(scores), "orders": .array(orders),
                "split_reason": route.splitReason.map { .string($0) } ?? .null]
    }

    @Test func theStoredRouteIsTheTextItWas() throws {
        let router = OrderRouter()
        let candidates = [
            RouteCandidate(accountID: UUID().uuidString.lowercased(), broker: .kite, latency: .microseconds(22_345), errorRate: 1.0 / 3,
                           fee: FixedDecimal("6.0000001")!, liquidity: 1),
            RouteCandidate(accountID: UUID().uuidString.lowercased(), broker: .upstox, latency: .milliseconds(35), errorRate: 0,
                           fee: 20, liquidity: 0.7),
            RouteCandidate(accountID: UUID().uuidString.lowercased(), broker: .binance, latency: .milliseconds(29), errorRate: 0.07,
                           fee: FixedDecimal("11.5")!, liquidity: 2),
        ]
        for (value, average) in [(FixedDecimal(20_000), FixedDecimal?.none), (FixedDecimal(1_000_000), FixedDecimal?(5000))] {
            let decision = try router.route(quantity: 1000, lotSize: 1, value: value, idempotencyKey: "key-\(value)", averageTradeValue: average,
                                            candidates: candidates).get()
            let requested = UUID()
            let stored = RouteRecord.json(decision, requested: requested), expected = Self.reference(decision, requested: requested)
            #expect(stored == expected)
            #expect(stored.text == expected.text)
            #expect(OrderPlacer.json(decision, requested: requested).text == expected.text, "the placer stores this record")
        }
    }
}
