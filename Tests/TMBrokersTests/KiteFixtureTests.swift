import Foundation
import TMBrokers
import TMHTTP
import TestSupport
import Testing

/// Kite's own samples (`Fixtures/kite/`, sources in its SOURCES.md) served as Kite's answers and read
/// by the adapter, every field checked: what the adapter makes of them is what it makes of Kite.
@Suite(.timeLimit(.minutes(1))) struct KiteFixtureTests {
    /// A harness answering every request with the fixture.
    static func serving(_ fixture: String) throws -> BrokerHarness {
        let behavior = try Fixture.response(fixture)
        return try BrokerHarness { _ in behavior }
    }

    // MARK: Placement, modification, cancellation

    @Test func placementReadsKitesOrderResponse() async throws {
        let harness = try Self.serving("kite/order_response.json")
        let order = sampleOrder(for: .kite)
        let placed = try await harness.adapter(.kite).placeOrder(order, credentials: Secrets.credentials)
        #expect(harness.lastRequest?.method == "POST")
        #expect(harness.lastRequest?.path == "/kite/orders/regular")
        #expect(placed.brokerOrderID == "151220000000000")
        #expect(placed.clientOrderID == order.clientOrderID)
        #expect(placed.status == .open)
        #expect(placed.quantity == 10)
        #expect(placed.filledQuantity == 0)
        #expect(placed.limitPrice == decimal("1500.05"))
    }

    @Test func modifySendsKitesDocumentedFormAndReadsItsAnswer() async throws {
        let harness = try Self.serving("kite/order_modify.json")
        let adapter = harness.adapter(.kite)
        let modification = OrderModification(brokerOrderID: "151220000000000", symbol: "INFY", exchange: "NSE", side: .buy, type: .limit,
                                             quantity: 5, limitPrice: decimal("1501.55"), replacementClientOrderID: "unused-by-kite")
        let modified = try await adapter.modifyOrder(modification, credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "PUT")
        #expect(request.path == "/kite/orders/regular/151220000000000")
        #expect(request.header("X-Kite-Version") == "3")
        #expect(request.header("Authorization") == "token \(Secrets.apiKey):\(Secrets.accessToken)")
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(formPairs(request.bodyText).map(\.0) == ["order_type", "quantity", "validity", "price"])
        #expect(formDictionary(request.bodyText) == ["order_type": "LIMIT", "quantity": "5", "validity": "DAY", "price": "1501.55"])
        // Kite acknowledges with the id only: the order as sent, open.
        #expect(modified == BrokerOrder(brokerOrderID: "151220000000000", clientOrderID: nil, symbol: "INFY", exchange: "NSE", side: .buy,
                                        type: .limit, quantity: 5, filledQuantity: 0, averagePrice: nil, limitPrice: decimal("1501.55"),
                                        status: .open))

        // A stop-limit carries its trigger; a market order no price at all.
        var stopLimit = modification
        stopLimit.type = .stopLimit
        stopLimit.stopPrice = decimal("1502")
        let withTrigger = try await adapter.modifyOrder(stopLimit, credentials: Secrets.credentials)
        #expect(formDictionary(try #require(harness.lastRequest).bodyText)
                == ["order_type": "SL", "quantity": "5", "validity": "DAY", "price": "1501.55", "trigger_price": "1502"])
        #expect(withTrigger.stopPrice == decimal("1502"))
        var market = modification
        market.type = .market
        market.timeInForce = .ioc
        _ = try await adapter.modifyOrder(market, credentials: Secrets.credentials)
        #expect(formDictionary(try #require(harness.lastRequest).bodyText) == ["order_type": "MARKET", "quantity": "5", "validity": "IOC"])

        // What Kite would refuse is refused unsent.
        var fractional = modification
        fractional.quantity = decimal("1.5")
        #expect(await brokerError { try await adapter.modifyOrder(fractional, credentials: Secrets.credentials) }.map(ErrorShape.init)
                == .rejected(code: "INVALID_QUANTITY"))
        #expect(harness.server.requests.count == 3)
    }

    /// A modification is a change: no answer means it may have been applied.
    @Test func modifyWithoutAnAnswerIsAnUnknownOutcome() async throws {
        let harness = try BrokerHarness(timeouts: BrokerTimeouts(connect: .seconds(2), total: .milliseconds(300))) { _ in .hang }
        let modification = OrderModification(brokerOrderID: "1", symbol: "INFY", side: .buy, type: .limit, quantity: 5,
                                             limitPrice: 1500, replacementClientOrderID: "x")
        let error = await brokerError { try await harness.adapter(.kite).modifyOrder(modification, credentials: Secrets.credentials) }
        #expect(error.map(ErrorShape.init) == .unknownOutcome)
        let read = await brokerError { try await harness.adapter(.kite).funds(credentials: Secrets.credentials) }
        #expect(read.map(ErrorShape.init) == .unavailable)
    }

    @Test func cancelReadsKitesCancelResponse() async throws {
        let harness = try Self.serving("kite/order_cancel.json")
        try await harness.adapter(.kite).cancelOrder(brokerOrderID: "151220000000000", symbol: nil, credentials: Secrets.credentials)
        #expect(harness.lastRequest?.method == "DELETE")
        #expect(harness.lastRequest?.path == "/kite/orders/regular/151220000000000")
    }

    // MARK: Orders, trades, positions

    @Test func readsKitesOrderBookFieldByField() async throws {
        let harness = try Self.serving("kite/orders.json")
        let orders = try await harness.adapter(.kite).orders(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/kite/orders")
        #expect(orders == [
            BrokerOrder(brokerOrderID: "100000000000000", clientOrderID: nil, symbol: "USDINR21JUNFUT", exchange: "CDS", side: .buy,
                        type: .limit, quantity: 1, filledQuantity: 0, averagePrice: nil, limitPrice: 72, status: .cancelled,
                        submittedAt: utc(2021, 5, 31, 3, 48, 57), updatedAt: utc(2021, 5, 31, 3, 48, 58), product: .carryForward,
                        remainingQuantity: 0),
            BrokerOrder(brokerOrderID: "300000000000000", clientOrderID: nil, symbol: "IOC", exchange: "NSE", side: .buy, type: .limit,
                        quantity: 1, filledQuantity: 1, averagePrice: decimal("109.4"), limitPrice: decimal("109.4"), status: .filled,
                        submittedAt: utc(2021, 5, 31, 9, 50, 28), updatedAt: utc(2021, 5, 31, 9, 50, 28), product: .delivery,
                        remainingQuantity: 0),
            BrokerOrder(brokerOrderID: "500000000000000", clientOrderID: nil, symbol: "IOC", exchange: "NSE", side: .sell, type: .market,
                        quantity: 1, filledQuantity: 1, averagePrice: decimal("109.35"), limitPrice: nil, status: .filled,
                        submittedAt: utc(2021, 5, 31, 9, 50, 51), updatedAt: utc(2021, 5, 31, 9, 50, 52), product: .delivery,
                        remainingQuantity: 0),
            BrokerOrder(brokerOrderID: "220524001859672", clientOrderID: "icebergord", symbol: "SBIN", exchange: "NSE", side: .buy,
                        type: .limit, quantity: 200, filledQuantity: 0, averagePrice: nil, limitPrice: 463, status: .rejected,
                        rejectReason: "Insufficient funds. Required margin is 95417.84 but available margin is 74251.80. Check the orderbook for open orders.",
                        submittedAt: utc(2022, 5, 24, 6, 56, 52), updatedAt: nil, product: .delivery, remainingQuantity: 0),
            BrokerOrder(brokerOrderID: "700000000000000", clientOrderID: "connect test order1", symbol: "GOLDPETAL21JUNFUT", exchange: "MCX",
                        side: .buy, type: .limit, quantity: 1, filledQuantity: 1, averagePrice: 4852, limitPrice: 4854, status: .filled,
                        submittedAt: utc(2021, 5, 31, 10, 30, 36), updatedAt: utc(2021, 5, 31, 10, 30, 36), product: .carryForward,
                        remainingQuantity: 0),
            BrokerOrder(brokerOrderID: "9000000000000000", clientOrderID: "connect test order2", symbol: "GOLDPETAL21JUNFUT", exchange: "MCX",
                        side: .buy, type: .limit, quantity: 1, filledQuantity: 1, averagePrice: 4852, limitPrice: 4854, status: .filled,
                        submittedAt: utc(2021, 5, 31, 10, 38, 40), updatedAt: utc(2021, 5, 31, 10, 38, 41), product: .carryForward,
                        remainingQuantity: 0),
            // Cancelled with pending_quantity 60 still printed: nothing is working any more.
            BrokerOrder(brokerOrderID: "98000000000000000", clientOrderID: nil, symbol: "BHEL", exchange: "NSE", side: .sell, type: .limit,
                        quantity: 60, filledQuantity: 0, averagePrice: nil, limitPrice: 85, status: .cancelled,
                        submittedAt: utc(2023, 6, 12, 8, 30, 58), updatedAt: utc(2023, 6, 12, 8, 30, 58), product: .delivery,
                        remainingQuantity: 0),
        ])
    }

    @Test func looksUpAnOrderByItsTagInKitesBook() async throws {
        let harness = try Self.serving("kite/orders.json")
        let found = try await harness.adapter(.kite).order(clientOrderID: "connect test order2", symbol: nil, credentials: Secrets.credentials)
        #expect(found?.brokerOrderID == "9000000000000000")
        #expect(try await harness.adapter(.kite).order(clientOrderID: "XXXXX", symbol: nil, credentials: Secrets.credentials) == nil)
    }

    @Test func readsKitesTradesFieldByField() async throws {
        let harness = try Self.serving("kite/trades.json")
        let batch = try await harness.adapter(.kite).trades(since: TradeCursor(), symbols: [], credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/kite/trades")
        #expect(batch.trades == [
            BrokerTrade(brokerTradeID: "10000000", brokerOrderID: "200000000000000", symbol: "SBIN", exchange: "NSE", side: .buy,
                        quantity: 1, price: decimal("420.65"), executedAt: utc(2021, 5, 31, 3, 46, 39), product: .delivery),
            BrokerTrade(brokerTradeID: "40000000", brokerOrderID: "500000000000000", symbol: "USDINR21JUNFUT", exchange: "CDS", side: .buy,
                        quantity: 1, price: decimal("72.755"), executedAt: utc(2021, 5, 31, 5, 48, 27), product: .intraday),
            BrokerTrade(brokerTradeID: "70000000", brokerOrderID: "800000000000000", symbol: "GOLDPETAL21JUNFUT", exchange: "MCX",
                        side: .buy, quantity: 1, price: 4852, executedAt: utc(2021, 5, 31, 10, 30, 36), product: .carryForward),
            BrokerTrade(brokerTradeID: "90000000", brokerOrderID: "1100000000000000", symbol: "GOLDPETAL21JUNFUT", exchange: "MCX",
                        side: .buy, quantity: 1, price: 4852, executedAt: utc(2021, 5, 31, 10, 38, 41), product: .carryForward),
        ])
        #expect(batch.trades.allSatisfy { $0.fee == 0 && $0.feeCurrency == nil && $0.isMaker == nil && $0.quoteQuantity == nil })
    }

    @Test func readsKitesPositionsWithTheirMultiplier() async throws {
        let harness = try Self.serving("kite/positions.json")
        let positions = try await harness.adapter(.kite).positions(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/kite/portfolio/positions")
        #expect(positions == [
            BrokerPosition(symbol: "LEADMINI17DECFUT", exchange: "MCX", quantity: 1, averagePrice: decimal("161.05"),
                           lastPrice: decimal("161.05"), realizedPnl: 0, unrealizedPnl: 0, multiplier: 1000),
            BrokerPosition(symbol: "GOLDGUINEA17DECFUT", exchange: "MCX", quantity: 0, averagePrice: 0, lastPrice: 23355, realizedPnl: 0,
                           unrealizedPnl: 801, multiplier: 1),
            BrokerPosition(symbol: "SBIN", exchange: "NSE", quantity: 0, averagePrice: 0, lastPrice: decimal("308.4"), realizedPnl: 0,
                           unrealizedPnl: -2, multiplier: 1),
        ])
        // One lot of LEADMINI is 1,000 kg: Kite's own `value` is −161050, not −161.05.
        #expect(positions[0].exposure == 161_050)
    }

    // MARK: Funds and last prices

    @Test func readsKitesMarginsPerSegment() async throws {
        let harness = try Self.serving("kite/user_margins.json")
        let funds = try await harness.adapter(.kite).funds(credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "GET")
        #expect(request.path == "/kite/user/margins")
        #expect(request.header("X-Kite-Version") == "3")
        #expect(request.header("Authorization") == "token \(Secrets.apiKey):\(Secrets.accessToken)")
        #expect(funds == [
            // Kite prints 99725.05000000002: kept exactly, not rounded through a Double.
            BrokerFunds(segment: "equity", currency: "INR", available: decimal("99725.05000000002"), cash: decimal("245431.6"),
                        used: decimal("145706.55")),
            BrokerFunds(segment: "commodity", currency: "INR", available: decimal("100661.7"), cash: decimal("100661.7"), used: 0),
        ])
    }

    @Test func readsKitesLastPriceAndAsksInOneCall() async throws {
        let harness = try Self.serving("kite/ltp.json")
        let infy = InstrumentRef(symbol: "INFY", exchange: "NSE")
        let prices = try await harness.adapter(.kite).lastPrices([infy], credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "GET")
        #expect(request.path == "/kite/quote/ltp")
        #expect(formPairs(request.query ?? "").map { "\($0.0)=\($0.1)" } == ["i=NSE:INFY"])
        #expect(prices == [LastPrice(instrument: infy, price: decimal("1074.35"))])
    }

    @Test func asksForManyInstrumentsTogetherAndLeavesOutWhatKiteDoesNotKnow() async throws {
        let harness = try Self.serving("kite/ltp_two.json")
        let infy = InstrumentRef(symbol: "INFY", exchange: "NSE")
        let sbin = InstrumentRef(symbol: "SBIN")  // NSE when no exchange is named
        let unknown = InstrumentRef(symbol: "NOSUCH", exchange: "BSE")
        let prices = try await harness.adapter(.kite).lastPrices([infy, unknown, sbin], credentials: Secrets.credentials)
        #expect(harness.server.requests.count == 1)
        #expect(formPairs(harness.lastRequest?.query ?? "").map(\.1) == ["NSE:INFY", "BSE:NOSUCH", "NSE:SBIN"])
        #expect(prices == [LastPrice(instrument: infy, price: decimal("1074.35")), LastPrice(instrument: sbin, price: decimal("1074.35"))])

        // Nothing to price: no call.
        #expect(try await harness.adapter(.kite).lastPrices([], credentials: Secrets.credentials).isEmpty)
        #expect(harness.server.requests.count == 1)
    }

    @Test func splitsMoreThanKitesLimitIntoCallsOfAThousand() async throws {
        let harness = try Self.serving("kite/ltp.json")
        let many = [InstrumentRef(symbol: "INFY", exchange: "NSE")] + (1...1000).map { InstrumentRef(symbol: "S\($0)", exchange: "NSE") }
        let prices = try await harness.adapter(.kite).lastPrices(many, credentials: Secrets.credentials)
        #expect(harness.server.requests.map { formPairs($0.query ?? "").count } == [1000, 1])
        #expect(prices == [LastPrice(instrument: many[0], price: decimal("1074.35"))])
    }

    // MARK: Errors

    /// What an error maps to: the same for a placement and a read, or an uncertain outcome (a
    /// placement's `unknownOutcome`, a read's `unavailable`).
    enum Mapped {
        case both(ErrorShape)
        case uncertain
        var shapes: (placement: ErrorShape, read: ErrorShape) {
            switch self {
            case .both(let shape): return (shape, shape)
            case .uncertain: return (.unknownOutcome, .unavailable)
            }
        }
    }

    /// Each error sample: its documented status and what it maps to there, and what it maps to at
    /// HTTP 200, as the official SDK's tests serve it (nil: not served so).
    static let samples: [(file: String, status: Int, documented: Mapped, at200: Mapped?)] = [
        ("error_general_exception.json", 500, .uncertain, nil),
        ("error_general_exception_sdk.json", 500, .uncertain, .uncertain),
        ("error_token_exception.json", 403, .both(.unauthorized), .both(.unauthorized)),
        ("error_permission_exception.json", 403, .both(.unauthorized), .both(.unauthorized)),
        ("error_input_exception.json", 400, .both(.rejected(code: "InputException")), .both(.rejected(code: "InputException"))),
        ("error_margin_exception.json", 400, .both(.rejected(code: "MarginException")), .both(.rejected(code: "MarginException"))),
        // Kite could not reach its OMS: the order may or may not have gone through, whatever the status.
        ("error_network_exception.json", 503, .uncertain, .uncertain),
        // A 500 leaves the outcome open; the same refusal in a 2xx is a refusal.
        ("error_order_exception.json", 500, .uncertain, .both(.rejected(code: "OrderException"))),
    ]

    /// The samples as error cases, each required to carry Kite's own message.
    static let errorCases: [ErrorCase] = samples.flatMap { sample -> [ErrorCase] in
        let body = try! Fixture.text("kite/\(sample.file)")
        let message = try! Fixture.json("kite/\(sample.file)")["message"]!.stringValue!
        return [(sample.status, sample.documented), (200, sample.at200)].compactMap { status, mapped in
            mapped.map { ErrorCase(name: "\(sample.file) at \(status)", status: status, body: body, placement: $0.shapes.placement,
                                   read: $0.shapes.read, mentions: message) }
        }
    }

    @Test(arguments: errorCases) func mapsKitesDocumentedErrors(_ errorCase: ErrorCase) async throws {
        try await checkErrorCase(errorCase, broker: .kite)
    }

    /// An error type Kite does not document, in a 2xx (the SDK test's `CustomException` row): a general
    /// error, as the SDKs treat it.
    @Test func anUndocumentedErrorTypeIsAGeneralError() async throws {
        try await checkErrorCase(ErrorCase(name: "CustomException", status: 200,
                                           body: #"{"error_type": "CustomException", "message": "this is an exception i just created"}"#,
                                           placement: .unknownOutcome, read: .unavailable, mentions: "CustomException"),
                                 broker: .kite)
    }
}
