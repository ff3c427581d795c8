import Foundation
import TMBrokerSim
import TMHTTP
import Testing

@Suite("Binance Spot") struct BinanceTests {
    static let vectorSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    static let vectorPayload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    static let vectorSignature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"

    @Test func theReferenceTestVectorVerifies() throws {
        #expect(BinanceSignature.isValid(payload: Self.vectorPayload, signature: Self.vectorSignature, secret: Self.vectorSecret))
        #expect(!BinanceSignature.isValid(payload: Self.vectorPayload + "1", signature: Self.vectorSignature, secret: Self.vectorSecret))

        // Over HTTP, at the vector's own time: the signature passes, so the refusal is about the symbol.
        let sim = try SimulatorHarness(clock: { Date(timeIntervalSince1970: 1_499_827_319.600) })
        sim.simulator.exchange.upsertAccount(.binance, SimCredentials(apiKey: "vector", apiSecret: Self.vectorSecret, accessToken: nil))
        let body = Self.vectorPayload + "&signature=" + Self.vectorSignature
        let reply = try sim.send(HTTPRequest(.post, sim.base + "/binance/api/v3/order", headers: [("X-MBX-APIKEY", "vector")],
                                             body: .raw(Data(body.utf8), contentType: "application/x-www-form-urlencoded")))
        #expect(reply.json.text("code") == "-1121")
        // Split between query and body, Binance signs the query directly followed by the body (no '&').
        let mixed = BinanceSignature.signedPayload(query: "symbol=LTCBTC&side=BUY&signature=abc", body: "quantity=1&timestamp=1")
        #expect(mixed.signature == "abc")
        #expect(mixed.payload == "symbol=LTCBTC&side=BUYquantity=1&timestamp=1")
    }

    @Test func keySignatureAndTimestampAreChecked() throws {
        let sim = try SimulatorHarness()
        #expect(try sim.binance(.get, "/api/v3/account", []).status == 200)
        let badSignature = try sim.binance(.get, "/api/v3/account", [], tamper: true)
        #expect(badSignature.status == 400)
        #expect(badSignature.json.text("code") == "-1022")
        let stale = try sim.binance(.get, "/api/v3/account", [], timestamp: Int(Date().timeIntervalSince1970 * 1000) - 60_000)
        #expect(stale.json.text("code") == "-1021")
        let ahead = try sim.binance(.get, "/api/v3/account", [], timestamp: Int(Date().timeIntervalSince1970 * 1000) + 5_000)
        #expect(ahead.json.text("code") == "-1021")
        let noKey = try sim.binance(.get, "/api/v3/account", [], apiKey: nil)
        #expect(noKey.status == 401)
        #expect(noKey.json.text("code") == "-2014")
        #expect(try sim.binance(.get, "/api/v3/account", [], apiKey: "unknown").json.text("code") == "-2015")
        _ = try sim.admin(.post, "/accounts/binance/\(SimulatorHarness.binance.key)/expire-token")
        #expect(try sim.binance(.get, "/api/v3/account", []).json.text("code") == "-2015")
    }

    @Test func marketOrderFullResponseTradesAndBalances() throws {
        let sim = try SimulatorHarness()
        try sim.pin("binance", "BTCUSDT", "65000")
        let placed = try sim.binanceOrder(quantity: "0.5", clientID: "b-1")
        #expect(placed.status == 200)
        #expect(placed.json.text("status") == "FILLED")
        #expect(placed.json.text("executedQty") == "0.50000000")
        #expect(placed.json.text("cummulativeQuoteQty") == "32500.00000000")
        #expect(placed.json.text("fills.0.commission") == "0.00050000")
        #expect(placed.json.text("fills.0.commissionAsset") == "BTC")
        #expect(placed.header("X-MBX-USED-WEIGHT-1M") == nil)  // limits off in this harness
        _ = try sim.binanceOrder(side: "SELL", quantity: "0.2")
        let all = try sim.binance(.get, "/api/v3/myTrades", [("symbol", "BTCUSDT")]).json
        #expect(all.count == 2)
        let firstID = try #require(all.text("0.id"))
        let secondID = try #require(all.text("1.id"))
        let from = try sim.binance(.get, "/api/v3/myTrades", [("symbol", "BTCUSDT"), ("fromId", secondID)]).json
        #expect(from.count == 1)
        #expect(from.text("0.id") == secondID)
        #expect(from.text("0.isBuyer") == "false")
        #expect(from.text("0.commissionAsset") == "USDT")
        #expect(firstID != secondID)
        let balances = try sim.binance(.get, "/api/v3/account", []).json["balances"]?.arrayValue ?? []
        let btc = balances.first { $0.text("asset") == "BTC" }
        #expect(btc?.text("free") == "10.29950000")  // 10 + 0.5 − 0.0005 fee − 0.2
    }

    @Test func duplicateClientIDRefusedOnlyWhileTheFirstIsWorking() throws {
        let sim = try SimulatorHarness()
        try sim.pin("binance", "ETHUSDT", "3200")
        let first = try sim.binanceOrder("ETHUSDT", type: "LIMIT", quantity: "1", price: "3100", clientID: "dup-1")
        #expect(first.json.text("status") == "NEW")
        let refused = try sim.binanceOrder("ETHUSDT", type: "LIMIT", quantity: "1", price: "3100", clientID: "dup-1")
        #expect(refused.status == 400)
        #expect(refused.json.text("code") == "-2010")
        let found = try sim.binance(.get, "/api/v3/order", [("symbol", "ETHUSDT"), ("origClientOrderId", "dup-1")]).json
        #expect(found.text("status") == "NEW")
        try sim.pin("binance", "ETHUSDT", "3090")  // crosses: the first order fills
        let filled = try sim.binance(.get, "/api/v3/order", [("symbol", "ETHUSDT"), ("origClientOrderId", "dup-1")]).json
        #expect(filled.text("status") == "FILLED")
        let second = try sim.binanceOrder("ETHUSDT", quantity: "1", clientID: "dup-1")
        #expect(second.status == 200)
        #expect(try sim.truth("binance", SimulatorHarness.binance.key).text("orders_per_client_id.dup-1") == "2")
    }

    @Test func cancelLookUpAndFilters() throws {
        let sim = try SimulatorHarness()
        try sim.pin("binance", "BTCUSDT", "65000")
        let orderID = try #require(try sim.binanceOrder(type: "LIMIT", quantity: "0.001", price: "60000", clientID: "c-1").json.text("orderId"))
        #expect(try sim.binance(.get, "/api/v3/openOrders", [("symbol", "BTCUSDT")]).json.count == 1)
        let cancelled = try sim.binance(.delete, "/api/v3/order", [("symbol", "BTCUSDT"), ("orderId", orderID)])
        #expect(cancelled.json.text("status") == "CANCELED")
        #expect(try sim.binance(.delete, "/api/v3/order", [("symbol", "BTCUSDT"), ("orderId", orderID)]).json.text("code") == "-2011")
        #expect(try sim.binance(.get, "/api/v3/order", [("symbol", "BTCUSDT"), ("orderId", "424242")]).json.text("code") == "-2013")
        #expect(try sim.binanceOrder(quantity: "0.000001").json.text("msg") == "Filter failure: LOT_SIZE")
        #expect(try sim.binanceOrder(type: "LIMIT", price: "60000.001").json.text("msg") == "Filter failure: PRICE_FILTER")
        #expect(try sim.binanceOrder("DOGEUSDT").json.text("code") == "-1121")
        #expect(try sim.binanceOrder(clientID: "has space").json.text("code") == "-1100")
    }

    @Test func weightHeadersWhenLimitsAreOn() throws {
        let sim = try SimulatorHarness(rateLimits: true)
        let reply = try sim.binanceOrder()
        #expect(reply.header("X-MBX-USED-WEIGHT-1M") == "1")
        #expect(reply.header("X-MBX-ORDER-COUNT-10S") == "1")
        #expect(try sim.binance(.get, "/api/v3/account", []).header("X-MBX-USED-WEIGHT-1M") == "21")
    }
}
