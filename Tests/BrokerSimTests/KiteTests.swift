import Foundation
import TMBrokerSim
import Testing

@Suite("Kite Connect v3") struct KiteTests {
    @Test func authIsCheckedTheKiteWay() throws {
        let sim = try SimulatorHarness()
        #expect(try sim.kite(.get, "/orders").status == 200)
        let wrong = try sim.kite(.get, "/orders", token: "nope")
        #expect(wrong.status == 403)
        #expect(wrong.json.text("error_type") == "TokenException")
        #expect(wrong.json.text("status") == "error")
        #expect(try sim.kite(.get, "/orders", version: nil).json.text("error_type") == "InputException")

        #expect(try sim.admin(.post, "/accounts/kite/\(SimulatorHarness.kite.key)/expire-token").status == 200)
        let expired = try sim.kite(.get, "/orders")
        #expect(expired.status == 403)
        #expect(expired.json.text("message") == "Token is invalid or has expired.")
        #expect(try sim.admin(.post, "/accounts/kite/\(SimulatorHarness.kite.key)/restore-token").status == 200)
        #expect(try sim.kite(.get, "/orders").status == 200)
    }

    @Test func marketOrderFillsAtOnceWithATrade() throws {
        let sim = try SimulatorHarness()
        try sim.pin("kite", "INFY", "1500")
        let placed = try sim.kiteOrder(quantity: "3", tag: "mkt1")
        #expect(placed.status == 200)
        let id = try #require(placed.json.text("data.order_id"))
        let history = try sim.kite(.get, "/orders/\(id)").json
        let last = try #require(history["data"]?.arrayValue?.last)
        #expect(last.text("status") == "COMPLETE")
        #expect(last.text("filled_quantity") == "3")
        #expect(last.text("average_price") == "1500")
        #expect(last.text("tag") == "mkt1")
        let trades = try sim.kite(.get, "/orders/\(id)/trades").json
        #expect(trades["data"]?.count == 1)
        #expect(trades.text("data.0.quantity") == "3")
        #expect(try sim.kite(.get, "/trades").json["data"]?.count == 1)
    }

    @Test func limitOrderRestsThenFillsWhenThePriceCrosses() throws {
        let sim = try SimulatorHarness()
        try sim.pin("kite", "INFY", "1500")
        let id = try #require(try sim.kiteOrder(quantity: "2", type: "LIMIT", price: "1490").json.text("data.order_id"))
        #expect(try sim.kite(.get, "/orders").json.text("data.0.status") == "OPEN")
        try sim.pin("kite", "INFY", "1485.5")  // pinning runs a matching round
        let order = try #require(try sim.kite(.get, "/orders/\(id)").json["data"]?.arrayValue?.last)
        #expect(order.text("status") == "COMPLETE")
        #expect(order.text("average_price") == "1485.5")
    }

    @Test func partialFillThenTheRest() throws {
        let sim = try SimulatorHarness()
        try sim.pin("kite", "TCS", "3800")
        let id = try #require(try sim.kiteOrder("TCS", quantity: "10", type: "LIMIT", price: "3700").json.text("data.order_id"))
        let first = try sim.admin(.post, "/orders/kite/\(SimulatorHarness.kite.key)/\(id)/fill", json: #"{"quantity":"4","price":"3700"}"#)
        #expect(first.json.text("status") == "partially_filled")
        var order = try #require(try sim.kite(.get, "/orders").json.at("data.0"))
        #expect(order.text("status") == "OPEN")
        #expect(order.text("filled_quantity") == "4")
        #expect(order.text("pending_quantity") == "6")
        #expect(try sim.admin(.post, "/orders/kite/\(SimulatorHarness.kite.key)/\(id)/fill", json: #"{"price":3699.95}"#).status == 200)
        order = try #require(try sim.kite(.get, "/orders").json.at("data.0"))
        #expect(order.text("status") == "COMPLETE")
        #expect(order.text("filled_quantity") == "10")
        #expect(try sim.kite(.get, "/trades").json["data"]?.count == 2)
        // Too much is refused, naming the field.
        let refused = try sim.admin(.post, "/orders/kite/\(SimulatorHarness.kite.key)/\(id)/fill", json: #"{"quantity":"1"}"#)
        #expect(refused.status == 400)
    }

    @Test func limitedLiquidityFillsInPartsAcrossTicks() throws {
        // Frozen time: the background ticker never reaches a new tick, so only /admin/match fills.
        let frozen = Date()
        let sim = try SimulatorHarness(clock: { frozen })
        try sim.pin("kite", "SBIN", "780")
        #expect(try sim.admin(.post, "/liquidity", json: #"{"broker":"kite","symbol":"SBIN","quantity":"3"}"#).status == 200)
        let id = try #require(try sim.kiteOrder("SBIN", quantity: "7", type: "LIMIT", price: "790").json.text("data.order_id"))
        #expect(sim.simulator.exchange.order(.kite, apiKey: SimulatorHarness.kite.key, id: id)?.filledQuantity == 3)
        _ = try sim.admin(.post, "/match")
        #expect(sim.simulator.exchange.order(.kite, apiKey: SimulatorHarness.kite.key, id: id)?.filledQuantity == 6)
        _ = try sim.admin(.post, "/match")
        let order = try #require(sim.simulator.exchange.order(.kite, apiKey: SimulatorHarness.kite.key, id: id))
        #expect(order.status == .filled)
        #expect(sim.simulator.exchange.trades(.kite, apiKey: SimulatorHarness.kite.key).count == 3)
    }

    @Test func tagsAreLimitedToTwentyCharactersAndNeverDeduplicated() throws {
        let sim = try SimulatorHarness()
        let long = try sim.kiteOrder(tag: String(repeating: "x", count: 21))
        #expect(long.status == 400)
        #expect(long.json.text("error_type") == "InputException")
        #expect(try sim.kiteOrder(tag: String(repeating: "y", count: 20)).status == 200)
        #expect(try sim.kiteOrder(tag: "same-tag").status == 200)
        #expect(try sim.kiteOrder(tag: "same-tag").status == 200)
        let truth = try sim.truth("kite", SimulatorHarness.kite.key)
        #expect(truth.text("orders_per_client_id.same-tag") == "2")
        let tagged = try sim.kite(.get, "/orders").json["data"]?.arrayValue?.filter { $0.text("tag") == "same-tag" }
        #expect(tagged?.count == 2)
    }

    @Test func cancelAnOpenOrderOnlyOnce() throws {
        let sim = try SimulatorHarness()
        try sim.pin("kite", "INFY", "1500")
        let id = try #require(try sim.kiteOrder(type: "LIMIT", price: "1400").json.text("data.order_id"))
        let cancelled = try sim.kite(.delete, "/orders/regular/\(id)")
        #expect(cancelled.json.text("data.order_id") == id)
        #expect(try sim.kite(.get, "/orders").json.text("data.0.status") == "CANCELLED")
        let again = try sim.kite(.delete, "/orders/regular/\(id)")
        #expect(again.status == 400)
        #expect(again.json.text("error_type") == "OrderException")
        #expect(try sim.kite(.delete, "/orders/regular/999").status == 400)
    }

    @Test func validationUsesInputException() throws {
        let sim = try SimulatorHarness()
        #expect(try sim.kiteOrder("NOPE").json.text("error_type") == "InputException")
        #expect(try sim.kiteOrder("NIFTY24DECFUT", quantity: "10", exchange: "NFO").json.text("message")?.contains("lot size") == true)
        #expect(try sim.kiteOrder(type: "LIMIT", price: "1500.03").json.text("message")?.contains("tick size") == true)
        #expect(try sim.kiteOrder(quantity: "0").status == 400)
    }

    @Test func positionsNetAndDay() throws {
        let sim = try SimulatorHarness()
        try sim.pin("kite", "INFY", "1500")
        _ = try sim.kiteOrder(quantity: "5")
        try sim.pin("kite", "INFY", "1510")
        _ = try sim.kiteOrder(side: "SELL", quantity: "2")
        let data = try sim.kite(.get, "/portfolio/positions").json
        #expect(data.text("data.net.0.tradingsymbol") == "INFY")
        #expect(data.text("data.net.0.quantity") == "3")
        #expect(data.text("data.net.0.average_price") == "1500")
        #expect(data.text("data.net.0.realised") == "20")
        #expect(data.text("data.day.0.day_buy_quantity") == "5")
    }

    @Test func theEleventhOrderInASecondIsRateLimited() throws {
        // A frozen clock puts every request in the same second, however slow the machine is.
        let frozen = Date()
        let sim = try SimulatorHarness(rateLimits: true, clock: { frozen })
        var statuses: [Int] = []
        for _ in 0..<10 { statuses.append(try sim.kiteOrder().status) }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        let refused = try sim.kiteOrder()
        #expect(refused.status == 429)
        #expect(refused.json.text("error_type") == "NetworkException")
        #expect(refused.header("Retry-After") == "1")
        #expect(sim.simulator.exchange.orders(.kite, apiKey: SimulatorHarness.kite.key).count == 10)
        // Reads have their own budget.
        #expect(try sim.kite(.get, "/orders").status == 200)
    }
}
