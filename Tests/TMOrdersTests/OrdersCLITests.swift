import Foundation
import Testing
import TestSupport
import TMCore
import TMOrders

/// `tm orders` as an operator runs it: place (with a generated key), refusals, cancel, list, show.
@Suite(.serialized) struct OrdersCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func run(_ h: IntakeHarness, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = h.database.url
        environment["TM_QUEUES_DIR"] = h.queueDirectory.path
        environment["TM_FUNCTIONS_DIR"] = h.queueDirectory.path
        return try await runProcess(tm, arguments, environment: environment)
    }

    func enqueueing(_ h: IntakeHarness, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await run(h, ["orders"] + arguments + ["--queue", h.queue])
    }

    @Test func placePrintsTheGeneratedKeyAndARepeatWithItEnqueuesNothing() async throws {
        let h = try await IntakeHarness()
        // By label, exchange found from the symbol's one listing.
        let placed = try await enqueueing(h, ["place", "--account", "main", "--symbol", "TCS", "--side", "buy", "--qty", "5", "--type", "limit",
                                              "--price", "3500.10", "--json"])
        #expect(placed.status == 0, "\(placed.output)")
        let receipt = try JSONValue.parse(placed.output)
        let key = try #require(receipt["idempotency_key"]?.stringValue)
        #expect(key.hasPrefix("cli-") && key.count == 40)
        #expect(receipt["generated_key"] == .bool(true) && receipt["duplicate"] == .bool(false))
        #expect(receipt["shard"] == .number(String(h.shard(of: h.active))))
        #expect(receipt["message"]?["price"] == .string("3500.1") && receipt["message"]?["exchange"] == .string("NSE"))

        let text = try await enqueueing(h, ["place", "--account", h.active.uuidString, "--symbol", "TCS", "--exchange", "NSE", "--side", "buy",
                                            "--qty", "1"])
        #expect(text.status == 0 && text.output.contains("key: cli-") && text.output.contains("(generated;"), "\(text.output)")

        let repeated = try await enqueueing(h, ["place", "--account", "main", "--symbol", "TCS", "--side", "buy", "--qty", "5", "--type", "limit",
                                                "--price", "3500.10", "--key", key])
        #expect(repeated.status == 0 && repeated.output.contains("already enqueued"), "\(repeated.output)")
        #expect(try await h.backlog().reduce(0, +) == 2)
        await h.cleanUp()
    }

    @Test func aRefusalPrintsFieldAndReasonExitsNonZeroAndEnqueuesNothing() async throws {
        let h = try await IntakeHarness()
        let offTick = try await enqueueing(h, ["place", "--account", "main", "--symbol", "INFY", "--exchange", "NSE", "--side", "sell",
                                               "--qty", "1", "--type", "stop-limit", "--price", "1500.05", "--trigger", "1500.07"])
        #expect(offTick.status == 1 && offTick.output.contains("trigger: 1500.07 is off the tick"), "\(offTick.output)")
        let ambiguous = try await enqueueing(h, ["place", "--account", "main", "--symbol", "INFY", "--side", "buy", "--qty", "1"])
        #expect(ambiguous.status == 1 && ambiguous.output.contains("exchange: 'INFY' is listed on BSE, NSE"), "\(ambiguous.output)")
        let paused = try await enqueueing(h, ["place", "--account", "resting", "--symbol", "TCS", "--side", "buy", "--qty", "1"])
        #expect(paused.status == 1 && paused.output.contains("account_id: account \(h.paused.uuidString.lowercased()) is paused"), "\(paused.output)")
        let side = try await enqueueing(h, ["place", "--account", "main", "--symbol", "TCS", "--side", "short", "--qty", "1"])
        #expect(side.status == 1 && side.output.contains("side: 'short' is not a known value"), "\(side.output)")
        let noOrder = try await enqueueing(h, ["cancel", UUID().uuidString])
        #expect(noOrder.status == 1 && noOrder.output.contains("order_id: no order"), "\(noOrder.output)")
        #expect(try await h.backlog().allSatisfy { $0 == 0 })

        let open = try h.insertOrder(account: h.other, state: "ACCEPTED")
        let cancel = try await enqueueing(h, ["cancel", open.uuidString, "--key", "cancel-1"])
        #expect(cancel.status == 0 && cancel.output.contains("enqueued cancel"), "\(cancel.output)")
        let modify = try await enqueueing(h, ["modify", open.uuidString, "--qty", "20", "--price", "1499.95"])
        #expect(modify.status == 0 && modify.output.contains("enqueued modify"), "\(modify.output)")
        #expect(try await h.payloads(shard: h.shard(of: h.other)).count == 2)
        await h.cleanUp()
    }

    @Test func listAndShowTheOrdersRiskRouteQualityAndEveryStateChange() async throws {
        let h = try await IntakeHarness()
        let rejected = try h.insertOrder(account: h.active, state: "RECEIVED", key: "list-rejected")
        try h.db.execute("""
            UPDATE orders SET state = 'RISK_REJECTED', reject_code = 'MAX_NOTIONAL', reject_reason = 'notional 15000.5 over 10000',
                risk_decision = '{"passed": false, "reason": "MAX_NOTIONAL", "emergency_limits": false}'
            WHERE id = \(rejected)
            """)
        try h.db.execute("""
            INSERT INTO order_events (order_id, from_state, to_state, detail) VALUES
                (\(rejected), NULL, 'RECEIVED', NULL), (\(rejected), 'RECEIVED', 'RISK_REJECTED', '{"reason": "MAX_NOTIONAL"}')
            """)
        let filled = try h.insertOrder(account: h.other, state: "RECEIVED", key: "list-filled")
        try h.db.execute("""
            UPDATE orders SET state = 'FILLED', filled_quantity = 10, average_price = 1500.10, requested_price = 1500.05,
                route = '{"scores": [{"broker": "kite", "total": 0.91}]}',
                accepted_at = created_at + interval '12 milliseconds', filled_at = created_at + interval '40 milliseconds'
            WHERE id = \(filled)
            """)

        let all = try await run(h, ["orders", "list", "--json"])
        #expect(all.status == 0, "\(all.output)")
        #expect(try JSONValue.parse(all.output).arrayValue?.count == 2)
        let onlyRejected = try await run(h, ["orders", "list", "--state", "risk_rejected", "--account", "main"])
        #expect(onlyRejected.output.contains(rejected.uuidString.lowercased()) && onlyRejected.output.contains("MAX_NOTIONAL"))
        #expect(!onlyRejected.output.contains(filled.uuidString.lowercased()), "\(onlyRejected.output)")

        let shown = try await run(h, ["orders", "show", filled.uuidString, "--json"])
        let order = try JSONValue.parse(shown.output)
        // Exact decimals, as text.
        #expect(order["average_price"] == .string("1500.10") && order["slippage_bps"] == .string("0.33"))  // stamped by the execution-quality trigger
        #expect(order["route"]?["scores"]?.arrayValue?.first?["broker"] == .string("kite"))
        #expect(order["time_to_accept_ms"] == .number("12") && order["time_to_fill_ms"] == .number("40"))

        let events = try await run(h, ["orders", "show", rejected.uuidString])
        #expect(events.output.contains("RISK_REJECTED (MAX_NOTIONAL: notional 15000.5 over 10000)"), "\(events.output)")
        #expect(events.output.contains("- -> RECEIVED") && events.output.contains("RECEIVED -> RISK_REJECTED  {\"reason\":\"MAX_NOTIONAL\"}"),
                "\(events.output)")
        let eventsJSON = try JSONValue.parse(try await run(h, ["orders", "show", rejected.uuidString, "--json"]).output)
        #expect(eventsJSON["events"]?.arrayValue?.map { $0["to"] } == [.string("RECEIVED"), .string("RISK_REJECTED")])
        #expect(eventsJSON["risk_decision"]?["reason"] == .string("MAX_NOTIONAL"))
        let missing = try await run(h, ["orders", "show", UUID().uuidString])
        #expect(missing.status != 0 && missing.output.contains("no order"))
        await h.cleanUp()
    }

    @Test func unknownListsOrdersWhoseOutcomeIsNotKnownWithWhyAndTheNextLookUp() async throws {
        let h = try await IntakeHarness()
        let unknown = try h.insertOrder(account: h.active, state: "ACCEPTED")
        try h.db.execute("""
            UPDATE orders SET state = 'UNKNOWN', unknown_reason = 'outcome unknown: HTTP 503', submit_attempts = 1, lookup_attempts = 2,
              next_lookup_at = now() + interval '4 seconds' WHERE id = \(unknown)
            """)
        let stuck = try h.insertOrder(account: h.active, state: "ACCEPTED")
        try h.db.execute("UPDATE orders SET state = 'SUBMITTING', submitted_at = now() - interval '5 minutes' WHERE id = \(stuck)")
        let fresh = try h.insertOrder(account: h.active, state: "ACCEPTED")
        try h.db.execute("UPDATE orders SET state = 'SUBMITTING', submitted_at = now() WHERE id = \(fresh)")
        _ = try h.insertOrder(account: h.active, state: "CANCELLED")

        let listed = try await run(h, ["orders", "unknown", "--json"])
        #expect(listed.status == 0, "\(listed.output)")
        let orders = try JSONValue.parse(listed.output).arrayValue ?? []
        #expect(Set(orders.compactMap { $0["id"]?.stringValue }) == [unknown.uuidString.lowercased(), stuck.uuidString.lowercased()])
        let first = try #require(orders.first { $0["id"]?.stringValue == unknown.uuidString.lowercased() })
        #expect(first["unknown_reason"] == .string("outcome unknown: HTTP 503") && first["lookup_attempts"] == .number("2"))
        #expect(first["next_lookup_at"]?.stringValue != nil)
        let text = try await run(h, ["orders", "unknown"])
        #expect(text.status == 0 && text.output.contains("outcome unknown: HTTP 503"), "\(text.output)")
        await h.cleanUp()
    }
}
