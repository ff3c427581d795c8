import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMRedis

/// A broker call that reaches `BrokerLanes` already shut down (a worker stopping with orders still
/// arriving) is never sent — and is "never sent" everywhere, as a refused admission is: the order
/// waits as UNKNOWN saying so, the router is told nothing about the broker, and the broker's
/// circuit counts no failure.
@Suite(.serialized) struct LaneShutdownSendsNothingTests {
    @Test func aCallOnLanesShutDownSendsNothingAndBlamesNoBroker() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try await h.redis.send("DEL", AdmittedSendTests.kiteBreaker)
        let lanes = try BrokerLanes(sharing: h.http, redis: h.redis.configuration, lanes: 1, name: "stopped-lanes")
        lanes.shutdown()
        let reports = Locked<[Bool]>([])
        let placer = h.placer(observe: { _, _, failed in reports.withLock { $0.append(failed) } }, lanes: lanes)
        let key = "lanes-shut-down"
        await #expect(throws: PlacementPending.self) { try await placer.handle(h.place(.kite, key: key), fences: PlacementHarness.delivery()) }
        let row = try h.row(key: key)
        #expect(try h.brokerOrders(.kite, clientOrderID: try row.decode("client_order_id")) == 0, "nothing reached the broker")
        #expect(try h.state(key: key) == "UNKNOWN")
        #expect(try row.decode("unknown_reason", as: String?.self)?.contains("not sent") == true)
        #expect(reports.withLock { $0 }.isEmpty, "a call the lanes never ran is not a broker failure for the router: \(reports.withLock { $0 })")
        let failures = try await h.redis.send("HGET", AdmittedSendTests.kiteBreaker, "failures")
        #expect((failures.string.flatMap { Int($0) } ?? 0) == 0, "nor a failure for the broker's circuit")
    }
}
