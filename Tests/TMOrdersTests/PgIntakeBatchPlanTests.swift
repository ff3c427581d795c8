import Foundation
import Testing
import TestSupport
import TMOrders
import TMPostgres

/// The batch intake's facts statement (a call of several places) is planned once per session, not at
/// every call, and its plan looks each account and each placed key up by its unique index.
///
/// Postgres plans a prepared statement's first 5 runs with their values (custom plans) and keeps its
/// generic plan from the 6th only if the generic plan's estimated cost is no higher than the custom
/// plans' average. With the arrays' lengths in view, a call of 2–4 places costs less than the generic
/// plan's 10 rows an array, so every call was planned afresh (0 generic plans; ~1.2M instructions a
/// call of 4 places, session 35). The statement reads its arrays through sub-SELECTs, whose lengths
/// the planner never sees.
@Suite(.serialized) struct PgIntakeBatchPlanTests {
    private func place(_ account: UUID, _ symbol: String = "INFY", key: String = "api-\(UUID().uuidString)") -> OrderCommand {
        .place(PlaceOrder(idempotencyKey: key, accountID: account, symbol: symbol, exchange: "NSE", side: .buy, quantity: 1,
                          type: .limit, limitPrice: Decimal(string: "1500.05"), triggerPrice: nil))
    }

    private func plans(_ h: IntakeHarness) throws -> [(generic: Int, custom: Int)] {
        try h.db.query("""
            SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements
            WHERE statement LIKE '%''account'' AS fact%'
            """).rows.map { (try $0.decode("generic", as: Int.self), try $0.decode("custom", as: Int.self)) }
    }

    @Test func theBatchStatementKeepsItsGenericPlanAcrossCalls() async throws {
        let h = try await IntakeHarness()
        let placed = "api-placed-\(UUID().uuidString)"
        let order = try h.insertOrder(account: h.active, state: "ACCEPTED", key: placed)
        let calls = 12
        var enqueued = 0, duplicates = 0, refused = 0
        for call in 0..<calls {
            // Two to four places a call, the facts as a live intake meets them: accepted, refused for
            // the account or the symbol, a key already on an order row.
            var commands = [place(h.active), place(h.other, "TCS")]
            if call % 2 == 0 { commands.append(place(h.paused)) }
            if call % 3 == 0 { commands.append(place(h.active, key: placed)) }
            if call % 4 == 0 { commands.append(place(h.other, "NOPE")) }
            for result in try await h.intake.submitBatch(commands) {
                switch result {
                case .success(let receipt) where receipt.duplicate:
                    #expect(receipt.orderID == order)
                    duplicates += 1
                case .success: enqueued += 1
                case .failure: refused += 1
                }
            }
        }
        #expect(enqueued == 2 * calls)
        #expect(duplicates == 4)
        #expect(refused == 6 + 3)
        #expect(try await h.backlog().reduce(0, +) == enqueued)
        let counts = try plans(h)
        #expect(counts.count == 1, "the batch statement prepared once on the session")
        // Custom plans only for the first 5 runs; every later call runs the generic plan.
        #expect(counts.first?.custom ?? -1 <= 5, "\(counts)")
        #expect(counts.first?.generic ?? 0 >= calls - 5, "\(counts)")
        await h.cleanUp()
    }

    @Test func theBatchStatementsGenericPlanLooksEachAccountAndKeyUpByItsIndex() async throws {
        let h = try await IntakeHarness()
        try h.db.simpleQuery("SET plan_cache_mode = force_generic_plan")
        _ = try await h.intake.submitBatch([place(h.active), place(h.other, "TCS")])
        guard let statement = try h.db.query("SELECT name FROM pg_prepared_statements WHERE statement LIKE '%''account'' AS fact%'").rows.first else {
            Issue.record("the batch statement is not prepared on the session")
            await h.cleanUp()
            return
        }
        let name: String = try statement.decode("name")
        // Parameters in the statement's order: the accounts, the exchanges, the symbols, the keys.
        let plan = try h.db.query(PostgresQuery(unsafeSQL: "EXPLAIN EXECUTE \(name)('{\(h.active),\(h.other)}', '{NSE}', '{INFY}', '{k1,k2}')")).rows
            .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
        #expect(!plan.contains("Seq Scan on broker_accounts"), "\(plan)")
        #expect(!plan.contains("Seq Scan on orders"), "\(plan)")
        // An index whose first column is the account's id (the primary key or (id, user_id)), probed per key.
        #expect(plan.contains("Index Cond: (id = w.id)"), "\(plan)")
        #expect(plan.contains("Index Scan using orders_idempotency_key_key"), "\(plan)")
        #expect(plan.contains("Index Scan using instruments_exchange_symbol_key"), "\(plan)")
        await h.cleanUp()
    }
}
