import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMQueue

/// An order that no broker of the account holder's active accounts trades is refused at intake
/// (single and batch), naming the symbol and the brokers' exchanges, and nothing is enqueued; once
/// the holder connects a broker that trades the exchange, the same order is enqueued.
@Suite(.serialized) struct IntakeRoutabilityTests {
    func aapl(_ account: UUID, key: String = "api-\(UUID().uuidString)") -> OrderCommand {
        .place(PlaceOrder(idempotencyKey: key, accountID: account, symbol: "AAPL", exchange: "NASDAQ", side: .buy, quantity: 1,
                          type: .limit, limitPrice: 190))
    }

    func refusal(_ result: Result<OrderReceipt, Error>) -> OrderCommandError? {
        if case .failure(let error) = result { return error as? OrderCommandError }
        return nil
    }

    @Test func anOrderNoBrokerOfTheHolderTradesIsRefusedUntilOneIsConnected() async throws {
        let h = try await IntakeHarness()
        try h.db.execute("INSERT INTO instruments (exchange, symbol, lot_size, tick_size, tradable) VALUES ('NASDAQ', 'AAPL', 1, 0.01, true)")
        // The holder's accounts are all at Kite (NSE, BSE, ...): nothing could place a NASDAQ order.
        do {
            let receipt = try await h.intake.submit(aapl(h.active))
            Issue.record("expected a refusal, got \(receipt)")
        } catch let refusal as OrderCommandError {
            #expect(refusal.field == "symbol", "\(refusal)")
            #expect(refusal.reason.contains("AAPL on NASDAQ is not traded by any broker") && refusal.reason.contains("kite trades BCD, BFO, BSE"),
                    "\(refusal)")
        }
        let batch = try await h.intake.submitBatch([aapl(h.active), aapl(h.other)])
        #expect(batch.allSatisfy { refusal($0)?.field == "symbol" }, "\(batch)")
        #expect(try await h.backlog().allSatisfy { $0 == 0 }, "a refused order was enqueued")

        // A paused Alpaca account routes nothing either.
        let alpaca = UUID()
        try h.db.execute("INSERT INTO broker_accounts (id, user_id, broker, label, status) VALUES (\(alpaca), \(h.user), 'alpaca', 'us', 'paused')")
        let stillRefused = try await h.intake.submitBatch([aapl(h.active)])
        #expect(refusal(stillRefused[0])?.field == "symbol", "\(stillRefused)")

        // Active: the router has a candidate, so intake enqueues (single and batch alike).
        try h.db.execute("UPDATE broker_accounts SET status = 'active' WHERE id = \(alpaca)")
        _ = try await h.intake.submit(aapl(h.active))
        let passed = try await h.intake.submitBatch([aapl(h.other)])
        #expect(refusal(passed[0]) == nil, "\(passed)")
        #expect(try await h.backlog().reduce(0, +) == 2)
        await h.cleanUp()
    }
}
