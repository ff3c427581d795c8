import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMQueue
import TMRedis

/// An order refused before anything was sent — its broker's circuit open — waits for the broker
/// (`PlacementDeferred`: the message is deferred, no attempt used), and is placed exactly once
/// after the circuit closes; an order whose outcome is unknown is never deferred: it stays a
/// counted retry that looks the order up first.
@Suite(.serialized) struct CircuitDeferralTests {
    static let kiteBreaker = "tm:{cb:kite}"

    /// Opens Kite's circuit now (the Redis server's clock): it refuses calls for its cooldown.
    static func openKiteCircuit(_ redis: RedisClient) async throws {
        let time = try await redis.send("TIME").array ?? []
        let nowMillis = Int64(time[0].string ?? "0")! * 1000 + Int64(time[1].string ?? "0")! / 1000
        try await redis.send("HSET", kiteBreaker, "state", "open", "since", nowMillis)
    }

    static func delivery(_ message: String, epoch: Int64) -> PlacementFences {
        PlacementFences(fences: [MessageFence(queue: "orders", messageID: message, epoch: epoch)], firstDelivery: epoch == 1)
    }

    @Test func anOpenCircuitDefersTheOrderAndItIsPlacedOnceAfterTheCircuitCloses() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try await h.redis.send("DEL", Self.kiteBreaker)
        let placer = h.placer(resendAfter: .seconds(30))
        try await Self.openKiteCircuit(h.redis)
        let key = "deferred-circuit-open"
        let message = UUID().uuidString
        let refusedAt = h.clock.now()
        let deferral = await #expect(throws: PlacementDeferred.self) {
            try await placer.handle(h.place(.kite, key: key), fences: Self.delivery(message, epoch: 1))
        }
        try await h.redis.send("DEL", Self.kiteBreaker)
        // Not before the circuit lets a call through (its cooldown, 15 s) nor before the order may be
        // resent (`resendAfter`, 30 s after the send began): a redelivery sooner could only wait.
        let notBefore = try #require(deferral).retryNotBefore
        #expect(notBefore >= refusedAt.addingTimeInterval(29), "deferred to \(notBefore), refused at \(refusedAt)")
        let clientID: String = try h.row(key: key).decode("client_order_id")
        #expect(try h.state(key: key) == "SUBMITTING", "written before the admission, left as it was: nothing was sent")
        #expect(try h.brokerOrders(.kite, clientOrderID: clientID) == 0)

        // The redelivery after the deferral: looked up first (the row is SUBMITTING), not found, sent once.
        h.clock.advance(.seconds(31))
        let placed = try await placer.handle(h.place(.kite, key: key), fences: Self.delivery(message, epoch: 2))
        #expect(placed.state == .accepted, "\(placed.text)")
        let row = try h.row(key: key)
        #expect(try row.decode("lookup_attempts", as: Int32.self) == 1, "looked up before it was sent")
        #expect(try row.decode("submit_attempts", as: Int32.self) == 2)
        #expect(try h.brokerOrders(.kite, clientOrderID: clientID) == 1)
        // Another redelivery (a duplicate) sends nothing more.
        _ = try await placer.handle(h.place(.kite, key: key), fences: Self.delivery(message, epoch: 3))
        #expect(try h.brokerOrders(.kite, clientOrderID: clientID) == 1)
    }

    @Test func anUnknownOutcomeIsNeverDeferredItIsLookedUp() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try await h.redis.send("DEL", Self.kiteBreaker)
        let placer = h.placer(timeout: .seconds(1), resendAfter: .seconds(30))
        // broker-sim executes the placement and drops its response: the outcome is unknown.
        try h.fault(#"{"broker":"kite","endpoint":"POST /orders/regular","drop_rate":1,"count":1}"#)
        let key = "unknown-not-deferred"
        let message = UUID().uuidString
        await #expect(throws: PlacementPending.self) { try await placer.handle(h.place(.kite, key: key), fences: Self.delivery(message, epoch: 1)) }
        #expect(try h.state(key: key) == "UNKNOWN")
        let clientID: String = try h.row(key: key).decode("client_order_id")
        #expect(try h.brokerOrders(.kite, clientOrderID: clientID) == 1, "executed, its answer lost")
        // The retry looks it up and adopts it: never a second send.
        let result = try await placer.handle(h.place(.kite, key: key), fences: Self.delivery(message, epoch: 2))
        #expect(result.state == .accepted, "\(result.text)")
        #expect(try h.row(key: key).decode("submit_attempts", as: Int32.self) == 1)
        #expect(try h.brokerOrders(.kite, clientOrderID: clientID) == 1)
        try await h.redis.send("DEL", Self.kiteBreaker)
    }

    /// End to end, through the queue and a `tm order-worker`: the message waits out the open
    /// circuit in the delayed set with no attempt used, then the order is placed exactly once.
    @Test func aWorkersOrderWaitsOutAnOpenCircuitWithoutUsingAnAttempt() async throws {
        let h = try await WorkerHarness(accounts: 1)
        try await h.resetCircuit()
        try await Self.openKiteCircuit(h.redis)
        let worker = try h.startWorker()
        let order = h.restingOrder(h.accounts[0], key: "circuit-deferred-\(UUID().uuidString.prefix(8))")
        try await h.place(order)
        let delayed = QueueKeys(queue: h.queue, shard: h.shard(of: h.accounts[0])).delayed
        var member: JSONValue = .null
        try await eventually("the message deferred", within: .seconds(60)) {
            let members = try await h.redis.send("ZRANGE", delayed, 0, -1).array?.compactMap(\.string) ?? []
            guard let found = members.first(where: { $0.contains("deferred") }) else { return false }
            member = try JSONValue.parse(Array(found.utf8))
            return true
        }
        #expect(member["attempt"]?.stringValue == "0", "the deferral used up no attempt: \(member)")
        let history = try JSONDecoder().decode([AttemptRecord].self, from: Data((member["history"]?.stringValue ?? "[]").utf8))
        #expect(history.last?.kind == .deferred && history.last?.error.contains("circuit") == true, "\(history)")
        #expect(try h.brokerOrders(h.accounts[0])[h.clientID(order.idempotencyKey)] == nil, "nothing sent while the circuit was open")
        try await h.resetCircuit()
        try await eventually("placed after the circuit closed", within: .seconds(90)) {
            try h.count("SELECT count(*) FROM orders WHERE idempotency_key = '\(order.idempotencyKey)' AND state = 'ACCEPTED'") == 1
        }
        #expect(try h.brokerOrders(h.accounts[0])[h.clientID(order.idempotencyKey)] == 1)
        #expect(try await h.deadLetters.list().isEmpty)
        worker.terminate(grace: .seconds(10))
        await h.cleanUp()
    }
}
