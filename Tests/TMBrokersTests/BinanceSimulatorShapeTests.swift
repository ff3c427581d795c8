import Foundation
import TMBrokerSim
import TMBrokers
import TMCore
import TMHTTP
import TestSupport
import Testing

/// broker-sim's Binance front end answers every endpoint the adapter calls in the shape of
/// Binance's own documented samples (`Fixtures/binance`): each answer, got over raw HTTP with a
/// real signature, has every field of the sample with the same kind.
@Suite(.serialized, .timeLimit(.minutes(1))) struct BinanceSimulatorShapeTests {
    let fixture: SimulatorFixture
    let opened = SimulatorFixture.opened(.binance)

    init() throws { fixture = try SimulatorFixture() }

    /// One request as the adapter signs it; the answer's status and JSON.
    func call(_ method: HTTPMethod, _ path: String, _ parameters: [(String, String)] = [], signed: Bool = true) async throws -> (Int, JSONValue) {
        let base = BrokerEndpoints.simulator(port: Int(fixture.simulator.port)).binance
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let query = signed ? BinanceSigning.signedQuery(parameters, recvWindow: 5000, timestamp: now, secret: opened.apiSecret!)
                           : HTTPRequest.formEncode(parameters)
        let request = HTTPRequest(method, base + path + (query.isEmpty ? "" : "?" + query), headers: signed ? [("X-MBX-APIKEY", opened.apiKey)] : [])
        let response = try await fixture.http.send(request)
        return (response.status, try JSONValue.parse([UInt8](response.body)))
    }

    /// The documented member of a WebSocket-API sample (its `result`), written to compare against.
    func member(_ file: String, _ key: String = "result") throws -> JSONValue {
        try #require(try Fixture.json("binance/\(file)")[key])
    }

    func expectShape(_ file: String, _ answer: JSONValue, ignoring: Set<String> = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
        try expectSameShape(fixture: "binance/\(file)", simulator: answer, ignoring: ignoring, sourceLocation: sourceLocation)
    }

    func placeLimit(_ clientID: String, price: String, responseType: String = "RESULT") async throws -> (Int, JSONValue) {
        try await call(.post, "/api/v3/order", [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
                                                ("quantity", "0.002"), ("price", price), ("newClientOrderId", clientID),
                                                ("newOrderRespType", responseType)])
    }

    @Test func ordersAnswerInBinancesShapes() async throws {
        // RESULT and FULL placements (a market order fills, so FULL has its fills).
        let (placedStatus, placed) = try await placeLimit("shape-result", price: "30000")
        #expect(placedStatus == 200)
        try expectShape("order-result.json", placed)
        let (_, full) = try await call(.post, "/api/v3/order", [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"),
                                                                ("quantity", "0.002"), ("newClientOrderId", "shape-full"), ("newOrderRespType", "FULL")])
        try expectShape("order-full.json", full)
        #expect(full["fills"]?.arrayValue?.isEmpty == false)

        // Query, open and all orders.
        let (_, queried) = try await call(.get, "/api/v3/order", [("symbol", "BTCUSDT"), ("origClientOrderId", "shape-result")])
        try expectShape("query-order.json", queried)
        let (_, open) = try await call(.get, "/api/v3/openOrders")
        #expect(open.arrayValue?.count == 1)
        try expectShape("open-orders.json", open)
        let since = String(Int64((Date().timeIntervalSince1970 - 3600) * 1000))
        let (_, all) = try await call(.get, "/api/v3/allOrders", [("symbol", "BTCUSDT"), ("startTime", since), ("limit", "1000")])
        #expect(all.arrayValue?.count == 2)
        try expectShape("all-orders.json", all)
        // preventedMatchId/preventedQuantity appear only for an order expired by self-trade
        // prevention, which the simulator has no notion of.
        try expectSameShape(fixture: "binance/ws-all-orders.json", simulator: .object([("result", all)]),
                            ignoring: ["id", "status", "rateLimits", "result[].preventedMatchId", "result[].preventedQuantity"])

        // Cancel.
        let orderID = try #require(placed["orderId"]?.text)
        let (cancelStatus, cancelled) = try await call(.delete, "/api/v3/order", [("symbol", "BTCUSDT"), ("orderId", orderID)])
        #expect(cancelStatus == 200)
        try expectShape("cancel-order.json", cancelled)
    }

    @Test func cancelReplaceAnswersInBinancesShapes() async throws {
        let (_, placed) = try await placeLimit("shape-replace", price: "30000")
        let orderID = try #require(placed["orderId"]?.text)
        func replace(_ cancelOrderID: String, price: String, clientID: String, responseType: String = "FULL") async throws -> (Int, JSONValue) {
            try await call(.post, "/api/v3/order/cancelReplace", [
                ("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("cancelReplaceMode", "STOP_ON_FAILURE"), ("timeInForce", "GTC"),
                ("quantity", "0.003"), ("price", price), ("cancelOrderId", cancelOrderID), ("newClientOrderId", clientID),
                ("newOrderRespType", responseType),
            ])
        }
        // Both halves succeed (FULL, as the documented sample was: it lists `fills`).
        let (status, replaced) = try await replace(orderID, price: "30001", clientID: "shape-replaced")
        #expect(status == 200)
        try expectShape("cancel-replace-success.json", replaced)
        #expect(replaced["newOrderResponse"]?["clientOrderId"]?.stringValue == "shape-replaced")
        let working = fixture.simulator.exchange.orders(.binance, apiKey: opened.apiKey).filter { $0.status.isWorking }
        #expect(working.map(\.clientOrderID) == ["shape-replaced"])

        // The cancel fails (the order is no longer working): nothing placed, -2022.
        let (failedStatus, failed) = try await replace(orderID, price: "30002", clientID: "shape-never")
        #expect(failedStatus == 400)
        try expectShape("cancel-replace-cancel-failed.json", failed)
        #expect(failed["data"]?["newOrderResult"]?.stringValue == "NOT_ATTEMPTED")

        // The cancel succeeds, the replacement is refused (a price off the tick grid): -2021.
        let replacedID = try #require(replaced["newOrderResponse"]?["orderId"]?.text)
        let (partialStatus, partial) = try await replace(replacedID, price: "30000.001", clientID: "shape-offgrid")
        #expect(partialStatus == 400)
        try expectShape("cancel-replace-new-failed.json", partial)
        #expect(partial["data"]?["cancelResponse"]?["status"]?.stringValue == "CANCELED")
        #expect(fixture.simulator.exchange.orders(.binance, apiKey: opened.apiKey).filter { $0.status.isWorking }.isEmpty)
    }

    @Test func tradesAccountAndPricesAnswerInBinancesShapes() async throws {
        _ = try await call(.post, "/api/v3/order", [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.002"),
                                                    ("newClientOrderId", "shape-trade")])
        let (_, trades) = try await call(.get, "/api/v3/myTrades", [("symbol", "BTCUSDT"), ("fromId", "0"), ("limit", "1000")])
        #expect(trades.arrayValue?.isEmpty == false)
        try expectShape("my-trades.json", trades)
        try expectSameShape(fixture: "binance/ws-my-trades.json", simulator: .object([("result", trades)]), ignoring: ["id", "status", "rateLimits"])

        let (_, account) = try await call(.get, "/api/v3/account", [("omitZeroBalances", "true")])
        try expectShape("account.json", account)
        try expectSameShape(fixture: "binance/ws-account.json", simulator: .object([("result", account)]), ignoring: ["id", "status", "rateLimits"])

        // Public: no key, no signature.
        let (oneStatus, one) = try await call(.get, "/api/v3/ticker/price", [("symbol", "BTCUSDT")], signed: false)
        #expect(oneStatus == 200)
        try expectShape("ticker-price.json", one)
        let (_, many) = try await call(.get, "/api/v3/ticker/price", [("symbols", #"["BTCUSDT","ETHUSDT"]"#)], signed: false)
        try expectShape("ticker-prices.json", many)
        #expect(many.arrayValue?.compactMap { $0["symbol"]?.stringValue } == ["BTCUSDT", "ETHUSDT"])
        #expect(many.arrayValue?.first?["price"]?.stringValue.flatMap { Decimal(string: $0) }
                == fixture.simulator.exchange.price(.binance, "BTCUSDT"))
        let (unknownStatus, unknown) = try await call(.get, "/api/v3/ticker/price", [("symbols", #"["BTCUSDT","NOSUCH"]"#)], signed: false)
        #expect(unknownStatus == 400)
        try expectShape("error-1121.json", unknown)
        #expect(unknown["code"]?.text == "-1121")
    }

    /// The adapter against broker-sim: recent orders, modify, funds and last prices end to end.
    @Test func theAdapterReadsTheSimulatorsAnswers() async throws {
        let adapter = fixture.adapter(.binance)
        let credentials = SimulatorFixture.credentials(.binance)
        let resting = fixture.restingLimitOrder(.binance, key: "shape-adapter")
        let placed = try await adapter.placeOrder(resting, credentials: credentials)
        let modification = OrderModification(brokerOrderID: placed.brokerOrderID, symbol: resting.symbol, side: .buy, type: .limit,
                                             quantity: decimal("0.003"), limitPrice: resting.limitPrice, timeInForce: .gtc,
                                             replacementClientOrderID: "shape-adapter-2")
        let replacement = try await adapter.modifyOrder(modification, credentials: credentials)
        #expect(replacement.clientOrderID == "shape-adapter-2")
        #expect(replacement.quantity == decimal("0.003"))
        #expect(replacement.status == .open)
        #expect(replacement.remainingQuantity == decimal("0.003"))
        // The original is no longer open; the recent orders of its symbol say it was cancelled.
        let open = try await adapter.orders(credentials: credentials)
        #expect(open.map(\.brokerOrderID) == [replacement.brokerOrderID])
        let recent = try await adapter.orders(symbols: [resting.symbol], credentials: credentials)
        #expect(recent.first { $0.brokerOrderID == placed.brokerOrderID }?.status == .cancelled)
        #expect(recent.first { $0.brokerOrderID == placed.brokerOrderID }?.remainingQuantity == 0)
        // Modifying the cancelled original again: the cancel fails, nothing is placed.
        let again = await brokerError { try await adapter.modifyOrder(modification, credentials: credentials) }
        #expect(again.map(ErrorShape.init) == .notFound)

        let funds = try await adapter.funds(credentials: credentials)
        let usdt = try #require(funds.first { $0.currency == "USDT" })
        #expect(usdt.used == decimal("0.003") * resting.limitPrice!)  // the replacement's quote locked
        #expect(usdt.total == usdt.available + (usdt.used ?? 0))
        let prices = try await adapter.lastPrices([InstrumentRef(symbol: "BTCUSDT"), InstrumentRef(symbol: "NOSUCH"), InstrumentRef(symbol: "ETHUSDT")],
                                                  credentials: credentials)
        #expect(prices.map(\.instrument.symbol) == ["BTCUSDT", "ETHUSDT"])
        #expect(prices.allSatisfy { $0.price > 0 })
    }
}
