import Foundation
@testable import TMBrokers
import TMCore
import TMHTTP
import TestSupport
import Testing

/// The Upstox adapter against Upstox's own documented samples (`Fixtures/upstox`, sources in its
/// SOURCES.md), field by field, and the requests of the calls that have no reading to test.
@Suite(.timeLimit(.minutes(1))) struct UpstoxFixtureTests {
    /// Upstox's success envelope around a sample the documentation prints without it (the order
    /// book page shows only the `data` array).
    static func enveloped(_ path: String) throws -> TestHTTPServer.Behavior {
        .json(200, #"{"status":"success","data":"# + (try Fixture.text(path)) + "}")
    }

    @Test func readsTheDocumentedOrderBook() async throws {
        let harness = try BrokerHarness { _ in try! Self.enveloped("upstox/order-book.json") }
        let orders = try await harness.adapter(.upstox).orders(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/upstox/v2/order/retrieve-all")
        #expect(orders == [
            BrokerOrder(brokerOrderID: "231019025057849", clientOrderID: nil, symbol: "FCONSUMER", exchange: "BSE", side: .buy, type: .limit,
                        quantity: 1, filledQuantity: 1, averagePrice: decimal("0.8"), limitPrice: decimal("0.8"), status: .filled,
                        rejectReason: nil, submittedAt: utc(2023, 10, 19, 3, 53, 23), updatedAt: utc(2023, 10, 19, 3, 53, 23),
                        stopPrice: nil, product: .delivery, remainingQuantity: 0),
            BrokerOrder(brokerOrderID: "231019025000398", clientOrderID: nil, symbol: "SBIN23OCTFUT", exchange: "NFO", side: .sell, type: .stop,
                        quantity: 1500, filledQuantity: 0, averagePrice: nil, limitPrice: nil, status: .rejected,
                        rejectReason: "You need to add Rs. 138385.27 in your account to place this trade.",
                        submittedAt: utc(2023, 10, 19, 3, 45, 0), updatedAt: nil, stopPrice: 570, product: .intraday, remainingQuantity: 0),
            BrokerOrder(brokerOrderID: "231019025000428", clientOrderID: nil, symbol: "SENSEX23O2066000PE", exchange: "BFO", side: .buy,
                        type: .limit, quantity: 10, filledQuantity: 0, averagePrice: nil, limitPrice: decimal("0.05"), status: .cancelled,
                        rejectReason: nil, submittedAt: utc(2023, 10, 19, 4, 0, 53), updatedAt: utc(2023, 10, 19, 4, 0, 53),
                        stopPrice: nil, product: .delivery, remainingQuantity: 0),
        ])
    }

    @Test func looksUpByTagThroughTheDocumentedHistory() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/order-history.json") }
        let found = try await harness.adapter(.upstox).order(clientOrderID: "tmTAG", symbol: nil, credentials: Secrets.credentials)
        #expect(harness.lastRequest?.target == "/upstox/v2/order/history?tag=tmTAG")
        // The last of the six states is the order now.
        #expect(found == BrokerOrder(brokerOrderID: "231019025564798", clientOrderID: nil, symbol: "SBIN", exchange: "NSE", side: .sell,
                                     type: .limit, quantity: 1, filledQuantity: 1, averagePrice: decimal("571.4"),
                                     limitPrice: decimal("571.35"), status: .filled, rejectReason: nil,
                                     submittedAt: utc(2023, 10, 19, 7, 55, 56), updatedAt: utc(2023, 10, 19, 7, 55, 56),
                                     stopPrice: nil, product: .delivery, remainingQuantity: 0))
    }

    @Test func readsTheDocumentedTradesWithTheTradingSymbol() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/trades.json") }
        let batch = try await harness.adapter(.upstox).trades(since: TradeCursor(), symbols: [], credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/upstox/v2/order/trades/get-trades-for-day")
        #expect(batch.trades == [
            BrokerTrade(brokerTradeID: "50091502", brokerOrderID: "221013001021539", clientOrderID: nil, symbol: "GMRINFRA-EQ", exchange: "NSE",
                        side: .buy, quantity: 1, price: decimal("299.4"), fee: 0, feeCurrency: nil, executedAt: utc(2017, 8, 3, 9, 33, 42),
                        product: .delivery, isMaker: nil, quoteQuantity: nil, orderRemainingQuantity: nil),
        ])
        #expect(batch.next.values["last_fill_ms"] == String(WireTime.milliseconds(utc(2017, 8, 3, 9, 33, 42))))
    }

    /// The documented positions: two day-only lines have `"average_price": null`; the long one's
    /// average is its `buy_price` (0.8, = buy_value / quantity), the flat one's is 0. A currency
    /// option keeps its multiplier of 1,000.
    @Test func readsTheDocumentedPositionsWithTheNullAverageFallback() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/positions.json") }
        let positions = try await harness.adapter(.upstox).positions(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/upstox/v2/portfolio/short-term-positions")
        #expect(positions == [
            BrokerPosition(symbol: "BANKNIFTY23OCT38000PE", exchange: "NFO", quantity: 15, averagePrice: decimal("2.65"),
                           lastPrice: decimal("1.75"), realizedPnl: 0, unrealizedPnl: decimal("-658304.25"), multiplier: 1),
            BrokerPosition(symbol: "FCONSUMER", exchange: "BSE", quantity: 1, averagePrice: decimal("0.8"),
                           lastPrice: decimal("0.81"), realizedPnl: 0, unrealizedPnl: decimal("0.01"), multiplier: 1),
            BrokerPosition(symbol: "GOLDPETAL23DECFUT", exchange: "MCX", quantity: 1, averagePrice: 5867,
                           lastPrice: 6005, realizedPnl: 0, unrealizedPnl: 0, multiplier: 1),
            BrokerPosition(symbol: "USDINR23OCT85.5CE", exchange: "CDS", quantity: 1, averagePrice: decimal("0.005"),
                           lastPrice: decimal("0.0025"), realizedPnl: 0, unrealizedPnl: -83265, multiplier: 1000),
            BrokerPosition(symbol: "SBIN", exchange: "NSE", quantity: 0, averagePrice: 0,
                           lastPrice: decimal("571.2"), realizedPnl: decimal("0.45"), unrealizedPnl: 0, multiplier: 1),
        ])
        #expect(positions[3].exposure == decimal("2.5"))
    }

    @Test func readsTheDocumentedFundsPerSegment() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/funds.json") }
        let funds = try await harness.adapter(.upstox).funds(credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect("\(request.method) \(request.target)" == "GET /upstox/v2/user/get-funds-and-margin")
        #expect(request.header("Authorization") == "Bearer \(Secrets.accessToken)")
        #expect(request.header("Api-Version") == "2.0")
        #expect(funds == [
            BrokerFunds(segment: "equity", currency: "INR", available: decimal("15507.46"), cash: nil, used: decimal("0.8"), total: nil),
            BrokerFunds(segment: "commodity", currency: "INR", available: decimal("3874.5"), cash: nil, used: decimal("555.23"), total: nil),
        ])
    }

    /// Instruments are quoted by instrument key in one comma-separated request; the answer (keyed
    /// `NSE_EQ:NHPC`) is matched back by `instrument_token`; an instrument left out of the answer is
    /// left out.
    @Test func quotesTheDocumentedLastPriceByInstrumentKey() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/ltp.json") }
        let nhpc = InstrumentRef(symbol: "NHPC", exchange: "NSE", brokerToken: "NSE_EQ|INE848E01016")
        let idea = InstrumentRef(symbol: "IDEA", exchange: "NSE", brokerToken: "NSE_EQ|INE669E01016")
        // IDEA first: the answer holds NHPC only, so a positional match would give IDEA its price.
        let prices = try await harness.adapter(.upstox).lastPrices([idea, nhpc], credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "GET")
        #expect(request.path == "/upstox/v2/market-quote/ltp")
        let query = formPairs(request.query ?? "")
        #expect(query.map(\.0) == ["instrument_key"])
        #expect(query.map(\.1) == ["NSE_EQ|INE669E01016,NSE_EQ|INE848E01016"])
        #expect(prices == [LastPrice(instrument: nhpc, price: decimal("52.05"), tradedAt: nil)])
    }

    @Test func aQuoteWithoutAnInstrumentKeyIsRefusedUnsent() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/ltp.json") }
        let error = await brokerError {
            try await harness.adapter(.upstox).lastPrices([InstrumentRef(symbol: "NHPC", exchange: "NSE")], credentials: Secrets.credentials)
        }
        guard case .rejected(let reason, let code)? = error else { Issue.record("expected a refusal, got \(String(describing: error))"); return }
        #expect(code == "MISSING_INSTRUMENT_KEY")
        #expect(reason.contains("InstrumentRef.brokerToken"))
        #expect(harness.server.requests.isEmpty)
    }

    @Test func placesByTheInstrumentKeyAndKeepsTheTradingSymbol() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/modify-order.json") }
        var order = sampleOrder(for: .upstox)
        order.symbol = "NHPC"
        order.brokerToken = "NSE_EQ|INE848E01016"
        let placed = try await harness.adapter(.upstox).placeOrder(order, credentials: Secrets.credentials)
        let body = try JSONValue.parse(try #require(harness.lastRequest).bodyText)
        #expect(body["instrument_token"]?.stringValue == "NSE_EQ|INE848E01016")
        #expect(placed.brokerOrderID == "1644490272000")
        #expect(placed.symbol == "NHPC")
    }

    /// Without `brokerToken` the order is refused before anything is sent, naming the field — unless
    /// the symbol itself is an instrument key (the callers that still pass one).
    @Test func anOrderWithoutAnInstrumentKeyIsRefusedUnsent() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/modify-order.json") }
        var order = sampleOrder(for: .upstox)
        order.symbol = "NHPC"
        let error = await brokerError { try await harness.adapter(.upstox).placeOrder(order, credentials: Secrets.credentials) }
        guard case .rejected(let reason, let code)? = error else { Issue.record("expected a refusal, got \(String(describing: error))"); return }
        #expect(code == "MISSING_INSTRUMENT_KEY")
        #expect(reason.contains("OrderRequest.brokerToken"))
        #expect(harness.server.requests.isEmpty)

        order.symbol = "NSE_EQ|INE848E01016"
        _ = try await harness.adapter(.upstox).placeOrder(order, credentials: Secrets.credentials)
        #expect(try JSONValue.parse(try #require(harness.lastRequest).bodyText)["instrument_token"]?.stringValue == "NSE_EQ|INE848E01016")
    }

    @Test func modifiesOnTheOrderHostAsDocumented() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/modify-order.json") }
        let modification = OrderModification(brokerOrderID: "240108010918222", symbol: "NHPC", exchange: "NSE", side: .buy, type: .stopLimit,
                                             quantity: 2, limitPrice: decimal("16.8"), stopPrice: decimal("16.9"), timeInForce: .day,
                                             replacementClientOrderID: "tmIGNORED")
        let modified = try await harness.adapter(.upstox).modifyOrder(modification, credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect("\(request.method) \(request.target)" == "PUT /upstox/v2/order/modify")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("Authorization") == "Bearer \(Secrets.accessToken)")
        #expect(try JSONValue.parse(request.bodyText).objectMembers == [
            "order_id": .string("240108010918222"), "quantity": .number("2"), "validity": .string("DAY"), "price": .number("16.8"),
            "order_type": .string("SL"), "disclosed_quantity": .number("0"), "trigger_price": .number("16.9"),
        ])
        #expect(modified.brokerOrderID == "1644490272000")
        #expect(modified.status == .open)
        #expect(modified.quantity == 2)
        #expect(modified.limitPrice == decimal("16.8"))
        #expect(modified.stopPrice == decimal("16.9"))
    }

    /// A modification is a change: a 5xx or a lost answer leaves its outcome unknown.
    @Test func aModificationWhoseAnswerIsAServerErrorIsUnknown() async throws {
        let harness = try BrokerHarness { _ in .json(500, #"{"status":"error","errors":[{"error_code":"UDAPI100500","message":"Something went wrong... please contact us","property_path":null,"invalid_value":null}]}"#) }
        let error = await brokerError {
            try await harness.adapter(.upstox).modifyOrder(
                OrderModification(brokerOrderID: "1", symbol: "NHPC", side: .buy, type: .market, quantity: 1, replacementClientOrderID: "x"),
                credentials: Secrets.credentials)
        }
        #expect(error.map(ErrorShape.init) == .unknownOutcome)
    }

    @Test func cancelsAsDocumented() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("upstox/cancel-order.json") }
        try await harness.adapter(.upstox).cancelOrder(brokerOrderID: "240108010445130", symbol: nil, credentials: Secrets.credentials)
        #expect(harness.lastRequest.map { "\($0.method) \($0.target)" } == "DELETE /upstox/v2/order/cancel?order_id=240108010445130")
    }

    /// The documented error envelope (snake_case, the current spelling) read as it is printed.
    @Test func readsTheDocumentedErrorEnvelope() async throws {
        try await checkErrorCase(ErrorCase(name: "documented envelope", status: 400, body: try Fixture.text("upstox/error.json"),
                                           placement: .rejected(code: "string"), read: .rejected(code: "string"), mentions: "string"),
                                 broker: .upstox)
    }

    /// The documented codes (https://upstox.com/developer/api-documentation/error-codes and the
    /// endpoints' pages: code and message as tabled there) in the documented envelope.
    static func documented(_ code: String, _ message: String) -> String {
        try! Fixture.text("upstox/error.json")
            .replacingOccurrences(of: #""error_code": "string""#, with: #""error_code": "\#(code)""#)
            .replacingOccurrences(of: #""message": "string""#, with: #""message": "\#(message)""#)
    }

    static let documentedCodes: [ErrorCase] = [
        ErrorCase(name: "UDAPI100050", status: 401, body: documented("UDAPI100050", "Invalid token used to access API"),
                  placement: .unauthorized, read: .unauthorized, mentions: "Invalid token used to access API"),
        ErrorCase(name: "UDAPI100016", status: 401, body: documented("UDAPI100016", "Invalid Credentials"),
                  placement: .unauthorized, read: .unauthorized),
        ErrorCase(name: "UDAPI100073", status: 403, body: documented("UDAPI100073", "Your 'client_id' is inactive."),
                  placement: .unauthorized, read: .unauthorized),
        ErrorCase(name: "UDAPI10005", status: 429, body: documented("UDAPI10005", "Too Many Request Sent"),
                  placement: .rateLimited(nil), read: .rateLimited(nil)),
        ErrorCase(name: "UDAPI100500", status: 500, body: documented("UDAPI100500", "Something went wrong... please contact us"),
                  placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "UDAPI100072", status: 400,
                  body: documented("UDAPI100072", "The Funds service is accessible from 5:30 AM to 12:00 AM IST daily"),
                  placement: .unavailable, read: .unavailable, mentions: "Funds service"),
        ErrorCase(name: "UDAPI100010", status: 404, body: documented("UDAPI100010", "Order not found"), placement: .notFound, read: .notFound),
        ErrorCase(name: "UDAPI100040", status: 400, body: documented("UDAPI100040", "Cancel of already cancelled/rejected/completed order is not allowed"),
                  placement: .rejected(code: "UDAPI100040"), read: .rejected(code: "UDAPI100040")),
        ErrorCase(name: "UDAPI1087", status: 400, body: documented("UDAPI1087", "Invalid Instrument key"),
                  placement: .rejected(code: "UDAPI1087"), read: .rejected(code: "UDAPI1087"), mentions: "Invalid Instrument key"),
        ErrorCase(name: "UDAPI100036", status: 400, body: documented("UDAPI100036", "Invalid Input"),
                  placement: .rejected(code: "UDAPI100036"), read: .rejected(code: "UDAPI100036")),
        ErrorCase(name: "UDAPI10000", status: 400, body: documented("UDAPI10000", "This request is not supported by Upstox API"),
                  placement: .rejected(code: "UDAPI10000"), read: .rejected(code: "UDAPI10000")),
    ]

    @Test(arguments: documentedCodes) func mapsEveryDocumentedCode(_ errorCase: ErrorCase) async throws {
        try await checkErrorCase(errorCase, broker: .upstox)
    }
}
