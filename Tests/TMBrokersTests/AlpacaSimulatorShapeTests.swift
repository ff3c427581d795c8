import Foundation
@testable import TMBrokerSim
@testable import TMBrokers
import TMCore
import TMHTTP
import TestSupport
import Testing

/// broker-sim answers every Alpaca endpoint the adapter calls in the shape of Alpaca's own samples
/// (`Fixtures/alpaca`), asked raw over HTTP with Alpaca's key headers.
@Suite(.timeLimit(.minutes(1))) struct AlpacaSimulatorShapeTests {
    /// The Alpaca SDK mocks write `qty`, `filled_qty`, `filled_avg_price`, `limit_price` as JSON
    /// numbers and add `commission`; Alpaca documents the numbers as `string<number>` (alpaca-docs
    /// order-v2.yaml, whose example is `order-notional.json`) and charges no commission on these
    /// accounts, so broker-sim follows the documentation there.
    static let sdkMockNumbers: Set<String> = ["qty", "filled_qty", "filled_avg_price", "limit_price", "commission"]

    /// Fields Alpaca documents as nullable (order-v2.yaml) that the SDK's list mock fills with
    /// strings for a finished, replaced trailing order; broker-sim's working order has them null.
    static let nullableOrderFields: Set<String> = [
        "[].filled_at", "[].expired_at", "[].canceled_at", "[].failed_at", "[].replaced_at", "[].replaced_by", "[].replaces", "[].hwm",
        "[].qty", "[].filled_qty", "[].filled_avg_price",
    ]

    let fixture: SimulatorFixture
    let base: String

    init() throws {
        fixture = try SimulatorFixture()
        base = fixture.simulator.baseURL
    }

    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: String? = nil,
              sourceLocation: SourceLocation = #_sourceLocation) async throws -> (status: Int, json: JSONValue) {
        let opened = SimulatorFixture.opened(.alpaca)
        let request = HTTPRequest(method, HTTPRequest.url(base + path, query: query),
                                  headers: [("APCA-API-KEY-ID", opened.apiKey), ("APCA-API-SECRET-KEY", opened.apiSecret ?? "")],
                                  body: body.map { .json(Data($0.utf8)) } ?? .none)
        let response = try await fixture.http.send(request)
        let json = response.body.isEmpty ? JSONValue.null : try JSONValue.parse([UInt8](response.body))
        return (response.status, json)
    }

    /// A resting limit order (far below the market) and its id.
    func restingOrder(_ clientID: String) async throws -> JSONValue {
        let limit = try #require(fixture.restingLimitOrder(.alpaca, key: clientID).limitPrice)
        let placed = try await send(.post, "/alpaca/v2/orders", body: """
            {"symbol":"AAPL","qty":"2","side":"buy","type":"limit","time_in_force":"day","limit_price":"\(DecimalText.plain(limit))","client_order_id":"\(clientID)"}
            """)
        #expect(placed.status == 200)
        return placed.json
    }

    @Test func placement() async throws {
        let placed = try await restingOrder("shape-place")
        // broker-sim refuses notional orders, so its `notional` is always null (the documented
        // sample is a notional order).
        try expectSameShape(fixture: "alpaca/order-notional.json", simulator: placed, ignoring: ["notional"])
        try expectSameShape(fixture: "alpaca/order-limit.json", simulator: placed, ignoring: Self.sdkMockNumbers)
    }

    @Test func replace() async throws {
        let placed = try await restingOrder("shape-replace")
        let id = try #require(placed["id"]?.stringValue)
        let replaced = try await send(.patch, "/alpaca/v2/orders/\(id)", body: #"{"qty":"3","client_order_id":"shape-replacement"}"#)
        #expect(replaced.status == 200)
        try expectSameShape(fixture: "alpaca/order-replace.json", simulator: replaced.json, ignoring: Self.sdkMockNumbers)
        // The answer is the new order, which names the one it replaced; the old one is `replaced`.
        #expect(replaced.json["id"]?.stringValue != id)
        #expect(replaced.json["replaces"]?.stringValue == id)
        #expect(replaced.json["qty"] == .string("3"))
        #expect(replaced.json["client_order_id"] == .string("shape-replacement"))
        let old = try await send(.get, "/alpaca/v2/orders/\(id)")
        #expect(old.json["status"] == .string("replaced"))
        #expect(old.json["replaced_by"] == replaced.json["id"])
        // A replaced order cannot be replaced again.
        let again = try await send(.patch, "/alpaca/v2/orders/\(id)", body: #"{"qty":"4"}"#)
        #expect(again.status == 422)
    }

    /// A replacement broker-sim refuses (its client id was used before) leaves the old order
    /// working, exactly as it was.
    @Test func aRefusedReplaceLeavesTheOrderWorking() async throws {
        let placed = try await restingOrder("shape-refused")
        let id = try #require(placed["id"]?.stringValue)
        let refused = try await send(.patch, "/alpaca/v2/orders/\(id)", body: #"{"qty":"3","client_order_id":"shape-refused"}"#)
        #expect(refused.status == 422)
        #expect(refused.json["code"] == .number("40010001"))
        let old = try await send(.get, "/alpaca/v2/orders/\(id)")
        #expect(old.json["status"] == .string("new"))
        #expect(old.json["canceled_at"] == .null)
        #expect(old.json["qty"] == .string("2"))
        let cancelled = try await send(.delete, "/alpaca/v2/orders/\(id)")
        #expect(cancelled.status == 204)
    }

    @Test func cancelAnswersAnEmpty204AndRefusesInAlpacasErrorShape() async throws {
        let placed = try await restingOrder("shape-cancel")
        let id = try #require(placed["id"]?.stringValue)
        let cancelled = try await send(.delete, "/alpaca/v2/orders/\(id)")
        #expect(cancelled.status == 204)
        #expect(cancelled.json == .null)
        let refused = try await send(.delete, "/alpaca/v2/orders/\(id)")
        #expect(refused.status == 422)
        try expectSameShape(fixture: "alpaca/error-422.json", simulator: refused.json)
    }

    @Test func ordersAndLookUp() async throws {
        _ = try await restingOrder("shape-list")
        let listed = try await send(.get, "/alpaca/v2/orders", query: [("status", "all")])
        try expectSameShape(fixture: "alpaca/orders.json", simulator: listed.json, ignoring: Self.nullableOrderFields)
        let first = try #require(listed.json.arrayValue?.first)
        try expectSameShape(fixture: "alpaca/order-notional.json", simulator: first, ignoring: ["notional"])
        let found = try await send(.get, "/alpaca/v2/orders:by_client_order_id", query: [("client_order_id", "shape-list")])
        try expectSameShape(fixture: "alpaca/order-by-client-id.json", simulator: found.json, ignoring: Self.sdkMockNumbers)
    }

    @Test func fillActivitiesPositionsAndAccount() async throws {
        let market = fixture.marketOrder(.alpaca, key: "shape-fill")
        _ = try await fixture.adapter(.alpaca).placeOrder(market, credentials: SimulatorFixture.credentials(.alpaca))
        let fills = try await send(.get, "/alpaca/v2/account/activities/FILL", query: [("direction", "asc")])
        try expectSameShape(fixture: "alpaca/activities-fill.json", simulator: fills.json)
        let positions = try await send(.get, "/alpaca/v2/positions")
        try expectSameShape(fixture: "alpaca/positions.json", simulator: positions.json)
        let account = try await send(.get, "/alpaca/v2/account")
        try expectSameShape(fixture: "alpaca/account.json", simulator: account.json)
    }

    @Test func latestTradesOnTheMarketDataHost() async throws {
        let latest = try await send(.get, "/alpaca-data/v2/stocks/trades/latest", query: [("symbols", "AAPL,TSLA")])
        #expect(latest.status == 200)
        try expectSameShape(fixture: "alpaca/trades-latest.json", simulator: latest.json)
        // The price is the exchange's own.
        let price = try #require(fixture.simulator.exchange.price(.alpaca, "AAPL"))
        _ = fixture.simulator.exchange.pinPrice(.alpaca, "AAPL", price)
        let pinned = try await send(.get, "/alpaca-data/v2/stocks/trades/latest", query: [("symbols", "AAPL,NOPE")])
        #expect(pinned.json["trades"]?["AAPL"]?["p"] == .number(DecimalText.plain(price)))
        #expect(pinned.json["trades"]?["NOPE"] == nil)
        // Market data lives on its own host only: the trading prefix does not serve it.
        let wrongHost = try await send(.get, "/alpaca/v2/stocks/trades/latest", query: [("symbols", "AAPL")])
        #expect(wrongHost.status == 404)
    }

    @Test func theAdapterReadsBrokerSimsNewEndpoints() async throws {
        let adapter = fixture.adapter(.alpaca)
        let credentials = SimulatorFixture.credentials(.alpaca)
        let funds = try await adapter.funds(credentials: credentials)
        #expect(funds == [BrokerFunds(currency: "USD", available: 100_000, cash: 100_000, total: 100_000)])
        let price = try #require(fixture.simulator.exchange.price(.alpaca, "MSFT"))
        _ = fixture.simulator.exchange.pinPrice(.alpaca, "MSFT", price)
        let prices = try await adapter.lastPrices([InstrumentRef(symbol: "MSFT"), InstrumentRef(symbol: "NOPE")], credentials: credentials)
        #expect(prices.map(\.price) == [price])
        #expect(prices.map(\.instrument.symbol) == ["MSFT"])
        let resting = fixture.restingLimitOrder(.alpaca, key: "shape-modify")
        let placed = try await adapter.placeOrder(resting, credentials: credentials)
        let replacement = try await adapter.modifyOrder(
            OrderModification(brokerOrderID: placed.brokerOrderID, symbol: "AAPL", side: .buy, type: .limit, quantity: 5,
                              limitPrice: resting.limitPrice! - 1, timeInForce: .gtc, replacementClientOrderID: "shape-modify-2"),
            credentials: credentials)
        #expect(replacement.brokerOrderID != placed.brokerOrderID)
        #expect(replacement.clientOrderID == "shape-modify-2")
        #expect(replacement.quantity == 5)
        #expect(replacement.limitPrice == resting.limitPrice! - 1)
        #expect(replacement.status == .open)
        #expect(replacement.remainingQuantity == 5)
        let old = try await adapter.order(clientOrderID: resting.clientOrderID, symbol: nil, credentials: credentials)
        #expect(old?.status == .cancelled)  // replaced
        #expect(old?.remainingQuantity == 0)
    }
}
