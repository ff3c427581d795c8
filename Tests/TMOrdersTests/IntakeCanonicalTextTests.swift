import Foundation
import Testing
import TestSupport
import TMOrders
import TMQueue

/// The batch intake matches a place's symbol and idempotency key byte for byte, as Postgres (and
/// `submit`'s statement of scalars) compares them — not by Swift's canonical equivalence, which takes
/// `CAFÉ` precomposed (U+00C9) and `CAFE` + U+0301 for one string. And a text field holding NUL is
/// that command's refusal, not the whole batch's failure.
@Suite(.serialized) struct IntakeCanonicalTextTests {
    static let precomposed = "CAF\u{00C9}", decomposed = "CAFE\u{0301}"

    func place(_ account: UUID, _ symbol: String, key: String = "api-\(UUID().uuidString)") -> OrderCommand {
        .place(PlaceOrder(idempotencyKey: key, accountID: account, symbol: symbol, exchange: "NSE", side: .buy, quantity: 10,
                          type: .limit, limitPrice: Decimal(string: "1500.05")))
    }

    @Test func aSymbolIsFoundOnlyByItsOwnBytesWhateverTheBatchOrder() async throws {
        let h = try await IntakeHarness()
        #expect(Self.precomposed == Self.decomposed)  // equal as Swift Strings: the trap this guards
        try h.db.execute("INSERT INTO instruments (exchange, symbol, lot_size, tick_size, tradable) VALUES ('NSE', \(Self.precomposed), 1, 0.05, true)")
        // The lone path (scalars, compared by Postgres) is the reference.
        await #expect(throws: OrderCommandError.self) { _ = try await h.intake.submit(place(h.active, Self.decomposed)) }
        for symbols in [[Self.decomposed, Self.precomposed], [Self.precomposed, Self.decomposed]] {
            let batch = symbols.map { place(h.active, $0) }
            let results = try await h.intake.submitBatch(batch)
            for (symbol, result) in zip(symbols, results) {
                if symbol.utf8.elementsEqual(Self.precomposed.utf8) {
                    let receipt = try result.get()
                    #expect(!receipt.duplicate && receipt.messageID != nil)
                } else {
                    guard case .failure(let error as OrderCommandError) = result else {
                        Issue.record("the decomposed symbol was not refused: \(result)")
                        continue
                    }
                    #expect(error.field == "symbol" && error.reason.contains("unknown symbol"), "\(error)")
                }
            }
        }
        // Exactly the precomposed places reached the queue: one per batch.
        #expect(try await h.backlog().reduce(0, +) == 2)
        await h.cleanUp()
    }

    @Test func aKeyOnAnOrderRowAnswersOnlyItsOwnBytes() async throws {
        let h = try await IntakeHarness()
        let placedKey = "cl\u{00E9}-\(UUID().uuidString)", otherForm = placedKey.replacingOccurrences(of: "\u{00E9}", with: "e\u{0301}")
        #expect(placedKey == otherForm && !placedKey.utf8.elementsEqual(otherForm.utf8))
        let order = try h.insertOrder(account: h.active, state: "EXPIRED", key: placedKey)
        let results = try await h.intake.submitBatch([place(h.active, "INFY", key: otherForm), place(h.active, "TCS", key: placedKey)])
            .map { try $0.get() }
        // The other form is a new key: enqueued, not answered with the placed key's order.
        #expect(!results[0].duplicate && results[0].messageID != nil && results[0].orderID == nil)
        #expect(results[1].duplicate && results[1].orderID == order && results[1].messageID == nil)
        #expect(try await h.backlog().reduce(0, +) == 1)
        let queued = try await (0..<h.shards).asyncFlatMap { try await h.payloads(shard: $0) }.map { try OrderCommand.parse(Array($0.utf8)) }
        #expect(queued.count == 1 && queued[0].idempotencyKey.utf8.elementsEqual(otherForm.utf8))
        await h.cleanUp()
    }

    @Test func aNulInOneCommandIsItsRefusalAndTheOthersGoOn() async throws {
        let h = try await IntakeHarness()
        let results = try await h.intake.submitBatch([place(h.active, "IN\u{0}FY"), place(h.active, "INFY", key: "api-\u{0}-x"), place(h.active, "TCS")])
        for (index, field) in [(0, "symbol"), (1, "idempotency_key")] {
            guard case .failure(let error as OrderCommandError) = results[index] else {
                Issue.record("command \(index) was not refused: \(results[index])")
                continue
            }
            #expect(error.field == field && error.reason.contains("NUL"), "\(error)")
        }
        let receipt = try results[2].get()
        #expect(!receipt.duplicate && receipt.messageID != nil)
        #expect(try await h.backlog().reduce(0, +) == 1)
        await h.cleanUp()
    }
}
