import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMRedis

/// The broker call's admission (circuit + budget) runs in the same lane job as its request
/// (`BrokerLanes`, as `OrderServices` wires the placer): what the admission refuses is still never
/// sent, and is still "never sent" to the placer and to the router's measurements.
@Suite(.serialized) struct AdmittedSendTests {
    /// Kite's breaker, shared by every Kite call (`CircuitBreaker(name: "kite")`).
    static let kiteBreaker = "tm:{cb:kite}"

    /// Every grant logged in Kite budgets (the logs live under the breaker's hash tag).
    func kiteGrants(_ redis: RedisClient) async throws -> Int {
        var total = 0
        for key in try await redis.send("KEYS", "\(Self.kiteBreaker):rl:*").array ?? [] {
            total += Int(try await redis.send("ZCARD", key.string ?? "").int ?? 0)
        }
        return total
    }

    func openKiteCircuit(_ redis: RedisClient) async throws {
        let time = try await redis.send("TIME").array ?? []
        let nowMillis = Int64(time[0].string ?? "0")! * 1000
        try await redis.send("HSET", Self.kiteBreaker, "state", "open", "since", nowMillis)
    }

    @Test func anOpenCircuitStopsTheCallBeforeItsRequestAndNothingIsSent() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try await h.redis.send("DEL", Self.kiteBreaker)
        let reports = Locked<[Bool]>([])
        let placer = h.placer(observe: { _, _, failed in reports.withLock { $0.append(failed) } })
        try await openKiteCircuit(h.redis)
        let key = "admitted-circuit-open"
        let grantsBefore = try await kiteGrants(h.redis)
        // Refused before sending: the message is deferred (not a counted attempt), the row left SUBMITTING.
        await #expect(throws: PlacementDeferred.self) { try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery()) }
        // Closed again at once: the circuit is every Kite call's, and nothing below needs it open.
        try await h.redis.send("DEL", Self.kiteBreaker)
        let row = try h.row(key: key)
        #expect(try h.brokerOrders(.kite, clientOrderID: try row.decode("client_order_id")) == 0, "refused by its circuit: nothing reached the broker")
        #expect(try h.state(key: key) == "SUBMITTING")
        #expect(try await kiteGrants(h.redis) == grantsBefore, "an open circuit takes nothing from the budget")
        #expect(reports.withLock { $0 }.isEmpty, "a call the circuit refused is not a broker failure for the router")
    }

    @Test func aCallWhoseBudgetIsSpentWaitsAndIsSentOnce() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try await h.redis.send("DEL", Self.kiteBreaker)
        let placer = h.placer()
        // One order first: its budget's log exists, under the account's key.
        let first = try await placer.handle(h.place(.kite, key: "admitted-budget-1"), fences: PlacementHarness.delivery())
        #expect(first.state == .accepted)
        let logs = try await h.redis.send("KEYS", "\(Self.kiteBreaker):rl:*").array ?? []
        let log = try #require(logs.compactMap(\.string).first { $0.contains(h.accounts[.kite]!.uuidString.lowercased()) && $0.contains("order") })
        // Spend the 10-per-second limit now (the Redis server's clock, as the script reads it).
        let time = try await h.redis.send("TIME").array ?? []
        let nowMillis = Int64(time[0].string ?? "0")! * 1000 + Int64(time[1].string ?? "0")! / 1000
        for index in 0..<10 { try await h.redis.send("ZADD", log, nowMillis, "spent-\(index)") }
        let key = "admitted-budget-2"
        let result = try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery())
        #expect(result.state == .accepted, "refused by its budget in the lane, then admitted after the wait: \(result.text)")
        #expect(try h.brokerOrders(.kite, clientOrderID: try h.row(key: key).decode("client_order_id")) == 1)
        #expect(try await h.redis.send("ZCARD", log).int == 12, "one grant per order sent, none for the refused attempt")
    }

    /// The lane's Redis connection cannot be opened: the admission could not run, so nothing is
    /// sent, the order waits as UNKNOWN with that reason, and the router is told nothing (it says
    /// nothing about the broker).
    @Test func aLaneThatCannotReachRedisSendsNothingAndBlamesNoBroker() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try await h.redis.send("DEL", Self.kiteBreaker)
        var unreachable = h.redis.configuration
        unreachable.socketPath = nil  // over TCP, whatever the test server's transport
        unreachable.port = 1  // nothing listens there: the connection is refused at once
        let lanes = try BrokerLanes(sharing: h.http, redis: unreachable, lanes: 1, name: "unreachable-lanes")
        defer { lanes.shutdown() }
        let reports = Locked<[Bool]>([])
        let placer = h.placer(observe: { _, _, failed in reports.withLock { $0.append(failed) } }, lanes: lanes)
        let key = "admitted-redis-unreachable"
        await #expect(throws: PlacementPending.self) { try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery()) }
        let row = try h.row(key: key)
        #expect(try h.brokerOrders(.kite, clientOrderID: try row.decode("client_order_id")) == 0, "nothing reached the broker")
        #expect(try row.decode("unknown_reason", as: String?.self)?.contains("the admission could not run") == true)
        #expect(reports.withLock { $0 }.isEmpty, "a call stopped before its request is not a broker failure for the router")
    }
}
