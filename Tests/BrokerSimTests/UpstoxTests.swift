import Foundation
import TMBrokerSim
import Testing

@Suite("Upstox v2") struct UpstoxTests {
    @Test func invalidOrExpiredTokensAreUDAPI100050() throws {
        let sim = try SimulatorHarness()
        #expect(try sim.upstox(.get, "/v2/order/retrieve-all").status == 200)
        let wrong = try sim.upstox(.get, "/v2/order/retrieve-all", token: "bad")
        #expect(wrong.status == 401)
        #expect(wrong.json.text("errors.0.errorCode") == "UDAPI100050")
        _ = try sim.admin(.post, "/accounts/upstox/\(SimulatorHarness.upstox.key)/expire-token")
        #expect(try sim.upstox(.get, "/v2/order/retrieve-all").json.text("errors.0.error_code") == "UDAPI100050")
    }

    @Test func marketOrderTradesAndPositions() throws {
        let sim = try SimulatorHarness()
        try sim.pin("upstox", "INFY", "1500.05")
        let placed = try sim.upstoxOrder(quantity: 4, tag: "u1")
        #expect(placed.json.text("status") == "success")
        let id = try #require(placed.json.text("data.order_id"))
        let details = try sim.upstox(.get, "/v2/order/details?order_id=\(id)").json
        #expect(details.text("data.status") == "complete")
        #expect(details.text("data.average_price") == "1500.05")
        #expect(details.text("data.instrument_token") == "NSE_EQ|INE009A01021")
        let trades = try sim.upstox(.get, "/v2/order/trades/get-trades-for-day").json
        #expect(trades.text("data.0.order_id") == id)
        #expect(trades.text("data.0.quantity") == "4")
        let positions = try sim.upstox(.get, "/v2/portfolio/short-term-positions").json
        #expect(positions.text("data.0.quantity") == "4")
        #expect(positions.text("data.0.trading_symbol") == "INFY")
    }

    @Test func lookUpByTagFindsEveryOrderCarryingIt() throws {
        let sim = try SimulatorHarness()
        _ = try sim.upstoxOrder(tag: "dup")
        _ = try sim.upstoxOrder(tag: "dup")
        let history = try sim.upstox(.get, "/v2/order/history?tag=dup").json
        let ids = Set(history["data"]?.arrayValue?.compactMap { $0.text("order_id") } ?? [])
        #expect(ids.count == 2)
        #expect(try sim.truth("upstox", SimulatorHarness.upstox.key).text("orders_per_client_id.dup") == "2")
        #expect(try sim.upstox(.get, "/v2/order/history?tag=none").status == 404)
    }

    @Test func limitOrderCancelAndRejections() throws {
        let sim = try SimulatorHarness()
        try sim.pin("upstox", "INFY", "1500")
        let id = try #require(try sim.upstoxOrder(type: "LIMIT", price: "1400").json.text("data.order_id"))
        #expect(try sim.upstox(.get, "/v2/order/details?order_id=\(id)").json.text("data.status") == "open")
        #expect(try sim.upstox(.delete, "/v2/order/cancel?order_id=\(id)").json.text("data.order_id") == id)
        #expect(try sim.upstox(.get, "/v2/order/details?order_id=\(id)").json.text("data.status") == "cancelled")
        #expect(try sim.upstox(.delete, "/v2/order/cancel?order_id=\(id)").status == 400)
        let unknown = try sim.upstoxOrder(token: "NSE_EQ|INE000000000")
        #expect(unknown.status == 400)
        #expect(unknown.json.text("errors.0.errorCode") == "UDAPI100011")
        #expect(try sim.upstox(.post, "/v2/order/place", json: "{").status == 400)
    }
}
