import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMQueue

/// Intake against a real database and Redis: every refusal names its field and enqueues nothing;
/// a valid command lands once on its account's shard, however often it is submitted.
@Suite(.serialized) struct OrderIntakeTests {
    func place(_ account: UUID, _ symbol: String = "INFY", exchange: String = "NSE", quantity: Decimal = 10, type: OrderType = .limit,
               price: Decimal? = Decimal(string: "1500.05"), trigger: Decimal? = nil, key: String = "api-\(UUID().uuidString)") -> OrderCommand {
        .place(PlaceOrder(idempotencyKey: key, accountID: account, symbol: symbol, exchange: exchange, side: .buy, quantity: quantity,
                          type: type, limitPrice: price, triggerPrice: trigger))
    }

    /// Submits `command`, expects a refusal of `field` whose reason contains `reason`, and an empty queue after it.
    func expectRefused(_ harness: IntakeHarness, _ command: OrderCommand, field: String, reason: String,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        do {
            let receipt = try await harness.intake.submit(command)
            Issue.record("expected a refusal of \(field), got \(receipt)", sourceLocation: sourceLocation)
        } catch let refusal as OrderCommandError {
            #expect(refusal.field == field, "\(refusal)", sourceLocation: sourceLocation)
            #expect(refusal.reason.contains(reason), "\(refusal)", sourceLocation: sourceLocation)
        }
        #expect(try await harness.backlog().allSatisfy { $0 == 0 }, "a refused command was enqueued", sourceLocation: sourceLocation)
    }

    @Test func placeRefusalsNameTheFieldAndEnqueueNothing() async throws {
        let h = try await IntakeHarness()
        let active = h.active
        try await expectRefused(h, place(UUID()), field: "account_id", reason: "no account")
        try await expectRefused(h, place(h.paused), field: "account_id", reason: "is paused, not active")
        try await expectRefused(h, place(active, "NOPE"), field: "symbol", reason: "unknown symbol 'NOPE' on NSE")
        try await expectRefused(h, place(active, "TCS", exchange: "BSE"), field: "symbol", reason: "unknown symbol 'TCS' on BSE")
        try await expectRefused(h, place(active, "SUSPENDED", price: 100), field: "symbol", reason: "not tradable")
        try await expectRefused(h, place(active, "NIFTY26JANFUT", quantity: 100, price: 100), field: "quantity",
                                reason: "not a multiple of the lot size 75")
        try await expectRefused(h, place(active, price: Decimal(string: "1500.03")), field: "price", reason: "off the tick")
        try await expectRefused(h, place(active, type: .stop, price: nil, trigger: Decimal(string: "1500.02")), field: "trigger",
                                reason: "off the tick")
        // The shape checks the worker applies are applied here too (an API caller can build anything).
        try await expectRefused(h, place(active, price: nil), field: "price", reason: "needs a limit price")
        try await expectRefused(h, place(active, type: .stop, price: nil), field: "trigger", reason: "needs a trigger price")
        try await expectRefused(h, place(active, key: ""), field: "idempotency_key", reason: "is empty")
        try await expectRefused(h, place(active, quantity: 0), field: "quantity", reason: "must be positive")
        // The same order on the other exchange's tick passes: the tick is the instrument's.
        _ = try await h.intake.submit(place(active, exchange: "BSE", price: Decimal(string: "1500.03")))
        #expect(try await h.backlog().reduce(0, +) == 1)
        await h.cleanUp()
    }

    @Test func changeRefusalsNameTheOrderAndEnqueueNothing() async throws {
        let h = try await IntakeHarness()
        let open = try h.insertOrder(account: h.active, state: "ACCEPTED")
        let filled = try h.insertOrder(account: h.active, state: "CANCELLED")
        let market = try h.insertOrder(account: h.active, state: "ACCEPTED", type: "market", price: nil)
        func change(_ action: ChangeOrder.Action, _ order: UUID, account: UUID? = nil, quantity: Decimal? = nil, price: Decimal? = nil,
                    trigger: Decimal? = nil) -> OrderCommand {
            .change(ChangeOrder(action: action, idempotencyKey: "api-\(UUID().uuidString)", accountID: account ?? h.active, orderID: order,
                                quantity: quantity, limitPrice: price, triggerPrice: trigger))
        }
        try await expectRefused(h, change(.cancel, UUID()), field: "order_id", reason: "no order")
        try await expectRefused(h, change(.cancel, open, account: h.other), field: "order_id", reason: "belongs to another account")
        try await expectRefused(h, change(.cancel, filled), field: "order_id", reason: "is CANCELLED (final)")
        try await expectRefused(h, change(.modify, open, price: Decimal(string: "1500.01")), field: "price", reason: "off the tick")
        try await expectRefused(h, change(.modify, market, price: 1500), field: "price", reason: "takes no limit price")
        try await expectRefused(h, change(.modify, open, trigger: 1500), field: "trigger", reason: "takes no trigger price")
        try await expectRefused(h, change(.modify, open), field: "quantity", reason: "changes at least one")

        // What passes travels the order's account shard, behind the order's placement.
        _ = try await h.intake.submit(change(.cancel, open))
        _ = try await h.intake.submit(change(.modify, open, quantity: 20, price: 1501))
        #expect(try await h.payloads(shard: h.shard(of: h.active)).count == 2)
        await h.cleanUp()
    }

    @Test func aValidOrderLandsOnItsAccountsShardOnceUnderOneKey() async throws {
        let h = try await IntakeHarness()
        let command = place(h.active, key: "api-once-\(UUID().uuidString)")
        let first = try await h.intake.submit(command)
        let second = try await h.intake.submit(command)
        #expect(!first.duplicate && second.duplicate)
        #expect(first.messageID != nil && second.messageID == first.messageID)
        let shard = h.shard(of: h.active)
        #expect(first.shard == shard)
        var expected = Array(repeating: 0, count: h.shards)
        expected[shard] = 1
        #expect(try await h.backlog() == expected)
        // What is on the queue is what the worker parses back into the same command.
        let payloads = try await h.payloads(shard: shard)
        #expect(try payloads.map { try OrderCommand.parse(Array($0.utf8)) } == [command])

        // A key already on an order row is never enqueued again, even when the queue forgot it.
        let placedKey = "api-placed-\(UUID().uuidString)"
        let order = try h.insertOrder(account: h.active, state: "EXPIRED", key: placedKey)
        let again = try await h.intake.submit(place(h.active, key: placedKey))
        #expect(again.duplicate && again.orderID == order && again.messageID == nil)
        #expect(try await h.backlog() == expected)
        await h.cleanUp()
    }
}
