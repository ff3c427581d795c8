import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMQueue
import TMRedis
import TMRisk

/// The running order-worker keeps its accounts current from what sync wrote (the rows behind
/// `trade-events`: positions, funds, last sync), without a restart: an account whose positions
/// were too old is denied `POSITIONS_STALE`, and once a sync lands the worker's periodic reload
/// lets the next order through.
@Suite(.serialized) struct WorkerStateReloadTests {
    @Test func aSyncThatLandsWhileTheWorkerRunsIsSeenWithoutARestart() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        try h.db.execute("UPDATE broker_accounts SET last_sync_at = now() - interval '20 minutes'")
        let kite = try #require(h.accounts[.kite])
        let w = try await RunningWorker(h, reloadInterval: .milliseconds(200))
        defer { w.stop() }
        let state = w.state

        try await w.enqueue(h.place(.kite, key: "stale"), key: "stale")
        try await eventually("the order on stale positions to be refused", within: .seconds(60)) { (try? h.state(key: "stale")) == "RISK_REJECTED" }
        #expect(try h.row(key: "stale").decode("reject_code", as: String?.self) == "POSITIONS_STALE")

        try await w.waitForEveryShard()
        // A sync lands: the account's positions are as of now.
        let synced = Date()
        try h.db.execute("UPDATE broker_accounts SET last_sync_at = \(synced)")
        try await eventually("the running worker to reload the synced account", within: .seconds(60)) {
            (state.risk.accountRisk(kite)?.positionsAsOf).map { $0 >= synced.addingTimeInterval(-1) } ?? false
        }
        try await w.enqueue(h.place(.kite, key: "fresh", price: "1399"), key: "fresh")
        try await eventually("the order after the sync to be accepted", within: .seconds(60)) { (try? h.state(key: "fresh")) == "ACCEPTED" }
    }
}
