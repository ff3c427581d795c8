import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMQueue

/// The batch intake (`OrderIntake.submitBatch`) against a real database and Redis: each command of a
/// batch gets exactly what `submit` would give it — the same refusals, naming the same field, with
/// nothing enqueued for it and the others unaffected; one message per key, however often the key
/// comes (in the batch, in an earlier call, or already on an order row).
@Suite(.serialized) struct OrderIntakeBatchTests {
    func place(_ account: UUID, _ symbol: String = "INFY", exchange: String = "NSE", quantity: Decimal = 10, type: OrderType = .limit,
               price: Decimal? = Decimal(string: "1500.05"), trigger: Decimal? = nil, key: String = "api-\(UUID().uuidString)") -> OrderCommand {
        .place(PlaceOrder(idempotencyKey: key, accountID: account, symbol: symbol, exchange: exchange, side: .buy, quantity: quantity,
                          type: type, limitPrice: price, triggerPrice: trigger))
    }

    @Test func eachRefusalNamesItsFieldAndOnlyTheValidOrdersAreEnqueued() async throws {
        let h = try await IntakeHarness()
        let active = h.active
        let refusals: [(OrderCommand, field: String, reason: String)] = [
            (place(UUID()), "account_id", "no account"),
            (place(h.paused), "account_id", "is paused, not active"),
            (place(active, "NOPE"), "symbol", "unknown symbol 'NOPE' on NSE"),
            (place(active, "TCS", exchange: "BSE"), "symbol", "unknown symbol 'TCS' on BSE"),
            (place(active, "SUSPENDED", price: 100), "symbol", "not tradable"),
            (place(active, "NIFTY26JANFUT", quantity: 100, price: 100), "quantity", "not a multiple of the lot size 75"),
            (place(active, price: Decimal(string: "1500.03")), "price", "off the tick"),
            (place(active, type: .stop, price: nil, trigger: Decimal(string: "1500.02")), "trigger", "off the tick"),
            (place(active, price: nil), "price", "needs a limit price"),
            (place(active, key: ""), "idempotency_key", "is empty"),
            (place(active, quantity: 0), "quantity", "must be positive"),
        ]
        // Valid orders between the refused ones: the same order on the other exchange's tick, another account's.
        let valid = [place(active, exchange: "BSE", price: Decimal(string: "1500.03")), place(h.other, "TCS")]
        var batch: [OrderCommand] = []
        for (index, refusal) in refusals.enumerated() {
            batch.append(refusal.0)
            if index < valid.count { batch.append(valid[index]) }
        }
        let results = try await h.intake.submitBatch(batch)
        #expect(results.count == batch.count)
        for (command, result) in zip(batch, results) {
            if let expected = refusals.first(where: { $0.0 == command }) {
                guard case .failure(let error as OrderCommandError) = result else {
                    Issue.record("expected a refusal of \(expected.field), got \(result)")
                    continue
                }
                #expect(error.field == expected.field && error.reason.contains(expected.reason), "\(error)")
            } else {
                let receipt = try result.get()
                #expect(!receipt.duplicate && receipt.messageID != nil && receipt.shard == h.shard(of: receipt.accountID))
            }
        }
        // Exactly the valid ones reached the queue, each on its account's shard, as the worker parses them.
        var expected = Array(repeating: 0, count: h.shards)
        for command in valid { expected[h.shard(of: command.accountID)] += 1 }
        #expect(try await h.backlog() == expected)
        let queued = try await (0..<h.shards).asyncFlatMap { try await h.payloads(shard: $0) }.map { try OrderCommand.parse(Array($0.utf8)) }
        #expect(Set(queued.map(\.idempotencyKey)) == Set(valid.map(\.idempotencyKey)))
        await h.cleanUp()
    }

    @Test func aKeyIsEnqueuedOnceWhereverItRepeats() async throws {
        let h = try await IntakeHarness()
        let twice = place(h.active, key: "api-twice-\(UUID().uuidString)")
        let earlier = place(h.active, key: "api-earlier-\(UUID().uuidString)")
        let first = try await h.intake.submit(earlier)
        // Already on an order row (the queue's record of it may have expired): never enqueued again.
        let placedKey = "api-placed-\(UUID().uuidString)"
        let order = try h.insertOrder(account: h.active, state: "EXPIRED", key: placedKey)

        let results = try await h.intake.submitBatch([twice, earlier, twice, place(h.active, key: placedKey)]).map { try $0.get() }
        #expect(!results[0].duplicate && results[0].messageID != nil)
        #expect(results[1].duplicate && results[1].messageID == first.messageID)
        #expect(results[2].duplicate && results[2].messageID == results[0].messageID)
        #expect(results[3].duplicate && results[3].orderID == order && results[3].messageID == nil)
        // A second batch of the same keys adds nothing.
        let again = try await h.intake.submitBatch([twice, earlier]).map { try $0.get() }
        #expect(again.allSatisfy { $0.duplicate })
        var expected = Array(repeating: 0, count: h.shards)
        expected[h.shard(of: h.active)] = 2
        #expect(try await h.backlog() == expected)
        await h.cleanUp()
    }

    @Test func changesInABatchAreCheckedAsSubmitChecksThem() async throws {
        let h = try await IntakeHarness()
        let open = try h.insertOrder(account: h.active, state: "ACCEPTED")
        let filled = try h.insertOrder(account: h.active, state: "CANCELLED")
        func change(_ action: ChangeOrder.Action, _ order: UUID, account: UUID? = nil, quantity: Decimal? = nil, price: Decimal? = nil) -> OrderCommand {
            .change(ChangeOrder(action: action, idempotencyKey: "api-\(UUID().uuidString)", accountID: account ?? h.active, orderID: order,
                                quantity: quantity, limitPrice: price))
        }
        let results = try await h.intake.submitBatch([
            change(.cancel, open, account: h.other), change(.cancel, filled), change(.modify, open, price: Decimal(string: "1500.01")),
            change(.modify, open, quantity: 20, price: 1501), change(.cancel, open),
        ])
        let fields = results.map { result -> String? in
            if case .failure(let error as OrderCommandError) = result { return error.field }
            return nil
        }
        #expect(fields == ["order_id", "order_id", "price", nil, nil])
        #expect(try await h.payloads(shard: h.shard(of: h.active)).count == 2)
        await h.cleanUp()
    }
}

extension Sequence {
    func asyncFlatMap<T>(_ transform: (Element) async throws -> [T]) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out += try await transform(element) }
        return out
    }
}
