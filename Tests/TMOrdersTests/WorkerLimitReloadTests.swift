import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMQueue
import TMRedis
import TMRisk

/// A limit changed in `trading_limits` while the order-worker runs — no restart, no announcement,
/// no reload of the accounts — applies to the orders after it: the worker's limits poll picks it
/// up (every 250 ms by default, so within a second).
@Suite(.serialized) struct WorkerLimitReloadTests {
    @Test func aLimitChangedWhileTheWorkerRunsAppliesToTheNextOrders() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        let kite = try #require(h.accounts[.kite])
        // Accounts are never rebuilt from rows here (that would read the limits too): only the poll can apply the change.
        let w = try await RunningWorker(h, reloadInterval: .seconds(3600))
        defer { w.stop() }
        let state = w.state

        try await w.enqueue(h.place(.kite, key: "before-limit", quantity: "2"), key: "before-limit")
        try await eventually("the first order to be accepted", within: .seconds(60)) { (try? h.state(key: "before-limit")) == "ACCEPTED" }

        try await w.waitForEveryShard()
        try h.db.execute("INSERT INTO trading_limits (user_id, account_id, max_order_quantity) VALUES (\(h.user), \(kite), 1)")
        try await eventually("the running worker to apply the new limit", within: .seconds(60)) {
            state.risk.limits(account: kite)?.maxOrderQuantity == 1
        }
        try await w.enqueue(h.place(.kite, key: "past-limit", quantity: "2", price: "1399"), key: "past-limit")
        try await eventually("the order past the new limit to be decided", within: .seconds(60)) { (try? h.state(key: "past-limit")) == "RISK_REJECTED" }
        #expect(try h.row(key: "past-limit").decode("reject_code", as: String?.self) == "QUANTITY_EXCEEDS_MAXIMUM")
        try await w.enqueue(h.place(.kite, key: "at-limit", quantity: "1", price: "1398"), key: "at-limit")
        try await eventually("the order at the new limit to be accepted", within: .seconds(60)) { (try? h.state(key: "at-limit")) == "ACCEPTED" }
    }
}
