import Foundation
import Logging
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMFunctionRuntime
import TMOrders
import TMQueue
import TMRedis
import TMRisk

/// The resident worker and the cold function with the real risk book and live routes (broker-sim
/// behind them, Redis and Postgres real): the kill switch, per message; both forms place once.
@Suite(.serialized) struct ResidentWorkerTests {
    /// A scratch queue shaped like Queues/orders.yaml.
    static func ordersManifest() throws -> QueueManifest {
        var manifest = try QueueCatalog.load(directory: TestServers.repositoryRoot.appendingPathComponent("Queues")).manifest("orders")
        manifest.name = "orders-" + TestServers.uniqueName("rw").lowercased().replacingOccurrences(of: "_", with: "-")
        return manifest
    }

    @Test func theKillSwitchAppliesToTheNextMessageAndCancelsStillPass() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        let manifest = try Self.ordersManifest()
        let state = try ResidentState(pool: h.pool, redis: h.redis)
        var settings = OrderWorker.Settings()
        settings.refreshInterval = .seconds(3600)  // only the per-message announcement can apply a change here
        let redisConfiguration = try RedisConfiguration(url: try TestServers.redisURL)
        let worker = OrderWorker(manifest: manifest, redis: redisConfiguration,
                                 placer: h.placer(routes: state.routes, risk: state.risk), outbox: nil, settings: settings,
                                 prepare: { try await state.load(shards: $0, of: manifest) }, refresh: { await state.refresh() },
                                 beforeMessage: { try await state.checkBeforeMessage() })
        let running = Task { try await worker.run() }
        defer { worker.stop(); running.cancel() }
        let producer = QueueProducer(redis: h.redis, catalog: try QueueCatalog([manifest]))
        func enqueue(_ payload: [UInt8], key: String) async throws {
            _ = try await producer.enqueue(manifest.name, OutgoingMessage(payload: payload, key: key))
        }

        try await enqueue(h.place(.kite, key: "before-halt"), key: "before-halt")
        try await eventually("the first order to be accepted", within: .seconds(60)) { (try? h.state(key: "before-halt")) == "ACCEPTED" }

        _ = try TradingControls.set(h.db, scope: .global, state: .halted, reason: "test: kill switch", by: "test")
        try await TradingControls.announce(h.redis, shards: manifest.shards, queue: manifest.name)
        try await enqueue(h.place(.kite, key: "while-halted"), key: "while-halted")
        try await eventually("the order to be refused", within: .seconds(60)) { (try? h.state(key: "while-halted")) == "RISK_REJECTED" }
        #expect(try h.row(key: "while-halted").decode("reject_code", as: String?.self) == "TRADING_HALTED")

        let working: UUID = try h.row(key: "before-halt").decode("id")
        try await enqueue(h.cancel(.kite, order: working), key: "cancel-while-halted")
        try await eventually("the cancel to pass the halt", within: .seconds(60)) { (try? h.state(key: "before-halt")) == "CANCELLED" }

        _ = try TradingControls.set(h.db, scope: .global, state: .active, reason: "test: resume", by: "test")
        try await TradingControls.announce(h.redis, shards: manifest.shards, queue: manifest.name)
        // (Another price: the same order again within two seconds would be a DUPLICATE_ORDER.)
        try await enqueue(h.place(.kite, key: "after-resume", price: "1399"), key: "after-resume")
        try await eventually("the order after the resume to be decided", within: .seconds(60)) { (try? h.state(key: "after-resume")) != nil }
        try await eventually("trading to resume", within: .seconds(30)) { (try? h.state(key: "after-resume")) != "SUBMITTING" }
        let code = try h.row(key: "after-resume").decode("reject_code", as: String?.self)
        #expect(try h.state(key: "after-resume") == "ACCEPTED", "\(code ?? "-")")
        #expect(try h.brokerOrders(.kite, clientOrderID: try h.row(key: "while-halted").decode("client_order_id")) == 0)
    }

    @Test func theColdPlacerPlacesOnceAndKeepsEachAccountsOrderWithinABatch() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        let function = OrderPlacerFunction(prepare: { accounts in
            let state = try ResidentState(pool: h.pool, redis: h.redis)
            try await state.load(accounts: accounts)
            return (state.risk, state.routes)
        }, placer: { h.placer(routes: $1, risk: $0, logger: $2) })
        func record(_ payload: [UInt8], epoch: Int64 = 1) -> InvocationRecord {
            InvocationRecord(messageID: UUID().uuidString, queue: "orders", attempt: 1, epoch: epoch, enqueuedAtMillis: 0,
                             body: String(decoding: payload, as: UTF8.self))
        }
        let placeAlpaca = record(h.place(.alpaca, key: "cold-alpaca"))
        let placeKite = record(h.place(.kite, key: "cold-kite"))
        let garbage = record(Array(#"{"kind":"place"}"#.utf8))
        let request = InvocationRequest(invocationID: "inv-1", function: "order-placer", attempt: 1,
                                        deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 60_000, records: [placeAlpaca, placeKite, garbage])
        let result = await function.handle(request, context: FunctionContext(request: request, logger: Logger(label: "test")))
        #expect(result.failures?.map { $0.messageID } == [garbage.messageID])
        #expect(result.failures?.first?.retryable == false)
        for key in ["cold-alpaca", "cold-kite"] {
            let row = try h.row(key: key)
            let (state, code) = (try row.decode("state", as: String.self), try row.decode("reject_code", as: String?.self))
            let reason = try row.decode("reject_code", as: String?.self).flatMap { _ in try? h.db.query("SELECT reject_reason FROM orders WHERE idempotency_key = \(key)").rows[0].decode("reject_reason", as: String.self) }
            #expect(state == "ACCEPTED", "\(key): \(code ?? "-") \(reason ?? "")")
        }

        // A batch with a place and the cancel of an earlier order of the same account, and the
        // place again (a redelivery): handled in order, nothing placed twice.
        let order: UUID = try h.row(key: "cold-kite").decode("id")
        let second = InvocationRequest(invocationID: "inv-2", function: "order-placer", attempt: 1,
                                       deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 60_000,
                                       records: [record(h.place(.kite, key: "cold-kite"), epoch: 2), record(h.cancel(.kite, order: order))])
        let again = await function.handle(second, context: FunctionContext(request: second, logger: Logger(label: "test")))
        #expect(again.failures == nil || again.failures!.isEmpty)
        #expect(try h.state(key: "cold-kite") == "CANCELLED")
        #expect(try h.brokerOrders(.kite, clientOrderID: try h.row(key: "cold-kite").decode("client_order_id")) == 1)
        #expect(try h.brokerOrders(.alpaca, clientOrderID: try h.row(key: "cold-alpaca").decode("client_order_id")) == 1)

        // Two new orders of one account in a batch, the broker slow: the second starts only once
        // the first is answered (its row is created after the first was accepted).
        try h.fault(#"{"broker":"kite","endpoint":"POST /orders/regular","latency_ms":300,"count":2}"#)
        let third = InvocationRequest(invocationID: "inv-3", function: "order-placer", attempt: 1,
                                      deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 60_000,
                                      records: [record(h.place(.kite, key: "cold-first", price: "1391")), record(h.place(.kite, key: "cold-second", price: "1392"))])
        _ = await function.handle(third, context: FunctionContext(request: third, logger: Logger(label: "test")))
        let accepted: Date = try #require(try h.row(key: "cold-first").decode("accepted_at", as: Date?.self))
        let created: Date = try h.db.query("SELECT created_at FROM orders WHERE idempotency_key = 'cold-second'").rows[0].decode("created_at")
        #expect(accepted <= created)
    }

    @Test func aModifyPastALimitIsRefusedBeforeItIsSentAndOneWithinPasses() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        let kite = h.accounts[.kite]!
        try h.db.execute("INSERT INTO trading_limits (user_id, account_id, max_order_quantity) VALUES (\(h.user), \(kite), 5)")
        let state = try ResidentState(pool: h.pool, redis: h.redis)
        try await state.load(accounts: [kite])
        let placer = h.placer(routes: state.routes, risk: state.risk)
        let placed = try await placer.handle(h.place(.kite, key: "modify-limits", quantity: "2"), fences: PlacementHarness.delivery())
        #expect(placed.state == .accepted, "\(placed.text)")
        let id: UUID = try h.row(key: "modify-limits").decode("id")
        let clientID: String = try h.row(key: "modify-limits").decode("client_order_id")

        let refused = try await placer.handle(h.modify(.kite, order: id, quantity: "10"), fences: PlacementHarness.delivery())
        #expect(refused.note.contains("QUANTITY_EXCEEDS_MAXIMUM"), "\(refused.text)")
        #expect(try h.db.query("SELECT quantity FROM orders WHERE id = \(id)").rows[0].decode("quantity", as: Decimal.self) == 2)
        let truth = try JSONValue.parse(try h.sim.admin("GET", "/admin/truth?broker=kite&api_key=\(h.apiKey(.kite))"))
        let atBroker = truth["orders"]?.arrayValue?.first { $0["client_order_id"]?.stringValue == clientID }
        #expect(atBroker?["quantity"] == .string("2"))
        // The reservation kept its size: the refused modify left the order as it was.
        #expect(state.risk.accountRisk(kite)?.workingOrders[id.uuidString]?.remainingQuantity == 2)

        let within = try await placer.handle(h.modify(.kite, order: id, quantity: "4"), fences: PlacementHarness.delivery())
        #expect(within.note == "modified", "\(within.text)")
        #expect(try h.db.query("SELECT quantity FROM orders WHERE id = \(id)").rows[0].decode("quantity", as: Decimal.self) == 4)
        #expect(state.risk.accountRisk(kite)?.workingOrders[id.uuidString]?.remainingQuantity == 4)
    }
}
