import Foundation
import TMBrokers
import TMCrypto
import TMHTTP
import TestSupport
import Testing

/// Binance Spot as documented: the signature (test vector and every request), per-symbol trade
/// paging with fromId, balances as positions, every error code.
@Suite(.timeLimit(.minutes(1))) struct BinanceAdapterTests {
    static let vectorSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"

    static let resultOrder = """
    {"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"6gCrw2kRUAF9CvJDGP16IP","transactTime":1507725176595,
     "price":"43123.45000000","origQty":"0.00123000","executedQty":"0.00100000","origQuoteOrderQty":"0.000000",
     "cummulativeQuoteQty":"43.12345000","status":"PARTIALLY_FILLED","timeInForce":"GTC","type":"LIMIT","side":"BUY",
     "workingTime":1507725176595,"selfTradePreventionMode":"NONE"}
    """

    @Test func signatureMatchesTheDocumentedVector() {
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        #expect(BinanceSigning.signature(payload: payload, secret: Self.vectorSecret)
                == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
        let query = BinanceSigning.signedQuery(
            [("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", "1"), ("price", "0.1")],
            recvWindow: 5000, timestamp: 1_499_827_319_559, secret: Self.vectorSecret)
        #expect(query == payload + "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    }

    /// The signature the server must be able to verify: HMAC of everything before `&signature=`.
    func expectSigned(_ request: TestHTTPServer.Request, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let query = try #require(request.query, sourceLocation: sourceLocation)
        let range = try #require(query.range(of: "&signature="), sourceLocation: sourceLocation)
        let payload = String(query[..<range.lowerBound])
        #expect(String(query[range.upperBound...]) == HMACSHA256.hex(message: payload + request.bodyText, key: Secrets.apiSecret),
                sourceLocation: sourceLocation)
        let pairs = formPairs(payload)
        #expect(pairs.suffix(2).map(\.0) == ["recvWindow", "timestamp"], sourceLocation: sourceLocation)
        #expect(formDictionary(payload)["recvWindow"] == "5000", sourceLocation: sourceLocation)
        #expect(formDictionary(payload)["timestamp"] == "1499827319559", sourceLocation: sourceLocation)
        #expect(request.header("X-MBX-APIKEY") == Secrets.apiKey, sourceLocation: sourceLocation)
        #expect(!query.contains(Secrets.apiSecret), sourceLocation: sourceLocation)
    }

    @Test func placesASignedOrder() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.resultOrder) }
        let order = sampleOrder(for: .binance)
        let placed = try await harness.binance().placeOrder(order, credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "POST")
        #expect(request.path == "/binance/api/v3/order")
        #expect(request.body.isEmpty)
        try expectSigned(request)
        let sent = formPairs(request.query!)
        #expect(sent.map(\.0) == ["symbol", "side", "type", "timeInForce", "quantity", "price", "newClientOrderId", "newOrderRespType",
                                  "recvWindow", "timestamp", "signature"])
        let fields = formDictionary(request.query!)
        #expect(fields["symbol"] == "BTCUSDT")
        #expect(fields["side"] == "BUY")
        #expect(fields["type"] == "LIMIT")
        #expect(fields["timeInForce"] == "GTC")
        #expect(fields["quantity"] == "0.00123")
        #expect(fields["price"] == "43123.45")
        #expect(fields["newClientOrderId"] == order.clientOrderID)
        #expect(fields["newOrderRespType"] == "RESULT")
        #expect(placed.brokerOrderID == "28")
        #expect(placed.clientOrderID == "6gCrw2kRUAF9CvJDGP16IP")
        #expect(placed.status == .partiallyFilled)
        #expect(placed.quantity == decimal("0.00123"))
        #expect(placed.filledQuantity == decimal("0.001"))
        #expect(placed.averagePrice == decimal("43123.45"))
        #expect(placed.limitPrice == decimal("43123.45"))
        #expect(placed.submittedAt == Date(timeIntervalSince1970: 1_507_725_176.595))
    }

    @Test func marketOrdersCarryNoPriceOrValidity() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.resultOrder) }
        _ = try await harness.binance().placeOrder(
            OrderRequest(clientOrderID: "abc-_1", symbol: "ETHUSDT", side: .sell, quantity: decimal("0.5"), type: .market),
            credentials: Secrets.credentials)
        let fields = formDictionary(try #require(harness.lastRequest).query!)
        #expect(fields["type"] == "MARKET")
        #expect(fields["timeInForce"] == nil)
        #expect(fields["price"] == nil)
        #expect(fields["side"] == "SELL")
    }

    @Test func looksUpByClientOrderIDAndCancels() async throws {
        let harness = try BrokerHarness { request in
            let fields = formDictionary(request.query ?? "")
            if request.method == "DELETE" { return .json(200, Self.resultOrder) }
            if fields["origClientOrderId"] == "known" { return .json(200, Self.resultOrder) }
            return .json(400, #"{"code":-2013,"msg":"Order does not exist."}"#)
        }
        let adapter = harness.binance()
        let found = try await adapter.order(clientOrderID: "known", symbol: "BTCUSDT", credentials: Secrets.credentials)
        #expect(found?.brokerOrderID == "28")
        let lookup = try #require(harness.lastRequest)
        #expect(lookup.method == "GET")
        #expect(lookup.path == "/binance/api/v3/order")
        #expect(formDictionary(lookup.query!)["symbol"] == "BTCUSDT")
        try expectSigned(lookup)
        #expect(try await adapter.order(clientOrderID: "unknown", symbol: "BTCUSDT", credentials: Secrets.credentials) == nil)
        // Without the symbol Binance cannot look anything up: refused, nothing sent.
        let count = harness.server.requests.count
        #expect(await brokerError { try await adapter.order(clientOrderID: "x", symbol: nil, credentials: Secrets.credentials) }
            .map(ErrorShape.init) == .rejected(code: "SYMBOL_REQUIRED"))
        #expect(harness.server.requests.count == count)
        try await adapter.cancelOrder(brokerOrderID: "28", symbol: "BTCUSDT", credentials: Secrets.credentials)
        let cancel = try #require(harness.lastRequest)
        #expect(cancel.method == "DELETE")
        #expect(formDictionary(cancel.query!)["orderId"] == "28")
        try expectSigned(cancel)
    }

    @Test func listsOpenOrders() async throws {
        let harness = try BrokerHarness { _ in .json(200, "[\(Self.resultOrder)]") }
        let orders = try await harness.binance().orders(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/binance/api/v3/openOrders")
        try expectSigned(try #require(harness.lastRequest))
        #expect(orders.count == 1)
    }

    /// The open list, then each named symbol's orders of the last 24 hours by the adapter's clock.
    @Test func readsRecentOrdersOfTheNamedSymbols() async throws {
        let harness = try BrokerHarness { request in .json(200, request.path.hasSuffix("/openOrders") ? "[\(Self.resultOrder)]" : "[]") }
        let orders = try await harness.binance().orders(symbols: ["ETHUSDT", "BTCUSDT", "ETHUSDT"], credentials: Secrets.credentials)
        #expect(orders.map(\.brokerOrderID) == ["28"])
        let requests = harness.server.requests
        #expect(requests.map { "\($0.method) \($0.path)" } == [
            "GET /binance/api/v3/openOrders", "GET /binance/api/v3/allOrders", "GET /binance/api/v3/allOrders",
        ])
        for request in requests { try expectSigned(request) }
        let recent = requests.dropFirst().map { formPairs($0.query!).map(\.0) }
        #expect(recent.allSatisfy { $0 == ["symbol", "startTime", "limit", "recvWindow", "timestamp", "signature"] })
        let fields = requests.dropFirst().map { formDictionary($0.query!) }
        #expect(fields.map { $0["symbol"] } == ["BTCUSDT", "ETHUSDT"])
        #expect(fields.allSatisfy { $0["startTime"] == String(1_499_827_319_559 - 86_400_000) && $0["limit"] == "1000" })
    }

    @Test func modifiesByCancelReplace() async throws {
        let harness = try BrokerHarness { _ in .json(200, #"{"cancelResult":"SUCCESS","newOrderResult":"SUCCESS","cancelResponse":{},"newOrderResponse":\#(Self.resultOrder)}"#) }
        let modification = OrderModification(brokerOrderID: "27", symbol: "BTCUSDT", side: .buy, type: .stopLimit, quantity: decimal("0.002"),
                                             limitPrice: decimal("43000.5"), stopPrice: decimal("42900"), timeInForce: .gtc,
                                             replacementClientOrderID: "mod-key_1")
        let replacement = try await harness.binance().modifyOrder(modification, credentials: Secrets.credentials)
        #expect(replacement.brokerOrderID == "28")
        let request = try #require(harness.lastRequest)
        #expect(request.method == "POST")
        #expect(request.path == "/binance/api/v3/order/cancelReplace")
        #expect(request.body.isEmpty)
        try expectSigned(request)
        #expect(formPairs(request.query!).map(\.0) == [
            "symbol", "side", "type", "timeInForce", "quantity", "price", "stopPrice", "newClientOrderId", "newOrderRespType",
            "cancelReplaceMode", "cancelOrderId", "recvWindow", "timestamp", "signature",
        ])
        let fields = formDictionary(request.query!)
        #expect(fields["type"] == "STOP_LOSS_LIMIT")
        #expect(fields["timeInForce"] == "GTC")
        #expect(fields["quantity"] == "0.002")
        #expect(fields["price"] == "43000.5")
        #expect(fields["stopPrice"] == "42900")
        #expect(fields["newClientOrderId"] == "mod-key_1")
        #expect(fields["newOrderRespType"] == "RESULT")
        #expect(fields["cancelReplaceMode"] == "STOP_ON_FAILURE")
        #expect(fields["cancelOrderId"] == "27")
        // A replacement id Binance would refuse is refused before anything is sent.
        let count = harness.server.requests.count
        var bad = modification
        bad.replacementClientOrderID = "has space"
        #expect(await brokerError { try await harness.binance().modifyOrder(bad, credentials: Secrets.credentials) } != nil)
        #expect(harness.server.requests.count == count)
    }

    /// A modification is a change: a cancel-replace whose answer never comes has an unknown outcome.
    @Test func aModificationTimingOutHasAnUnknownOutcome() async throws {
        let harness = try BrokerHarness(timeouts: BrokerTimeouts(connect: .seconds(2), total: .milliseconds(300))) { _ in .hang }
        let modification = OrderModification(brokerOrderID: "27", symbol: "BTCUSDT", side: .buy, type: .limit, quantity: 1,
                                             limitPrice: 100, timeInForce: .gtc, replacementClientOrderID: "mod-1")
        let error = await brokerError { try await harness.binance().modifyOrder(modification, credentials: Secrets.credentials) }
        #expect(error.map(ErrorShape.init) == .unknownOutcome)
    }

    @Test func fundsReadTheAccount() async throws {
        let harness = try BrokerHarness { _ in
            .json(200, #"{"balances":[{"asset":"USDT","free":"10.5","locked":"2"},{"asset":"BTC","free":"1","locked":"0"},{"asset":"FDUSD","free":"0","locked":"0"}]}"#)
        }
        let funds = try await harness.binance().funds(credentials: Secrets.credentials)
        #expect(funds == [BrokerFunds(currency: "USDT", available: decimal("10.5"), used: 2, total: decimal("12.5"))])
        let request = try #require(harness.lastRequest)
        #expect(request.method == "GET")
        #expect(request.path == "/binance/api/v3/account")
        #expect(formDictionary(request.query!)["omitZeroBalances"] == "true")
        try expectSigned(request)
    }

    /// The price ticker is public: no key, no timestamp, no signature; one call for the batch.
    @Test func lastPricesAreOnePublicCall() async throws {
        let harness = try BrokerHarness { _ in .json(200, #"[{"symbol":"BTCUSDT","price":"43123.45000000"},{"symbol":"ETHUSDT","price":"2301.1"}]"#) }
        let instruments = [InstrumentRef(symbol: "ETHUSDT"), InstrumentRef(symbol: "BTCUSDT")]
        let prices = try await harness.binance().lastPrices(instruments, credentials: Secrets.credentials)
        #expect(prices == [LastPrice(instrument: instruments[0], price: decimal("2301.1")),
                           LastPrice(instrument: instruments[1], price: decimal("43123.45"))])
        let request = try #require(harness.lastRequest)
        #expect(harness.server.requests.count == 1)
        #expect(request.method == "GET")
        #expect(request.path == "/binance/api/v3/ticker/price")
        #expect(request.query == "symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D")
        #expect(formPairs(request.query!).map(\.1) == [#"["BTCUSDT","ETHUSDT"]"#])
        #expect(request.header("X-MBX-APIKEY") == nil)
        #expect(try await harness.binance().lastPrices([], credentials: Secrets.credentials) == [])
        #expect(harness.server.requests.count == 1)
    }

    static func trade(_ id: Int64, symbol: String) -> String {
        """
        {"symbol":"\(symbol)","id":\(id),"orderId":\(100 + id),"orderListId":-1,"price":"4.0000010\(id % 10)","qty":"12.00000000",
         "quoteQty":"48.000012","commission":"10.10000000","commissionAsset":"BNB","time":\(1_499_865_549_590 + id),
         "isBuyer":\(id % 2 == 0),"isMaker":false,"isBestMatch":true}
        """
    }

    @Test func readsTradesPerSymbolWithFromIDAcrossPages() async throws {
        // BTCUSDT: ids 5...1504 (two pages of 1000 and 500); ETHUSDT: resumes after id 41.
        let harness = try BrokerHarness { request in
            let fields = formDictionary(request.query ?? "")
            let symbol = fields["symbol"]!
            let from = Int64(fields["fromId"]!)!
            let limit = Int64(fields["limit"]!)!
            let ids: [Int64] = symbol == "BTCUSDT" ? Array(5...1504) : [40, 41, 42, 43]
            let page = ids.filter { $0 >= from }.prefix(Int(limit))
            return .json(200, "[" + page.map { Self.trade($0, symbol: symbol) }.joined(separator: ",") + "]")
        }
        let batch = try await harness.binance().trades(since: TradeCursor(["ETHUSDT": "41"]), symbols: ["BTCUSDT"],
                                                       credentials: Secrets.credentials)
        let requests = harness.server.requests.map { formDictionary($0.query ?? "") }
        #expect(harness.server.requests.allSatisfy { $0.path == "/binance/api/v3/myTrades" && $0.method == "GET" })
        #expect(requests.map { "\($0["symbol"]!)@\($0["fromId"]!)" } == ["BTCUSDT@0", "BTCUSDT@1005", "ETHUSDT@42"])
        #expect(requests.allSatisfy { $0["limit"] == "1000" })
        for request in harness.server.requests { try expectSigned(request) }
        #expect(batch.trades.count == 1500 + 2)
        #expect(batch.next == TradeCursor(["BTCUSDT": "1504", "ETHUSDT": "43"]))
        let first = try #require(batch.trades.first)
        #expect(first.brokerTradeID == "BTCUSDT:5")
        #expect(first.brokerOrderID == "105")
        #expect(first.side == .sell)
        #expect(first.price == decimal("4.00000105"))
        #expect(first.quantity == 12)
        #expect(first.fee == decimal("10.1"))
        #expect(first.feeCurrency == "BNB")
        #expect(first.executedAt == Date(timeIntervalSince1970: 1_499_865_549.595))
        #expect(batch.trades.contains { $0.brokerTradeID == "ETHUSDT:42" && $0.side == .buy })
        #expect(zip(batch.trades, batch.trades.dropFirst()).allSatisfy { $0.executedAt <= $1.executedAt })
    }

    @Test func positionsAreNonZeroNonCashBalances() async throws {
        let body = """
        {"makerCommission":15,"takerCommission":15,"canTrade":true,"accountType":"SPOT","updateTime":123456789,
         "balances":[{"asset":"BTC","free":"4723846.89208129","locked":"0.00000001"},{"asset":"LTC","free":"0","locked":"0"},
                     {"asset":"USDT","free":"1000.5","locked":"0"},{"asset":"ETH","free":"0","locked":"0.5"}],
         "permissions":["SPOT"],"uid":354937868}
        """
        let harness = try BrokerHarness { _ in .json(200, body) }
        let positions = try await harness.binance().positions(credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.path == "/binance/api/v3/account")
        #expect(formDictionary(request.query!)["omitZeroBalances"] == "true")
        try expectSigned(request)
        #expect(positions == [
            BrokerPosition(symbol: "BTC", exchange: nil, quantity: decimal("4723846.8920813"), averagePrice: 0),
            BrokerPosition(symbol: "ETH", exchange: nil, quantity: decimal("0.5"), averagePrice: 0),
        ])
    }

    static func binanceError(_ code: Int, _ message: String) -> String { #"{"code":\#(code),"msg":"\#(message)"}"# }

    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "-2014 key format", status: 401, body: binanceError(-2014, "API-key format invalid."),
                  placement: .unauthorized, read: .unauthorized, mentions: "API key format invalid"),
        ErrorCase(name: "-2015 key, IP or permissions", status: 401, body: binanceError(-2015, "Invalid API-key, IP, or permissions for action."),
                  placement: .unauthorized, read: .unauthorized, mentions: "invalid API key, IP or permissions"),
        ErrorCase(name: "-1022 signature", status: 400, body: binanceError(-1022, "Signature for this request is not valid."),
                  placement: .unauthorized, read: .unauthorized, mentions: "signature not valid"),
        ErrorCase(name: "-1003 too many requests", status: 429, body: binanceError(-1003, "Too many requests; current limit is 6000."),
                  headers: [("Retry-After", "30")], placement: .rateLimited(.seconds(30)), read: .rateLimited(.seconds(30))),
        ErrorCase(name: "418 IP ban", status: 418, body: binanceError(-1003, "Way too many requests; IP banned until 1659146012."),
                  headers: [("Retry-After", "120")], placement: .rateLimited(.seconds(120)), read: .rateLimited(.seconds(120))),
        ErrorCase(name: "-1007 timeout", status: 408,
                  body: binanceError(-1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."),
                  placement: .unknownOutcome, read: .unavailable, mentions: "Send status unknown"),
        ErrorCase(name: "503 unknown", status: 503, body: binanceError(-1001, "Internal error; unable to process your request. Please try again."),
                  placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "500 bare", status: 500, body: "", placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "-1021 clock skew", status: 400, body: binanceError(-1021, "Timestamp for this request is outside of the recvWindow."),
                  placement: .unavailable, read: .unavailable, mentions: "recvWindow"),
        ErrorCase(name: "-2010 rejected", status: 400, body: binanceError(-2010, "Account has insufficient balance for requested action."),
                  placement: .rejected(code: "-2010"), read: .rejected(code: "-2010"), mentions: "insufficient balance"),
        ErrorCase(name: "-1013 filter failure", status: 400, body: binanceError(-1013, "Filter failure: LOT_SIZE"),
                  placement: .rejected(code: "-1013"), read: .rejected(code: "-1013"), mentions: "LOT_SIZE"),
        ErrorCase(name: "-2013 no such order", status: 400, body: binanceError(-2013, "Order does not exist."),
                  placement: .notFound, read: .notFound),
        ErrorCase(name: "-2011 unknown order", status: 400, body: binanceError(-2011, "Unknown order sent."), placement: .notFound, read: .notFound),
        ErrorCase(name: "-1121 invalid symbol", status: 400, body: binanceError(-1121, "Invalid symbol."),
                  placement: .rejected(code: "-1121"), read: .rejected(code: "-1121")),
        ErrorCase(name: "400 not JSON", status: 400, body: "<html/>", placement: .invalidResponse, read: .invalidResponse),
        ErrorCase(name: "200 not JSON", status: 200, body: "<html/>", placement: .unknownOutcome, read: .invalidResponse),
    ]

    @Test(arguments: errorCases) func mapsEveryErrorShape(_ errorCase: ErrorCase) async throws {
        try await checkErrorCase(errorCase, broker: .binance)
    }
}
