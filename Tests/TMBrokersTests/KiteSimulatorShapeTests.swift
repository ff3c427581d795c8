import Foundation
import TMBrokerSim
import TMBrokers
import TMCore
import TMHTTP
import Testing

/// broker-sim's Kite front end answers every endpoint the adapter calls in the shape of Kite's own
/// samples (`Fixtures/kite/`), asked over raw HTTP the way Kite is asked; and the adapter's new
/// calls (modify, margins, last prices) work against it.
@Suite(.timeLimit(.minutes(1))) struct KiteSimulatorShapeTests {
    /// One raw call to the simulator's Kite front end with the account's headers.
    static func call(_ fixture: SimulatorFixture, _ method: HTTPMethod, _ path: String, query: [(String, String)] = [],
                     form: [(String, String)]? = nil, token: String? = nil) async throws -> (status: Int, body: JSONValue) {
        let opened = SimulatorFixture.opened(.kite)
        let base = BrokerEndpoints.simulator(port: Int(fixture.simulator.port)).kite
        let request = HTTPRequest(method, HTTPRequest.url(base + path, query: query),
                                  headers: [("X-Kite-Version", "3"), ("Authorization", "token \(opened.apiKey):\(token ?? opened.accessToken!)")],
                                  body: form.map { .form($0) } ?? .none)
        let response = try await fixture.http.send(request)
        return (response.status, try JSONValue.parse([UInt8](response.body)))
    }

    /// A limit buy of INFY far below the market, so it rests.
    static func restingForm(_ fixture: SimulatorFixture, tag: String) -> [(String, String)] {
        let price = fixture.restingLimitOrder(.kite, key: tag).limitPrice!
        return [("exchange", "NSE"), ("tradingsymbol", "INFY"), ("transaction_type", "BUY"), ("quantity", "1"), ("product", "CNC"),
                ("order_type", "LIMIT"), ("price", DecimalText.plain(price)), ("validity", "DAY"), ("tag", tag)]
    }

    @Test func placementModificationAndCancellationAnswerInKitesShapes() async throws {
        let fixture = try SimulatorFixture()
        let placed = try await Self.call(fixture, .post, "/orders/regular", form: Self.restingForm(fixture, tag: "shape-place"))
        #expect(placed.status == 200)
        try expectSameShape(fixture: "kite/order_response.json", simulator: placed.body)
        let orderID = try #require(placed.body["data"]?["order_id"]?.stringValue)

        let modified = try await Self.call(fixture, .put, "/orders/regular/\(orderID)",
                                           form: [("quantity", "2"), ("order_type", "LIMIT"), ("price", "100"), ("validity", "DAY")])
        #expect(modified.status == 200)
        try expectSameShape(fixture: "kite/order_modify.json", simulator: modified.body)
        let order = try #require(fixture.simulator.exchange.order(.kite, apiKey: SimulatorFixture.opened(.kite).apiKey, id: orderID))
        #expect(order.quantity == 2)
        #expect(order.ticket.limitPrice == 100)
        #expect(order.clientOrderID == "shape-place")

        let cancelled = try await Self.call(fixture, .delete, "/orders/regular/\(orderID)")
        #expect(cancelled.status == 200)
        try expectSameShape(fixture: "kite/order_cancel.json", simulator: cancelled.body)
    }

    @Test func booksAnswerInKitesShapes() async throws {
        let fixture = try SimulatorFixture()
        _ = try await Self.call(fixture, .post, "/orders/regular", form: Self.restingForm(fixture, tag: "shape-rest"))
        var market = Self.restingForm(fixture, tag: "shape-market")
        market.removeAll { $0.0 == "price" }
        market = market.map { $0.0 == "order_type" ? ("order_type", "MARKET") : $0 }
        let filled = try await Self.call(fixture, .post, "/orders/regular", form: market)
        #expect(filled.status == 200)

        let orders = try await Self.call(fixture, .get, "/orders")
        // Iceberg legs (`meta.iceberg`) and `auction_number` belong to iceberg and auction orders,
        // which the simulator does not place; `status_message(_raw)` is text only on an order the
        // RMS rejected, and the simulator refuses at placement instead (null here, as Kite's null).
        try expectSameShape(fixture: "kite/orders.json", simulator: orders.body,
                            ignoring: ["data[].meta.iceberg", "data[].auction_number", "data[].status_message", "data[].status_message_raw"])
        try expectSameShape(fixture: "kite/trades.json", simulator: try await Self.call(fixture, .get, "/trades").body)
        // `token` (the exchange's own token) appears only in Kite's older sample; the simulator has none.
        try expectSameShape(fixture: "kite/positions.json", simulator: try await Self.call(fixture, .get, "/portfolio/positions").body,
                            ignoring: ["data.net[].token", "data.day[].token"])
    }

    @Test func marginsAndLastPricesAnswerInKitesShapes() async throws {
        let fixture = try SimulatorFixture()
        #expect(fixture.simulator.exchange.pinPrice(.kite, "INFY", decimal("1512.35")))
        try expectSameShape(fixture: "kite/user_margins.json", simulator: try await Self.call(fixture, .get, "/user/margins").body)
        let one = try await Self.call(fixture, .get, "/quote/ltp", query: [("i", "NSE:INFY")])
        try expectSameShape(fixture: "kite/ltp.json", simulator: one.body)
        let two = try await Self.call(fixture, .get, "/quote/ltp", query: [("i", "NSE:INFY"), ("i", "NSE:SBIN"), ("i", "NSE:NOSUCH")])
        try expectSameShape(fixture: "kite/ltp_two.json", simulator: two.body)
        #expect(two.body["data"]?["NSE:NOSUCH"] == nil)
        #expect(one.body["data"]?["NSE:INFY"]?["last_price"] == .number("1512.35"))
    }

    @Test func errorsAnswerInKitesShapes() async throws {
        let fixture = try SimulatorFixture()
        let token = try await Self.call(fixture, .get, "/orders", token: "wrong")
        #expect(token.status == 403)
        try expectSameShape(fixture: "kite/error_token_exception.json", simulator: token.body)
        #expect(token.body["error_type"]?.stringValue == "TokenException")
        let input = try await Self.call(fixture, .put, "/orders/regular/nosuch", form: [("quantity", "x")])
        #expect(input.status == 400)
        try expectSameShape(fixture: "kite/error_input_exception.json", simulator: input.body)
        #expect(input.body["error_type"]?.stringValue == "InputException")
        let general = try await Self.call(fixture, .get, "/no/such/route")
        try expectSameShape(fixture: "kite/error_general_exception.json", simulator: general.body)
        try expectSameShape(fixture: "kite/error_general_exception_sdk.json", simulator: general.body)
    }

    /// The adapter's new calls against broker-sim: a modification changes the working order in
    /// place (same id and tag), a crossing one fills; margins move with what was bought; last prices
    /// are the simulator's.
    @Test func adapterModifiesReadsMarginsAndPricesFromTheSimulator() async throws {
        let fixture = try SimulatorFixture()
        let adapter = fixture.adapter(.kite)
        let credentials = SimulatorFixture.credentials(.kite)
        let before = try await adapter.funds(credentials: credentials)
        #expect(before.map(\.segment) == ["equity", "commodity"])
        #expect(before.allSatisfy { $0.currency == "INR" })
        let cashBefore = try #require(before.first?.available)

        let limit = fixture.restingLimitOrder(.kite, key: "sim-modify")
        let resting = try await adapter.placeOrder(limit, credentials: credentials)
        let lower = try #require(limit.limitPrice) - 1
        let modified = try await adapter.modifyOrder(
            OrderModification(brokerOrderID: resting.brokerOrderID, symbol: limit.symbol, exchange: "NSE", side: .buy, type: .limit,
                              quantity: 5, limitPrice: lower, replacementClientOrderID: "unused"), credentials: credentials)
        #expect(modified.brokerOrderID == resting.brokerOrderID)
        let listed = try #require(try await adapter.orders(credentials: credentials).first { $0.brokerOrderID == resting.brokerOrderID })
        #expect(listed.quantity == 5)
        #expect(listed.limitPrice == lower)
        #expect(listed.clientOrderID == limit.clientOrderID)
        #expect(listed.status == .open)
        #expect(listed.remainingQuantity == 5)

        // To market: it fills at once.
        _ = try await adapter.modifyOrder(
            OrderModification(brokerOrderID: resting.brokerOrderID, symbol: limit.symbol, exchange: "NSE", side: .buy, type: .market,
                              quantity: 5, replacementClientOrderID: "unused"), credentials: credentials)
        let filled = try #require(try await adapter.orders(credentials: credentials).first { $0.brokerOrderID == resting.brokerOrderID })
        #expect(filled.status == .filled)
        #expect(filled.filledQuantity == 5)
        let cost = try #require(filled.averagePrice) * 5
        let after = try await adapter.funds(credentials: credentials)
        #expect(after.first?.available == cashBefore - cost)
        #expect(after.first?.used == cost)

        // A finished order cannot be modified: Kite's OrderException, a refusal.
        let refused = await brokerError {
            try await adapter.modifyOrder(OrderModification(brokerOrderID: resting.brokerOrderID, symbol: limit.symbol, side: .buy,
                                                            type: .limit, quantity: 6, limitPrice: lower, replacementClientOrderID: "unused"),
                                          credentials: credentials)
        }
        #expect(refused.map(ErrorShape.init) == .rejected(code: "OrderException"))

        #expect(fixture.simulator.exchange.pinPrice(.kite, "INFY", decimal("1499.95")))
        let infy = InstrumentRef(symbol: "INFY", exchange: "NSE")
        let prices = try await adapter.lastPrices([infy, InstrumentRef(symbol: "NOSUCH", exchange: "NSE")], credentials: credentials)
        #expect(prices == [LastPrice(instrument: infy, price: decimal("1499.95"))])
    }
}
