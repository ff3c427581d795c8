import Foundation
import TMBrokerSim
import TMBrokers
import TMCore
import TMHTTP
import Testing

/// broker-sim's Upstox front end answers every endpoint in the shape of Upstox's documented sample
/// (`Fixtures/upstox`): every field the sample has, of the same kind.
@Suite(.timeLimit(.minutes(1)), .serialized) struct UpstoxSimulatorShapeTests {
    let fixture: SimulatorFixture
    let client: HTTPClient
    let base: String

    init() throws {
        fixture = try SimulatorFixture()
        client = try HTTPClient(configuration: HTTPClient.Configuration(proxy: .none))
        base = "http://127.0.0.1:\(fixture.simulator.port)/upstox"
    }

    /// One raw call with the account's bearer token; the answer's JSON.
    func call(_ method: HTTPMethod, _ target: String, json: String? = nil) throws -> JSONValue {
        let token = SimulatorFixture.opened(.upstox).accessToken!
        let request = HTTPRequest(method, base + target, headers: [("Authorization", "Bearer \(token)"), ("Accept", "application/json")],
                                  body: json.map { .json(Data($0.utf8)) } ?? .none)
        return try JSONValue.parse([UInt8](try client.send(request).body))
    }

    func place(_ type: String, price: String = "0", tag: String) throws -> String {
        let body = #"{"quantity":2,"product":"D","validity":"DAY","price":\#(price),"tag":"\#(tag)","instrument_token":"NSE_EQ|INE009A01021","order_type":"\#(type)","transaction_type":"BUY","disclosed_quantity":0,"trigger_price":0,"is_amo":false}"#
        let answer = try call(.post, "/v2/order/place", json: body)
        try expectSameShape(fixture: "upstox/modify-order.json", simulator: answer)
        return try #require(answer["data"]?["order_id"]?.stringValue)
    }

    /// A filled market buy and a resting limit buy far below the market.
    func book() throws -> (filled: String, resting: String) {
        #expect(fixture.simulator.exchange.pinPrice(.upstox, "INFY", 1500))
        return (try place("MARKET", tag: "shape-m"), try place("LIMIT", price: "700", tag: "shape-l"))
    }

    @Test func placeModifyAndCancel() throws {
        let (_, resting) = try book()
        let modified = try call(.put, "/v2/order/modify",
                                json: #"{"order_id":"\#(resting)","quantity":3,"validity":"DAY","price":710.05,"order_type":"LIMIT","disclosed_quantity":0,"trigger_price":0}"#)
        try expectSameShape(fixture: "upstox/modify-order.json", simulator: modified)
        let order = try #require(fixture.simulator.exchange.order(.upstox, apiKey: SimulatorFixture.opened(.upstox).apiKey, id: resting))
        #expect(order.quantity == 3)
        #expect(order.ticket.limitPrice == Decimal(string: "710.05"))
        try expectSameShape(fixture: "upstox/cancel-order.json", simulator: try call(.delete, "/v2/order/cancel?order_id=\(resting)"))
    }

    @Test func orderBookHistoryAndTrades() throws {
        _ = try book()
        // The order book page prints the `data` array alone. No simulated order here is rejected or
        // cancelled, and Upstox sends `status_message`/`status_message_raw` as null for those too.
        try expectSameShape(fixture: "upstox/order-book.json", simulator: try #require(try call(.get, "/v2/order/retrieve-all")["data"]),
                            ignoring: ["[].status_message", "[].status_message_raw"])
        // `parent_order_id` is null for an order that is not a cover order's second leg (as the
        // order book prints it); the history page prints "NA" instead.
        try expectSameShape(fixture: "upstox/order-history.json", simulator: try call(.get, "/v2/order/history?tag=shape-m"),
                            ignoring: ["data[].parent_order_id"])
        try expectSameShape(fixture: "upstox/trades.json", simulator: try call(.get, "/v2/order/trades/get-trades-for-day"))
    }

    @Test func positionsFundsAndErrors() throws {
        _ = try book()
        // Every simulated line is made of the day's trades, for which Upstox sends
        // `"average_price": null` (as the sample's two day-only lines show).
        let positions = try call(.get, "/v2/portfolio/short-term-positions")
        try expectSameShape(fixture: "upstox/positions.json", simulator: positions, ignoring: ["data[].average_price"])
        #expect(positions["data"]?.arrayValue?.first?["average_price"] == .null)
        try expectSameShape(fixture: "upstox/funds.json", simulator: try call(.get, "/v2/user/get-funds-and-margin"))
        try expectSameShape(fixture: "upstox/error.json", simulator: try call(.get, "/v2/order/history?tag=none"))
    }

    /// Quotes are filed under `SEGMENT:TRADINGSYMBOL`, each quote in the documented shape.
    @Test func lastPrices() throws {
        #expect(fixture.simulator.exchange.pinPrice(.upstox, "INFY", 1500))
        let answer = try call(.get, "/v2/market-quote/ltp?instrument_key=NSE_EQ%7CINE009A01021,NSE_EQ%7CINE000000000")
        let documented = try #require(try Fixture.json("upstox/ltp.json")["data"]?["NSE_EQ:NHPC"])
        let quotes = try #require(answer["data"]?.objectFields)
        #expect(quotes.map(\.key) == ["NSE_EQ:INFY"])
        let quote = try #require(quotes.first?.value)
        #expect(JSONShape(documented).differences(from: JSONShape(quote)).isEmpty)
        #expect(quote["instrument_token"]?.stringValue == "NSE_EQ|INE009A01021")
        #expect(quote["last_price"]?.decimalValue == 1500)
        #expect(try call(.get, "/v2/market-quote/ltp")["errors"]?.arrayValue?.first?["error_code"]?.stringValue == "UDAPI1009")
    }

    /// The adapter's new calls against broker-sim: a resting order modified, the funds of both
    /// segments, and last prices by instrument key (an unknown key left out).
    @Test func theAdapterModifiesReadsFundsAndQuotesAgainstTheSimulator() async throws {
        #expect(fixture.simulator.exchange.pinPrice(.upstox, "INFY", 1500))
        let adapter = fixture.adapter(.upstox)
        let credentials = SimulatorFixture.credentials(.upstox)
        var order = fixture.restingLimitOrder(.upstox, key: "sim-modify")
        order.limitPrice = 700
        let placed = try await adapter.placeOrder(order, credentials: credentials)
        let modification = OrderModification(brokerOrderID: placed.brokerOrderID, symbol: "INFY", exchange: "NSE", side: .buy, type: .limit,
                                             quantity: 5, limitPrice: Decimal(string: "710.05"), replacementClientOrderID: order.clientOrderID)
        let modified = try await adapter.modifyOrder(modification, credentials: credentials)
        #expect(modified.brokerOrderID == placed.brokerOrderID)
        let listed = try #require(try await adapter.orders(credentials: credentials).first { $0.brokerOrderID == placed.brokerOrderID })
        #expect(listed.quantity == 5)
        #expect(listed.limitPrice == Decimal(string: "710.05"))
        #expect(listed.symbol == "INFY")

        let funds = try await adapter.funds(credentials: credentials)
        #expect(funds.map(\.segment) == ["equity", "commodity"])
        #expect(funds[0].used == Decimal(string: "3550.25"))  // 5 × 710.05 blocked by the working buy
        #expect(funds[0].available == 1_000_000 - Decimal(string: "3550.25")!)

        let infy = InstrumentRef(symbol: "INFY", exchange: "NSE", brokerToken: "NSE_EQ|INE009A01021")
        let unknown = InstrumentRef(symbol: "NOPE", exchange: "NSE", brokerToken: "NSE_EQ|INE000000000")
        #expect(try await adapter.lastPrices([unknown, infy], credentials: credentials) == [LastPrice(instrument: infy, price: 1500)])
    }
}
