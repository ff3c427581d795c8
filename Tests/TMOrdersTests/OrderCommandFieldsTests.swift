import Foundation
import TMCore
import TMOrders
import Testing

/// The order command's field reader (a list read in place, no dictionary): a repeated name takes
/// its last value, null is absent, and the first unknown field in message order is the one named.
@Suite struct OrderCommandFieldsTests {
    static let account = "6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10"
    static let head = #"{"kind":"place","idempotency_key":"k","account_id":"\#(account)","symbol":"X","exchange":"NSE","side":"buy""#

    static func parse(_ text: String) throws(OrderCommandError) -> OrderCommand { try OrderCommand.parse(Array(text.utf8)) }

    static func refusal(_ text: String) -> OrderCommandError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func aRepeatedFieldTakesItsLastValue() throws {
        let text = Self.head + #","quantity":"1","type":"limit","price":"10","quantity":"7","price":"11.50","symbol":" INFY "}"#
        guard case .place(let order) = try Self.parse(text) else { Issue.record("not a place"); return }
        #expect(order.quantity == 7)
        #expect(order.limitPrice == Decimal(string: "11.5")!)
        #expect(order.exact?.limitPrice == FixedDecimal(exactly: Decimal(string: "11.5")!))
        #expect(order.symbol == "INFY")
        // A repeated name that is read is not unknown, whichever of its values was taken.
        #expect(Self.refusal(Self.head + #","quantity":"1","type":"market","type":"market"}"#) == nil)
        // The last value decides even when an earlier one was good.
        #expect(Self.refusal(Self.head + #","quantity":"1","quantity":"-1","type":"market"}"#)?.field == "quantity")
    }

    @Test func nullIsAbsent() throws {
        guard case .place(let order) = try Self.parse(Self.head + #","quantity":"2","type":"market","price":null,"tif":null}"#) else {
            Issue.record("not a place")
            return
        }
        #expect(order.limitPrice == nil)
        #expect(order.timeInForce == .day)
        #expect(Self.refusal(Self.head + #","quantity":null,"type":"market"}"#) == OrderCommandError("quantity", "is missing"))
        #expect(Self.refusal(Self.head + #","quantity":"2","type":"market","price":"3","price":null}"#) == nil)
    }

    @Test func theFirstUnknownFieldInMessageOrderIsNamed() {
        let text = Self.head + #","zeta":1,"quantity":"1","alpha":2,"type":"market","zeta":3}"#
        #expect(Self.refusal(text) == OrderCommandError("zeta", "is not a field of a place message"))
        let cancel = #"{"kind":"cancel","idempotency_key":"k","account_id":"\#(Self.account)","order_id":"\#(Self.account)","quantity":"1"}"#
        #expect(Self.refusal(cancel) == OrderCommandError("quantity", "is not a field of a cancel message"))
    }

    @Test func namesCompareAsStringsDo() throws {
        // "kind" spelled with an escape is the same name; a name differing only in case is not.
        #expect(Self.refusal(#"{"kin\u0064":"cancel","idempotency_key":"k","account_id":"\#(Self.account)","order_id":"\#(Self.account)"}"#) == nil)
        #expect(Self.refusal(Self.head + #","quantity":"1","type":"market","Type":"market"}"#)?.field == "Type")
    }
}
