import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMQueue
import TMRisk

/// Exactly-once placement against broker-sim's real wire formats, one fault at a time. Every test
/// ends by counting broker-sim's orders per client id: one per idempotency key, whatever happened.
@Suite(.serialized) struct PlacementTests {
    static let placeEndpoint: [BrokerKind: String] = [
        .kite: "POST /orders/regular", .upstox: "POST /v2/order/place", .alpaca: "POST /v2/orders", .binance: "POST /api/v3/order",
    ]

    @Test func anOrderIsPlacedOnceAtEveryBrokerWithEachStepRecorded() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        for broker in [BrokerKind.kite, .upstox, .alpaca, .binance] {
            let key = "happy-\(broker.rawValue)"
            let result = try await placer.handle(h.place(broker, key: key), fences: PlacementHarness.delivery())
            #expect(result.state == .accepted, "\(broker): \(result.text)")
            let row = try h.row(key: key)
            let clientID: String = try row.decode("client_order_id")
            #expect(clientID == ClientOrderID.derive(idempotencyKey: key, for: broker))
            #expect(try h.brokerOrders(broker, clientOrderID: clientID) == 1)
            #expect(try row.decode("broker_order_id", as: String?.self) != nil)
            #expect(try row.decode("accepted_at", as: Date?.self) != nil)
            #expect(try row.decode("requested_price", as: Decimal?.self) != nil)
            #expect(try h.events(key: key) == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING", "SUBMITTING>ACCEPTED"])
            // The same message again (a redelivery after the ack was lost): nothing new anywhere.
            let again = try await placer.handle(h.place(broker, key: key), fences: PlacementHarness.delivery())
            #expect(again.state == .accepted)
            #expect(try h.brokerOrders(broker, clientOrderID: clientID) == 1)
        }
        // Kite's tag is its 20 characters.
        #expect(ClientOrderID.derive(idempotencyKey: "happy-kite", for: .kite).count == 20)
        // Each state change is a trade event, in the outbox with the same transaction as the row.
        let events = try h.db.query("SELECT count(*) AS n FROM trade_event_messages WHERE payload ->> 'event' = 'order.state'").rows[0].decode("n", as: Int.self)
        #expect(events == 16)
    }

    @Test(arguments: [BrokerKind.kite, .binance])
    func aResponseDroppedAfterExecutingIsResolvedByLookUpNeverResent(broker: BrokerKind) async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        try h.fault(#"{"broker":"\#(broker.rawValue)","endpoint":"\#(Self.placeEndpoint[broker]!)","drop_response_after_execute":true,"count":1}"#)
        let key = "dropped-\(broker.rawValue)"
        await #expect(throws: PlacementPending.self) { try await placer.handle(h.place(broker, key: key), fences: PlacementHarness.delivery()) }
        #expect(try h.state(key: key) == "UNKNOWN")
        #expect(try h.row(key: key).decode("unknown_reason", as: String?.self) != nil)
        let result = try await placer.handle(h.place(broker, key: key), fences: PlacementHarness.delivery())
        #expect(result.state == .accepted)
        let row = try h.row(key: key)
        #expect(try row.decode("submit_attempts", as: Int32.self) == 1)
        #expect(try h.brokerOrders(broker, clientOrderID: try row.decode("client_order_id")) == 1)
        #expect(try h.events(key: key).suffix(2) == ["SUBMITTING>UNKNOWN", "UNKNOWN>ACCEPTED"])
    }

    @Test func aTimedOutCallIsNeverOvertakenByASecondSend() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer(timeout: .milliseconds(800))
        // broker-sim holds the request past the client's timeout, then executes it.
        try h.fault(#"{"broker":"kite","endpoint":"POST /orders/regular","hang_ms":2500,"count":1}"#)
        let key = "timeout-kite"
        await #expect(throws: PlacementPending.self) { try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery()) }
        #expect(try h.state(key: key) == "UNKNOWN")
        let clientID: String = try h.row(key: key).decode("client_order_id")
        // Redelivered at once: the look-up finds nothing yet, and nothing is sent again.
        do {
            let early = try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
            #expect(early.state == .accepted)  // (only if the hang already ended)
        } catch is PlacementDeferred {
            // Not found yet: the message waits for the resend window, no attempt used.
            #expect(try h.state(key: key) == "UNKNOWN")
        }
        try await eventually("the hung request to execute at broker-sim") { try h.brokerOrders(.kite, clientOrderID: clientID) == 1 }
        let result = try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
        #expect(result.state == .accepted)
        #expect(try h.row(key: key).decode("submit_attempts", as: Int32.self) == 1)
        #expect(try h.brokerOrders(.kite, clientOrderID: clientID) == 1)
    }

    @Test func aServerErrorIsSentAgainOnlyAfterTheLookUpWindow() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer(resendAfter: .seconds(30))
        try h.fault(#"{"broker":"alpaca","endpoint":"POST /v2/orders","error_rate":1,"status":503,"count":1}"#)
        let key = "server-error-alpaca"
        await #expect(throws: PlacementPending.self) { try await placer.handle(h.place(.alpaca, key: key), fences: PlacementHarness.delivery()) }
        #expect(try h.state(key: key) == "UNKNOWN")
        let clientID: String = try h.row(key: key).decode("client_order_id")
        // Within the window: looked up, not found, not sent; the message waits for the window's end
        // without spending an attempt (its retries would otherwise run out before it).
        let sentAt = try h.db.query("SELECT submitted_at FROM orders WHERE idempotency_key = \(key)").rows[0].decode("submitted_at", as: Date.self)
        let deferral = await #expect(throws: PlacementDeferred.self) {
            try await placer.handle(h.place(.alpaca, key: key), fences: PlacementHarness.delivery())
        }
        #expect(abs(try #require(deferral).retryNotBefore.timeIntervalSince(sentAt.addingTimeInterval(30))) < 0.001)
        #expect(try h.brokerOrders(.alpaca, clientOrderID: clientID) == 0)
        #expect(try h.row(key: key).decode("submit_attempts", as: Int32.self) == 1)
        // Past it: the broker never got it, so the same client id goes out once more.
        h.clock.advance(.seconds(31))
        let result = try await placer.handle(h.place(.alpaca, key: key), fences: PlacementHarness.delivery())
        #expect(result.state == .accepted)
        #expect(try h.row(key: key).decode("submit_attempts", as: Int32.self) == 2)
        #expect(try h.brokerOrders(.alpaca, clientOrderID: clientID) == 1)
    }

    @Test func twoDeliveriesOfOneMessageAtOncePlaceOneOrder() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        // Slow answers, so the two deliveries overlap inside the broker call.
        try h.fault(#"{"broker":"upstox","endpoint":"POST /v2/order/place","latency_ms":400}"#)
        let key = "twice-upstox"
        let message = UUID().uuidString
        async let first = try? placer.handle(h.place(.upstox, key: key), fences: PlacementHarness.delivery(message, epoch: 1))
        async let second = try? placer.handle(h.place(.upstox, key: key), fences: PlacementHarness.delivery(message, epoch: 2))
        _ = await (first, second)
        let clientID: String = try h.row(key: key).decode("client_order_id")
        #expect(try h.brokerOrders(.upstox, clientOrderID: clientID) == 1)
        try await eventually("the order to settle") {
            (try? await placer.handle(h.place(.upstox, key: key), fences: PlacementHarness.delivery(message, epoch: 3)))?.state == .accepted
        }
        #expect(try h.brokerOrders(.upstox, clientOrderID: clientID) == 1)
        #expect(try h.db.query("SELECT count(*) AS n FROM orders WHERE idempotency_key = \(key)").rows[0].decode("n", as: Int.self) == 1)
    }

    @Test func aCrashBetweenTheCallAndTheWriteIsResolvedByLookUp() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        // The state a worker killed mid-call leaves: the broker has the order, the row says SUBMITTING.
        try h.fault(#"{"broker":"binance","endpoint":"POST /api/v3/order","drop_response_after_execute":true,"count":1}"#)
        let key = "crash-binance"
        _ = try? await placer.handle(h.place(.binance, key: key), fences: PlacementHarness.delivery())
        try h.db.execute("UPDATE orders SET state = 'SUBMITTING', unknown_reason = NULL WHERE idempotency_key = \(key)")
        let result = try await placer.handle(h.place(.binance, key: key), fences: PlacementHarness.delivery())
        #expect(result.state == .accepted)
        #expect(try h.row(key: key).decode("submit_attempts", as: Int32.self) == 1)
        #expect(try h.brokerOrders(.binance, clientOrderID: try h.row(key: key).decode("client_order_id")) == 1)
    }

    @Test func aDeadLetterReplayedAfterTheOrderWasPlacedSendsNothing() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        try h.fault(#"{"broker":"kite","endpoint":"POST /orders/regular","drop_response_after_execute":true,"count":1}"#)
        let key = "replay-kite"
        // Its deliveries ran out while the outcome was unknown (the message was dead-lettered)...
        _ = try? await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
        #expect(try h.state(key: key) == "UNKNOWN")
        // ...then an operator replays it: a new delivery of the same message.
        let replayed = try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
        #expect(replayed.state == .accepted)
        let again = try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
        #expect(again.note.contains("already"))
        #expect(try h.brokerOrders(.kite, clientOrderID: try h.row(key: key).decode("client_order_id")) == 1)
    }

    @Test func theUnknownSweepResolvesAnOrderWhoseMessageIsGone() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        try h.fault(#"{"broker":"alpaca","endpoint":"POST /v2/orders","drop_response_after_execute":true,"count":1}"#)
        let key = "sweep-alpaca"
        _ = try? await placer.handle(h.place(.alpaca, key: key), fences: PlacementHarness.delivery())
        #expect(try h.state(key: key) == "UNKNOWN")
        // Not yet due: the sweep leaves it.
        #expect(await placer.sweepUnknown { _ in PlacementFences(fences: []) } == 0)
        h.clock.advance(.seconds(120))
        #expect(await placer.sweepUnknown { _ in PlacementFences(fences: []) } == 1)
        #expect(try h.state(key: key) == "ACCEPTED")
        #expect(try h.brokerOrders(.alpaca, clientOrderID: try h.row(key: key).decode("client_order_id")) == 1)
    }

    @Test func aBrokerRefusalRejectsTheOrderReleasesItsReservationAndNotifiesTheUser() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let key = "refused-kite"
        // broker-sim does not list this symbol: Kite refuses the order (an InputException).
        let result = try await placer.handle(h.place(.kite, key: key, symbol: "NOSUCHSYMBOL"), fences: PlacementHarness.delivery())
        #expect(result.state == .rejected)
        let row = try h.row(key: key)
        #expect(try row.decode("reject_code", as: String?.self) != nil)
        #expect(h.risk.released.contains(try row.decode("id", as: UUID.self)))
        let notified = try h.db.query("""
            SELECT count(*) AS n FROM notifications WHERE kind = 'trade_execution_failed' AND payload ->> 'idempotency_key' = \(key)
            """).rows[0].decode("n", as: Int.self)
        #expect(notified == 1)
        #expect(try await h.redis.send("XLEN", QueueKeys(queue: h.notifications, shard: 0).stream).int == 1)
    }

    @Test func aRiskDenialIsStoredWithItsReasonAndNeverSent() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        h.risk.deny = RiskDenial(.quantityExceedsMaximum, "quantity 2 exceeds the maximum 1")
        let placer = h.placer()
        let key = "denied-alpaca"
        let result = try await placer.handle(h.place(.alpaca, key: key), fences: PlacementHarness.delivery())
        #expect(result.state == .riskRejected)
        let row = try h.db.query("""
            SELECT reject_code, risk_decision ->> 'passed' AS passed, risk_decision ->> 'reason' AS reason, client_order_id FROM orders
            WHERE idempotency_key = \(key)
            """).rows[0]
        #expect(try row.decode("reject_code", as: String.self) == "QUANTITY_EXCEEDS_MAXIMUM")
        #expect(try row.decode("passed", as: String.self) == "false")
        #expect(try h.brokerOrders(.alpaca, clientOrderID: try row.decode("client_order_id")) == 0)
        #expect(try h.events(key: key) == ["->RECEIVED", "RECEIVED>RISK_REJECTED"])
        let published = try h.db.query("""
            SELECT count(*) AS n FROM trade_event_messages WHERE payload ->> 'idempotency_key' = \(key) AND payload ->> 'to' = 'RISK_REJECTED'
            """).rows[0].decode("n", as: Int.self)
        #expect(published == 1)
        #expect(try h.db.query("SELECT count(*) AS n FROM notifications WHERE kind = 'trade_execution_failed'").rows[0].decode("n", as: Int.self) == 1)
        let audited = try h.db.query("""
            SELECT details ->> 'code' AS code FROM audit_log WHERE action = 'order.risk-rejected' AND correlation_id = \(key)
            """).rows
        #expect(try audited.map { try $0.decode("code", as: String.self) } == ["QUANTITY_EXCEEDS_MAXIMUM"])
    }

    @Test func aCancelRacingAFillEndsInTheBrokersTruth() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        // A working order, cancelled: CANCELLED.
        _ = try await placer.handle(h.place(.kite, key: "to-cancel"), fences: PlacementHarness.delivery())
        let working = try h.row(key: "to-cancel").decode("id", as: UUID.self)
        let cancelled = try await placer.handle(h.cancel(.kite, order: working), fences: PlacementHarness.delivery())
        #expect(cancelled.state == .cancelled)
        // A working order that fills at the broker before the cancel arrives: FILLED, not CANCELLED.
        _ = try await placer.handle(h.place(.kite, key: "filled-first"), fences: PlacementHarness.delivery())
        let row = try h.row(key: "filled-first")
        let brokerID: String = try row.decode("broker_order_id")
        try h.sim.admin("POST", "/admin/orders/kite/\(h.apiKey(.kite))/\(brokerID)/fill", #"{"quantity":"2","price":"1400"}"#)
        let raced = try await placer.handle(h.cancel(.kite, order: try row.decode("id")), fences: PlacementHarness.delivery())
        #expect(raced.state == .filled)
        let after = try h.row(key: "filled-first")
        #expect(try after.decode("filled_quantity", as: Decimal.self) == 2)
        #expect(try after.decode("average_price", as: Decimal?.self) == 1400)
        #expect(try after.decode("slippage_bps", as: Decimal?.self) == 0)
    }

    @Test(arguments: [BrokerKind.kite, .alpaca])
    func aModifyChangesTheOrderAtTheBrokerOnce(broker: BrokerKind) async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let key = "modify-\(broker.rawValue)"
        _ = try await placer.handle(h.place(broker, key: key), fences: PlacementHarness.delivery())
        let id: UUID = try h.row(key: key).decode("id")
        let price = broker == .kite ? "1401" : "181"
        let message = h.modify(broker, order: id, price: price, key: "m-\(key)")
        let modified = try await placer.handle(message, fences: PlacementHarness.delivery())
        #expect(modified.state == .accepted, "\(modified.text)")
        #expect(try h.db.query("SELECT price FROM orders WHERE id = \(id)").rows[0].decode("price", as: Decimal.self) == Decimal(string: price))
        // The same modify again (redelivered): no second replacement at the broker.
        let before = try h.brokerOrderCounts(broker).values.reduce(0, +)
        _ = try await placer.handle(message, fences: PlacementHarness.delivery())
        #expect(try h.brokerOrderCounts(broker).values.reduce(0, +) == before)
        #expect(try h.brokerOrderCounts(broker).values.allSatisfy { $0 == 1 })
    }

    @Test func anAnswerArrivingAfterAnotherWriterMovedTheOrderNeverMovesItBack() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer(timeout: .seconds(10))
        // The broker holds the request; meanwhile a sync finds the order filled and records it.
        try h.fault(#"{"broker":"kite","endpoint":"POST /orders/regular","hang_ms":3000,"count":1}"#)
        let key = "overtaken-kite"
        let call = Task { try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery()) }
        try await eventually("the order to be SUBMITTING") { (try? h.state(key: key)) == "SUBMITTING" }
        try h.db.execute("""
            UPDATE orders SET state = 'FILLED', filled_quantity = quantity, average_price = 1400, version = version + 1
            WHERE idempotency_key = \(key)
            """)
        _ = try? await call.value
        // The broker's "open" answer, read before the fill, is not applied over the newer state.
        #expect(try h.state(key: key) == "FILLED")
        #expect(!(try h.events(key: key)).contains("SUBMITTING>ACCEPTED"))
        #expect(try h.row(key: key).decode("slippage_bps", as: Decimal?.self) == 0)
    }

    @Test func aLargeOrderIsSplitAcrossBrokersEachChildPlacedOnceUnderItsOwnClientID() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        h.risk.averageTradeValue = 100  // the order (10 × 1,400) is far above 10× the account's average trade
        let placer = h.placer(routes: IndianBrokersRoute(kite: h.accounts[.kite]!, upstox: h.accounts[.upstox]!))
        let key = "split-infy"
        let result = try await placer.handle(h.place(.kite, key: key, quantity: "10"), fences: PlacementHarness.delivery())
        #expect(result.state == .accepted, "\(result.text)")
        let parent: UUID = try h.row(key: key).decode("id")
        let children = try h.db.query("""
            SELECT idempotency_key, client_order_id, quantity, state, a.broker FROM orders o JOIN broker_accounts a ON a.id = o.account_id
            WHERE parent_order_id = \(parent) ORDER BY idempotency_key
            """).rows
        #expect(children.count == 2)
        var total: Decimal = 0
        for (index, child) in children.enumerated() {
            let childKey: String = try child.decode("idempotency_key")
            let broker = BrokerKind(rawValue: try child.decode("broker"))!
            #expect(childKey == "\(key)/child-\(index + 1)")
            #expect(try child.decode("client_order_id", as: String.self) == ClientOrderID.derive(idempotencyKey: childKey, for: broker))
            #expect(try child.decode("state", as: String.self) == "ACCEPTED")
            #expect(try h.brokerOrders(broker, clientOrderID: try child.decode("client_order_id")) == 1)
            total += try child.decode("quantity", as: Decimal.self)
        }
        #expect(total == 10)
        // Redelivered: the children are looked up, not placed again.
        _ = try await placer.handle(h.place(.kite, key: key, quantity: "10"), fences: PlacementHarness.delivery())
        #expect(try h.brokerOrderCounts(.kite).values.allSatisfy { $0 == 1 } && h.brokerOrderCounts(.upstox).values.allSatisfy { $0 == 1 })
        #expect(try h.row(key: key).decode("client_order_id", as: String.self).count == 20)
        #expect(try h.brokerOrders(.kite, clientOrderID: try h.row(key: key).decode("client_order_id")) == 0)
    }

    @Test func aMalformedMessageIsRefusedWithTheFieldNeverACrash() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        for (payload, field) in [("not json", "message"), (#"{"kind":"place"}"#, "idempotency_key"),
                                 (#"{"kind":"launch","idempotency_key":"k"}"#, "kind")] {
            do {
                _ = try await placer.handle(Array(payload.utf8), fences: PlacementHarness.delivery())
                Issue.record("accepted \(payload)")
            } catch let error as MessageRejected {
                #expect(error.reason.hasPrefix(field), "\(error.reason)")
                #expect(!error.isRetryable)
            }
        }
    }
}
