import Foundation
import Testing
import TestSupport
import TMOrders
import TMPostgres

/// A lone place (`submit`, or `submitBatch` of one) reads its facts by one prepared statement of
/// scalars (`OrderIntake.PlaceFacts`): on the session's GENERIC plan — the one a long-lived intake
/// runs — every change to an account, an instrument or the order rows applies to the very next order,
/// each refusal names its field and enqueues nothing; the plan looks each fact up by its key (no scan
/// of the accounts, nor of every active account for the holder's brokers); a batch of several keeps
/// its own one statement.
@Suite(.serialized) struct IntakeLoneFactsTests {
    enum Outcome: Equatable { case enqueued, duplicate(UUID), refused(String) }

    func place(_ account: UUID, _ symbol: String = "INFY", price: String = "1500.05", key: String = "api-\(UUID().uuidString)") -> OrderCommand {
        .place(PlaceOrder(idempotencyKey: key, accountID: account, symbol: symbol, exchange: "NSE", side: .buy, quantity: 1,
                          type: .limit, limitPrice: Decimal(string: price), triggerPrice: nil))
    }

    /// One place through `submit` or through `submitBatch` of one.
    func submit(_ h: IntakeHarness, _ command: OrderCommand, batch: Bool) async throws -> Outcome {
        let result: Result<OrderReceipt, Error>
        if batch {
            result = try await h.intake.submitBatch([command])[0]
        } else {
            do { result = .success(try await h.intake.submit(command)) } catch let refusal as OrderCommandError { result = .failure(refusal) }
        }
        switch result {
        case .success(let receipt): return receipt.duplicate ? .duplicate(receipt.orderID ?? UUID()) : .enqueued
        case .failure(let error): return .refused((error as? OrderCommandError)?.field ?? "\(error)")
        }
    }

    @Test(arguments: [false, true]) func everyChangeAppliesToTheNextLoneOrderOnTheGenericPlan(batch: Bool) async throws {
        let h = try await IntakeHarness()
        // The plan a long-lived intake settles on (Postgres takes it after five custom ones).
        try h.db.simpleQuery("SET plan_cache_mode = force_generic_plan")
        let placed = "api-placed-\(UUID().uuidString)"
        let order = try h.insertOrder(account: h.active, state: "ACCEPTED", key: placed)
        let steps: [(String?, OrderCommand, Outcome)] = [
            (nil, place(h.active), .enqueued),
            ("UPDATE broker_accounts SET status = 'paused' WHERE id = '\(h.active)'", place(h.active), .refused("account_id")),
            ("UPDATE broker_accounts SET status = 'active' WHERE id = '\(h.active)'", place(h.active), .enqueued),
            ("UPDATE instruments SET tradable = false WHERE exchange = 'NSE' AND symbol = 'INFY'", place(h.active), .refused("symbol")),
            ("UPDATE instruments SET tradable = true, tick_size = 0.1 WHERE exchange = 'NSE' AND symbol = 'INFY'", place(h.active), .refused("price")),
            ("UPDATE instruments SET tick_size = 0.05 WHERE exchange = 'NSE' AND symbol = 'INFY'", place(h.active), .enqueued),
            (nil, place(h.active, "WIPRO"), .refused("symbol")),
            ("INSERT INTO instruments (exchange, symbol, lot_size, tick_size) VALUES ('NSE', 'WIPRO', 1, 0.05)", place(h.active, "WIPRO"), .enqueued),
            (nil, place(UUID()), .refused("account_id")),
            (nil, place(h.paused), .refused("account_id")),
            (nil, place(h.active, key: placed), .duplicate(order)),
            ("UPDATE broker_accounts SET broker = 'manual' WHERE id = '\(h.other)'", place(h.other), .refused("account_id")),
        ]
        var enqueued = 0
        for (index, (change, command, expected)) in steps.enumerated() {
            if let change { try h.db.simpleQuery(change) }
            let before = try await h.backlog().reduce(0, +)
            let outcome = try await submit(h, command, batch: batch)
            #expect(outcome == expected, "step \(index)")
            if outcome == .enqueued { enqueued += 1 }
            // A refusal or a duplicate enqueues nothing.
            #expect(try await h.backlog().reduce(0, +) == before + (outcome == .enqueued ? 1 : 0), "step \(index)")
        }
        #expect(enqueued == 4)
        // Every lone call ran the one statement, planned generically.
        let plans = try h.db.query("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%placed_order%'").rows
        #expect(plans.count == 1)
        #expect(try plans.first?.decode("custom_plans", as: Int.self) == 0)
        await h.cleanUp()
    }

    @Test func theLoneStatementsGenericPlanLooksEachFactUpByItsKey() async throws {
        let h = try await IntakeHarness()
        try h.db.simpleQuery("SET plan_cache_mode = force_generic_plan")
        #expect(try await submit(h, place(h.active), batch: true) == .enqueued)
        guard let statement = try h.db.query("SELECT name FROM pg_prepared_statements WHERE statement LIKE '%placed_order%'").rows.first else {
            Issue.record("the lone place's statement is not prepared on the session")
            await h.cleanUp()
            return
        }
        let name: String = try statement.decode("name")
        // Parameters in the statement's order: the key, the account, the exchange, the symbol.
        let plan = try h.db.query(PostgresQuery(unsafeSQL: "EXPLAIN EXECUTE \(name)('k', '\(h.active)', 'NSE', 'INFY')")).rows
            .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
        #expect(!plan.contains("Seq Scan"), "\(plan)")
        // The holder's active brokers by holder (0041), not by a scan of every active account.
        #expect(!plan.contains("broker_accounts_due_idx"), "\(plan)")
        #expect(plan.contains("broker_accounts_holder_active_idx"), "\(plan)")
        await h.cleanUp()
    }

    @Test func aBatchOfSeveralPlacesIsOneRoundTripOfOneStatement() async throws {
        let h = try await IntakeHarness()
        let placed = "api-placed-\(UUID().uuidString)"
        let order = try h.insertOrder(account: h.active, state: "ACCEPTED", key: placed)
        let preparedBefore = h.db.preparedCount
        for commands in [[place(h.active), place(h.paused, key: placed), place(h.other, "TCS")], [place(h.active, key: placed), place(UUID())]] {
            let trips = h.db.roundTrips, parsed = h.db.preparedCount
            let results = try await h.intake.submitBatch(commands)
            #expect(h.db.roundTrips - trips == 1 + (h.db.preparedCount - parsed))
            #expect(results.count == commands.count)
        }
        #expect(h.db.preparedCount == preparedBefore + 1, "one statement parsed for every batch")
        // The placed key answers with its order in a batch too; the paused account is refused first.
        let again = try await h.intake.submitBatch([place(h.active, key: placed), place(h.paused)])
        #expect((try? again[0].get())?.orderID == order)
        guard case .failure(let refusal as OrderCommandError) = again[1] else { Issue.record("\(again[1])"); return }
        #expect(refusal.field == "account_id")
        #expect(try await h.backlog().reduce(0, +) == 2)
        await h.cleanUp()
    }
}
