import Foundation
import Testing
import TestSupport
import TMOrders

/// The batch intake reads the database's facts of a call in ONE round trip, with ONE statement parsed
/// once per session (the API's intake mostly gets one order a call): each call below — accepted,
/// refused for the account, the symbol or the tick, or answered as a duplicate of an order row — makes
/// exactly one round trip to Postgres (the first, one more for parsing its statement), and only the
/// first parses a statement.
@Suite(.serialized) struct PgIntakeOneTripTests {
    @Test func eachCallReadsItsFactsInOneRoundTripOfOnePreparedStatement() async throws {
        let h = try await IntakeHarness()
        let placed = "api-placed-\(UUID().uuidString)"
        let order = try h.insertOrder(account: h.active, state: "ACCEPTED", key: placed)
        func place(_ account: UUID, _ symbol: String = "INFY", price: String = "1500.05", key: String = "api-\(UUID().uuidString)") -> OrderCommand {
            .place(PlaceOrder(idempotencyKey: key, accountID: account, symbol: symbol, exchange: "NSE", side: .buy, quantity: 1,
                              type: .limit, limitPrice: Decimal(string: price), triggerPrice: nil))
        }
        enum Outcome: Equatable { case enqueued, duplicate(UUID), refused(String) }
        let calls: [(OrderCommand, Outcome)] = [
            (place(h.active), .enqueued),
            (place(h.paused), .refused("account_id")),
            (place(UUID()), .refused("account_id")),
            (place(h.active, "NOPE"), .refused("symbol")),
            (place(h.active, price: "1500.03"), .refused("price")),
            (place(h.active, key: placed), .duplicate(order)),
            (place(h.other, "TCS"), .enqueued),
        ]
        let preparedBefore = h.db.preparedCount
        for (index, (command, expected)) in calls.enumerated() {
            let trips = h.db.roundTrips, parsed = h.db.preparedCount
            let result = try await h.intake.submitBatch([command])
            // The first call's parse is a round trip of its own, once per session.
            #expect(h.db.roundTrips - trips == 1 + (h.db.preparedCount - parsed), "call \(index): \(h.db.roundTrips - trips) round trips")
            let outcome: Outcome
            switch result[0] {
            case .success(let receipt): outcome = receipt.duplicate ? .duplicate(receipt.orderID ?? UUID()) : .enqueued
            case .failure(let error): outcome = .refused((error as? OrderCommandError)?.field ?? "\(error)")
            }
            #expect(outcome == expected, "call \(index)")
        }
        #expect(h.db.preparedCount == preparedBefore + 1, "one statement parsed for every call")
        // Exactly the two accepted orders were enqueued.
        #expect(try await h.backlog().reduce(0, +) == 2)
    }
}
