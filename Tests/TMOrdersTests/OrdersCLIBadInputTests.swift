import Foundation
import Testing
import TestSupport
import TMCore
import TMOrders

/// `tm orders place` with each kind of bad input the order path names — unknown account or symbol,
/// a quantity off the lot, a price off the tick, a limit without a price, a stop without a trigger,
/// a paused account, an instrument no broker of the holder trades — prints the field and the reason,
/// says nothing was enqueued, exits 1, and the queue stays empty. `list` shows the route's broker.
@Suite(.serialized) struct OrdersCLIBadInputTests {
    /// `tm` against the harness's servers, as `OrdersCLITests` runs it.
    func run(_ h: IntakeHarness, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await OrdersCLITests().run(h, arguments)
    }

    @Test func eachBadInputNamesItsFieldAndReasonAndEnqueuesNothing() async throws {
        let h = try await IntakeHarness()
        try h.db.execute("INSERT INTO instruments (exchange, symbol, lot_size, tick_size, tradable) VALUES ('NASDAQ', 'AAPL', 1, 0.01, true)")
        let cases: [(arguments: [String], expected: String)] = [
            (["--account", "nobody", "--symbol", "TCS", "--side", "buy", "--qty", "1"], "account_id: no account with id or label 'nobody'"),
            (["--account", UUID().uuidString, "--symbol", "TCS", "--exchange", "NSE", "--side", "buy", "--qty", "1"], "account_id: no account "),
            (["--account", "main", "--symbol", "NOPE", "--side", "buy", "--qty", "1"], "symbol: unknown symbol 'NOPE'"),
            (["--account", "main", "--symbol", "TCS", "--exchange", "BSE", "--side", "buy", "--qty", "1"], "symbol: unknown symbol 'TCS' on BSE"),
            (["--account", "main", "--symbol", "NIFTY26JANFUT", "--side", "buy", "--qty", "100", "--type", "limit", "--price", "100"],
             "quantity: 100 is not a multiple of the lot size 75"),
            (["--account", "main", "--symbol", "TCS", "--side", "buy", "--qty", "1", "--type", "limit", "--price", "3500.03"],
             "price: 3500.03 is off the tick"),
            (["--account", "main", "--symbol", "TCS", "--side", "buy", "--qty", "1", "--type", "limit"], "price: a limit order needs a limit price"),
            (["--account", "main", "--symbol", "TCS", "--side", "buy", "--qty", "1", "--type", "stop"], "trigger: a stop order needs a trigger price"),
            (["--account", "main", "--symbol", "TCS", "--side", "buy", "--qty", "1", "--type", "stop-limit", "--price", "3500"],
             "trigger: a stop_limit order needs a trigger price"),
            (["--account", "resting", "--symbol", "TCS", "--side", "buy", "--qty", "1"],
             "account_id: account \(h.paused.uuidString.lowercased()) is paused, not active"),
            (["--account", "main", "--symbol", "SUSPENDED", "--side", "buy", "--qty", "1"], "symbol: SUSPENDED on NSE is not tradable"),
            // A negative number is the value, not an option.
            (["--account", "main", "--symbol", "TCS", "--side", "buy", "--qty", "-1"], "quantity: "),
            (["--account", "main", "--symbol", "TCS", "--side", "buy", "--qty", "1", "--type", "limit", "--price", "-5"], "price: "),
            (["--account", "main", "--symbol", "AAPL", "--side", "buy", "--qty", "1"],
             "symbol: AAPL on NASDAQ is not traded by any broker of the account holder's active accounts"),
        ]
        for (arguments, expected) in cases {
            let result = try await run(h, ["orders", "place"] + arguments + ["--queue", h.queue])
            #expect(result.status == 1, "\(arguments): \(result.output)")
            #expect(result.output.contains(expected) && result.output.contains("nothing was enqueued"), "\(arguments): \(result.output)")
        }
        #expect(try await h.backlog().allSatisfy { $0 == 0 }, "a refused order was enqueued")
        await h.cleanUp()
    }

    @Test func listShowsTheBrokerAndTheTimeToAccept() async throws {
        let h = try await IntakeHarness()
        let order = try h.insertOrder(account: h.active, state: "ACCEPTED")
        try h.db.execute("UPDATE orders SET accepted_at = created_at + interval '7 milliseconds' WHERE id = \(order)")
        let listed = try await run(h, ["orders", "list"])
        #expect(listed.status == 0, "\(listed.output)")
        let lines = listed.output.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("BROKER") == true && lines.first?.contains("ACCEPT MS") == true, "\(listed.output)")
        let row = try #require(lines.first { $0.hasPrefix(order.uuidString.lowercased()) })
        let columns = row.split(separator: " ").map(String.init)
        #expect(columns.contains("kite") && columns.contains("7"), "\(row)")

        // An order resolved after an unknown outcome says it *was* unknown, and why.
        try h.db.execute("UPDATE orders SET unknown_reason = 'outcome unknown: HTTP 503' WHERE id = \(order)")
        let shown = try await run(h, ["orders", "show", order.uuidString])
        #expect(shown.output.contains("was unknown:      outcome unknown: HTTP 503") && !shown.output.contains("unknown because"), "\(shown.output)")
        await h.cleanUp()
    }
}
