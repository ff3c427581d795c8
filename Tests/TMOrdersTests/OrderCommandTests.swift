import Foundation
import TMBrokers
import TMCore
import TMOrders
import Testing

/// The `orders` queue's messages: what is written is read back; anything else is refused with the
/// field and the reason.
@Suite struct OrderCommandTests {
    static let account = UUID(uuidString: "6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10")!
    static let place = OrderCommand.place(PlaceOrder(idempotencyKey: "k-1", accountID: account, symbol: "INFY", exchange: "NSE", side: .buy,
                                                     quantity: 10, type: .limit, limitPrice: Decimal(string: "1500.05")!))

    func refusal(_ text: String) -> OrderCommandError? {
        do {
            _ = try OrderCommand.parse(Array(text.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test func whatIsWrittenIsReadBack() throws {
        let stop = OrderCommand.place(PlaceOrder(idempotencyKey: "k-2", accountID: Self.account, symbol: "BTCUSDT", exchange: "BINANCE",
                                                 side: .sell, quantity: Decimal(string: "0.00123")!, type: .stopLimit,
                                                 limitPrice: Decimal(string: "43000.1")!, triggerPrice: 43100, timeInForce: .gtc, product: .delivery))
        let modify = OrderCommand.change(ChangeOrder(action: .modify, idempotencyKey: "m-1", accountID: Self.account, orderID: UUID(),
                                                     limitPrice: Decimal(string: "1499.95")!))
        let cancel = OrderCommand.change(ChangeOrder(action: .cancel, idempotencyKey: "c-1", accountID: Self.account, orderID: UUID()))
        for command in [Self.place, stop, modify, cancel] {
            #expect(try OrderCommand.parse(Array(command.json.text.utf8)) == command)
        }
        #expect(Self.place.json["account_id"]?.stringValue == Self.account.uuidString.lowercased(), "the shard key")
    }

    @Test func decimalsAreExactFromNumbersOrStrings() throws {
        let text = #"{"kind":"place","idempotency_key":"k","account_id":"\#(Self.account)","symbol":"X","exchange":"NSE","side":"buy","quantity":0.000000001,"type":"limit","price":"12345678901234.123456789"}"#
        guard case .place(let order) = try OrderCommand.parse(Array(text.utf8)) else { Issue.record("not a place"); return }
        #expect(order.quantity == Decimal(string: "0.000000001")!)
        #expect(order.limitPrice == Decimal(string: "12345678901234.123456789")!)
    }

    @Test(arguments: [
        ("[]", "message"),
        ("not json", "message"),
        (#"{"kind":"buy"}"#, "kind"),
        (#"{"kind":"place","account_id":"A"}"#, "idempotency_key"),
        (#"{"kind":"place","idempotency_key":"k","account_id":"nope","symbol":"X","exchange":"NSE","side":"buy","quantity":"1","type":"market"}"#, "account_id"),
        (#"{"kind":"place","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","symbol":"X","exchange":"NSE","side":"hold","quantity":"1","type":"market"}"#, "side"),
        (#"{"kind":"place","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","symbol":"X","exchange":"NSE","side":"buy","quantity":"-1","type":"market"}"#, "quantity"),
        (#"{"kind":"place","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","symbol":"X","exchange":"NSE","side":"buy","quantity":"1e400","type":"market"}"#, "quantity"),
        (#"{"kind":"place","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","symbol":"X","exchange":"NSE","side":"buy","quantity":"1","type":"limit"}"#, "price"),
        (#"{"kind":"place","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","symbol":"X","exchange":"NSE","side":"buy","quantity":"1","type":"market","price":"5"}"#, "price"),
        (#"{"kind":"place","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","symbol":"X","exchange":"NSE","side":"buy","quantity":"1","type":"stop"}"#, "trigger"),
        (#"{"kind":"place","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","symbol":"X","exchange":"NSE","side":"buy","quantity":"1","type":"market","leverage":5}"#, "leverage"),
        (#"{"kind":"place","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","symbol":"X","exchange":"NSE","side":"buy","quantity":1.5e0,"type":"market","tif":"week"}"#, "tif"),
        (#"{"kind":"modify","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","order_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e11"}"#, "quantity"),
        (#"{"kind":"cancel","idempotency_key":"k","account_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e10","order_id":"6f1c1a52-8d0e-4b8e-9b43-1c2b0d9a7e11","price":"1"}"#, "price"),
    ])
    func badMessagesAreRefusedNamingTheField(_ text: String, _ field: String) {
        let error = refusal(text)
        #expect(error?.field == field, "\(text): \(error.map { "\($0)" } ?? "accepted")")
    }
}
