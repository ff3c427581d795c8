import Foundation
import TMBrokers
import TMCore
import TMOrders
import Testing

/// An order's fixed-point values (what the risk engine and the router use) are converted once, and
/// always agree with its decimals, however it was made or changed.
@Suite struct PlaceOrderExactTests {
    static let account = UUID(uuidString: "6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10")!

    static func order(quantity: Decimal = 10, limit: Decimal? = Decimal(string: "1500.05")!, trigger: Decimal? = nil) -> PlaceOrder {
        PlaceOrder(idempotencyKey: "k", accountID: account, symbol: "INFY", exchange: "NSE", side: .buy, quantity: quantity,
                   type: trigger == nil ? .limit : .stopLimit, limitPrice: limit, triggerPrice: trigger)
    }

    @Test func madeOrParsedTheValuesAreTheDecimalsInFixedPoint() throws {
        let made = Self.order(quantity: Decimal(string: "0.000000001")!, limit: Decimal(string: "12345678901234.123456789")!, trigger: 7)
        #expect(made.exact == PlaceOrder.Exact(quantity: FixedDecimal(exactly: made.quantity)!, limitPrice: FixedDecimal(exactly: made.limitPrice!)!,
                                               triggerPrice: 7))
        let parsed = try OrderCommand.parse(Array(OrderCommand.place(made).json.text.utf8))
        guard case .place(let read) = parsed else { Issue.record("not a place"); return }
        #expect(read.exact == made.exact)
        #expect(read == made)
    }

    @Test func changingADecimalChangesItsFixedPointValue() {
        var order = Self.order()
        order.quantity = 25
        #expect(order.exact?.quantity == 25)
        order.limitPrice = Decimal(string: "99.5")!
        #expect(order.exact?.limitPrice == FixedDecimal(exactly: Decimal(string: "99.5")!))
        order.triggerPrice = 98
        #expect(order.exact?.triggerPrice == 98)
        order.limitPrice = nil
        #expect(order.exact?.limitPrice == nil)
        #expect(order.exact == Self.order(quantity: 25, limit: nil, trigger: 98).exact)
    }

    /// More places than fixed point holds: no fixed-point values, so the risk engine refuses it.
    @Test func tooManyPlacesHaveNoFixedPointValue() {
        #expect(Self.order(quantity: Decimal(string: "0.0000000001")!).exact == nil)
        #expect(Self.order(limit: Decimal(string: "1.0000000001")!).exact == nil)
        var order = Self.order()
        order.triggerPrice = Decimal(string: "1.0000000001")!
        #expect(order.exact == nil)
    }
}
