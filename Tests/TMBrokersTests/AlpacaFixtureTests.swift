import Foundation
@testable import TMBrokers
import TMCore
import TMHTTP
import TestSupport
import Testing

/// The Alpaca adapter against Alpaca's own samples (`Fixtures/alpaca`, sources in its SOURCES.md):
/// every endpoint it calls, every field of the resulting model values, and the documented errors.
@Suite(.timeLimit(.minutes(1))) struct AlpacaFixtureTests {
    /// A harness answering every request with the fixture.
    static func serving(_ fixture: String, status: Int = 200) throws -> BrokerHarness {
        let answer = try Fixture.response("alpaca/\(fixture)", status: status)
        return try BrokerHarness { _ in answer }
    }

    static func close(_ date: Date?, _ expected: Date, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let date else {
            Issue.record("no date", sourceLocation: sourceLocation)
            return
        }
        #expect(abs(date.timeIntervalSince(expected)) < 1e-6, "\(date) is not \(expected)", sourceLocation: sourceLocation)
    }

    @Test func placementAnswerOfTheSDKsLimitOrder() async throws {
        let harness = try Self.serving("order-limit.json")
        let order = try await harness.adapter(.alpaca).placeOrder(sampleOrder(for: .alpaca), credentials: Secrets.credentials)
        #expect(harness.lastRequest?.method == "POST")
        #expect(harness.lastRequest?.path == "/alpaca/v2/orders")
        #expect(order.brokerOrderID == "61e69015-8549-4bfd-b9c3-01e75843f47d")
        #expect(order.clientOrderID == "eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4")
        #expect(order.symbol == "AAPL`")  // the SDK mock's own typo, kept verbatim
        #expect(order.exchange == nil)
        #expect(order.side == .buy)
        #expect(order.type == .limit)
        #expect(order.quantity == 1)  // a JSON number in this mock, read exactly
        #expect(order.filledQuantity == 0)
        #expect(order.averagePrice == nil)
        #expect(order.limitPrice == 300)
        #expect(order.stopPrice == nil)
        #expect(order.status == .open)  // accepted
        #expect(order.remainingQuantity == 1)
        #expect(order.product == nil)
        #expect(order.rejectReason == nil)
        Self.close(order.submittedAt, utc(2021, 3, 16, 18, 38, 1, fraction: 0.937734))
        Self.close(order.updatedAt, utc(2021, 3, 16, 18, 38, 1, fraction: 0.942282))
    }

    @Test func placementAnswerOfTheDocumentedNotionalOrder() async throws {
        let harness = try Self.serving("order-notional.json")
        let order = try await harness.adapter(.alpaca).placeOrder(sampleOrder(for: .alpaca), credentials: Secrets.credentials)
        #expect(order.brokerOrderID == "61e69015-8549-4bfd-b9c3-01e75843f47d")
        #expect(order.clientOrderID == "eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4")
        #expect(order.symbol == "AAPL")
        #expect(order.side == .buy)
        #expect(order.type == .market)
        // `qty` is null for a notional order: the quantity is what has filled, the remainder unknown.
        #expect(order.quantity == 0)
        #expect(order.filledQuantity == 0)
        #expect(order.remainingQuantity == nil)
        #expect(order.averagePrice == nil)
        #expect(order.limitPrice == nil)
        #expect(order.stopPrice == nil)
        #expect(order.status == .open)
        Self.close(order.submittedAt, utc(2021, 3, 16, 18, 38, 1, fraction: 0.937734))
        Self.close(order.updatedAt, utc(2021, 3, 16, 18, 38, 1, fraction: 0.942282))
    }

    @Test func replaceSendsWhatAlpacaDocumentsAndReadsTheNewOrder() async throws {
        let harness = try Self.serving("order-replace.json")
        let modification = OrderModification(brokerOrderID: "61e69015-8549-4bfd-b9c3-01e75843f47d", symbol: "AAPL", side: .buy,
                                             type: .stopLimit, quantity: decimal("2.5"), limitPrice: decimal("187.5"),
                                             stopPrice: decimal("186.25"), timeInForce: .gtc, replacementClientOrderID: "REPLACEMENT-1")
        let order = try await harness.adapter(.alpaca).modifyOrder(modification, credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "PATCH")
        #expect(request.path == "/alpaca/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d")
        #expect(request.header("APCA-API-KEY-ID") == Secrets.apiKey)
        #expect(request.header("APCA-API-SECRET-KEY") == Secrets.apiSecret)
        #expect(request.header("Content-Type") == "application/json")
        #expect(try JSONValue.parse(request.bodyText).objectMembers == [
            "qty": .string("2.5"), "time_in_force": .string("gtc"), "limit_price": .string("187.5"), "stop_price": .string("186.25"),
            "client_order_id": .string("REPLACEMENT-1"),
        ])
        #expect(order.brokerOrderID == "61e69015-8549-4bfd-b9c3-01e75843f47d")
        #expect(order.clientOrderID == "eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4")
        #expect(order.symbol == "AAPL`")
        #expect(order.side == .buy)
        #expect(order.type == .market)
        #expect(order.quantity == 1)
        #expect(order.filledQuantity == 0)
        #expect(order.remainingQuantity == 1)
        #expect(order.averagePrice == nil)
        #expect(order.limitPrice == nil)
        #expect(order.stopPrice == nil)
        #expect(order.status == .open)
        Self.close(order.submittedAt, utc(2021, 3, 16, 18, 38, 1, fraction: 0.937734))
    }

    @Test func replaceOfALimitOrderSendsNoStopPrice() async throws {
        let harness = try Self.serving("order-replace.json")
        _ = try await harness.adapter(.alpaca).modifyOrder(
            OrderModification(brokerOrderID: "a/b", symbol: "AAPL", side: .sell, type: .limit, quantity: 3, limitPrice: decimal("0.01"),
                              timeInForce: .day, replacementClientOrderID: "R"),
            credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.path == "/alpaca/v2/orders/a%2Fb")
        #expect(try JSONValue.parse(request.bodyText).objectMembers == [
            "qty": .string("3"), "time_in_force": .string("day"), "limit_price": .string("0.01"), "client_order_id": .string("R"),
        ])
    }

    @Test func ordersOfTheSDKsListMock() async throws {
        let harness = try Self.serving("orders.json")
        let orders = try await harness.adapter(.alpaca).orders(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/alpaca/v2/orders")
        #expect(orders.count == 1)
        let order = try #require(orders.first)
        #expect(order.brokerOrderID == "0b11f089-722d-4ced-9beb-e2eeed3637dc")
        #expect(order.clientOrderID == "string")
        #expect(order.symbol == "SPY")
        #expect(order.side == .buy)
        #expect(order.type == .stop)  // `type` wins over the deprecated `order_type`
        #expect(order.quantity == 1)
        #expect(order.filledQuantity == 0)
        #expect(order.averagePrice == 0)
        #expect(order.limitPrice == nil)
        #expect(order.stopPrice == nil)
        #expect(order.status == .open)  // new
        #expect(order.remainingQuantity == 1)
        Self.close(order.submittedAt, utc(2019, 8, 24, 14, 15, 22))
        Self.close(order.updatedAt, utc(2019, 8, 24, 14, 15, 22))
    }

    @Test func lookUpByClientOrderID() async throws {
        let harness = try Self.serving("order-by-client-id.json")
        let order = try #require(try await harness.adapter(.alpaca).order(
            clientOrderID: "eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4", symbol: nil, credentials: Secrets.credentials))
        #expect(harness.lastRequest?.path == "/alpaca/v2/orders:by_client_order_id")
        #expect(harness.lastRequest?.query == "client_order_id=eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4")
        #expect(order.brokerOrderID == "61e69015-8549-4bfd-b9c3-01e75843f47d")
        #expect(order.clientOrderID == "eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4")
        #expect(order.type == .market)
        #expect(order.quantity == 1)
        #expect(order.status == .open)
        #expect(order.remainingQuantity == 1)
    }

    @Test func fillActivitiesKeepTheirLeavesQuantity() async throws {
        let harness = try Self.serving("activities-fill.json")
        let batch = try await harness.adapter(.alpaca).trades(since: TradeCursor(), symbols: [], credentials: Secrets.credentials)
        #expect(harness.server.requests.count == 1)  // 5 < page size: the last page
        #expect(harness.lastRequest?.path == "/alpaca/v2/account/activities/FILL")
        let trades = batch.trades
        #expect(trades.map(\.brokerTradeID) == [
            "20220304135420903::047e252a-a8a3-4e35-84e2-29814cbf5057", "20220304135420898::2b9e8979-48b4-4b70-9ba0-008210b76ebf",
            "20220304123922801::3b8a937c-b1d9-4ebe-ae94-5e0b52c3f350", "20220304123922310::b53b6d71-a644-4be1-9f88-39d1c8d29831",
            "20220304123922305::bc84b8a8-8758-42aa-be3b-618d097c2867",
        ])
        #expect(trades.map(\.brokerOrderID) == [
            "cddf433b-1a41-497d-ae31-50b1fee56fff", "cddf433b-1a41-497d-ae31-50b1fee56fff", "642695e3-def7-4637-9525-2e7f698ebfc7",
            "5f4a07dc-6503-4cbf-902a-8c6608401d97", "5f4a07dc-6503-4cbf-902a-8c6608401d97",
        ])
        #expect(trades.map(\.symbol) == ["AMZN", "AMZN", "GOOGL", "TSLA", "TSLA"])
        #expect(trades.map(\.side) == [.buy, .buy, .sell, .sell, .sell])
        #expect(trades.map(\.quantity) == [decimal("1.792161878"), 1, decimal("0.058773239"), decimal("1.998065556"), 4])
        #expect(trades.map(\.price) == [decimal("2907.15"), decimal("2907.15"), decimal("2644.84"), decimal("837.45"), decimal("837.45")])
        // leaves_qty: what the order still had working after each fill (partial fills leave some).
        #expect(trades.map(\.orderRemainingQuantity) == [1, 0, 0, 4, 0])
        #expect(trades.allSatisfy { $0.fee == 0 && $0.feeCurrency == nil && $0.exchange == nil && $0.clientOrderID == nil })
        #expect(trades.allSatisfy { $0.product == nil && $0.isMaker == nil && $0.quoteQuantity == nil })
        Self.close(trades[0].executedAt, utc(2022, 3, 4, 18, 54, 20, fraction: 0.903569))
        Self.close(trades[1].executedAt, utc(2022, 3, 4, 18, 54, 20, fraction: 0.89822))
        Self.close(trades[2].executedAt, utc(2022, 3, 4, 17, 39, 22, fraction: 0.801228))
        Self.close(trades[3].executedAt, utc(2022, 3, 4, 17, 39, 22, fraction: 0.310917))
        Self.close(trades[4].executedAt, utc(2022, 3, 4, 17, 39, 22, fraction: 0.305629))
        #expect(batch.next.values["page_token"] == "20220304123922305::bc84b8a8-8758-42aa-be3b-618d097c2867")
    }

    @Test func positionsOfTheSDKsMock() async throws {
        let harness = try Self.serving("positions.json")
        let positions = try await harness.adapter(.alpaca).positions(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/alpaca/v2/positions")
        #expect(positions == [BrokerPosition(symbol: "AAPL", exchange: "NASDAQ", quantity: 5, averagePrice: decimal("100.0"),
                                             lastPrice: decimal("120.0"), realizedPnl: nil, unrealizedPnl: decimal("100.0"), multiplier: 1)])
        #expect(positions.first?.exposure == 600)
    }

    @Test func fundsOfTheDocumentedAccount() async throws {
        let harness = try Self.serving("account.json")
        let funds = try await harness.adapter(.alpaca).funds(credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "GET")
        #expect(request.path == "/alpaca/v2/account")
        #expect(request.header("APCA-API-KEY-ID") == Secrets.apiKey)
        #expect(funds == [BrokerFunds(segment: nil, currency: "USD", available: decimal("262113.632"), cash: decimal("-23140.2"), used: nil,
                                      total: decimal("103820.56"))])
    }

    @Test func lastPricesFromTheMarketDataHost() async throws {
        let harness = try Self.serving("trades-latest.json")
        let instruments = [InstrumentRef(symbol: "AAPL"), InstrumentRef(symbol: "TSLA"), InstrumentRef(symbol: "MSFT"), InstrumentRef(symbol: "AAPL")]
        let prices = try await harness.adapter(.alpaca).lastPrices(instruments, credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "GET")
        #expect(request.path == "/alpaca-data/v2/stocks/trades/latest")  // the market-data host, not the trading one
        #expect(formDictionary(request.query ?? "") == ["symbols": "AAPL,TSLA,MSFT"])
        #expect(request.header("APCA-API-KEY-ID") == Secrets.apiKey)
        #expect(request.header("APCA-API-SECRET-KEY") == Secrets.apiSecret)
        // MSFT is not in the answer: left out. AAPL asked twice is answered twice.
        #expect(prices.map(\.instrument.symbol) == ["AAPL", "TSLA", "AAPL"])
        #expect(prices.map(\.price) == [decimal("161.2958"), decimal("720.19"), decimal("161.2958")])
        Self.close(prices[0].tradedAt, utc(2022, 3, 18, 14, 2, 9, fraction: 0.722539521))
        Self.close(prices[1].tradedAt, utc(2022, 7, 15, 19, 59, 59, fraction: 0.405545378))
    }

    @Test func noInstrumentsNoCall() async throws {
        let harness = try Self.serving("trades-latest.json")
        #expect(try await harness.adapter(.alpaca).lastPrices([], credentials: Secrets.credentials).isEmpty)
        #expect(harness.server.requests.isEmpty)
    }

    @Test func cancelIsAnEmpty204AndARefusalIsAlpacasWords() async throws {
        let accepted = try BrokerHarness { _ in .respond(status: 204) }
        try await accepted.adapter(.alpaca).cancelOrder(brokerOrderID: "61e69015-8549-4bfd-b9c3-01e75843f47d", symbol: nil,
                                                         credentials: Secrets.credentials)
        #expect(accepted.lastRequest?.method == "DELETE")
        #expect(accepted.lastRequest?.path == "/alpaca/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d")
        let refused = try Self.serving("error-422.json", status: 422)
        let error = await brokerError {
            try await refused.adapter(.alpaca).cancelOrder(brokerOrderID: "x", symbol: nil, credentials: Secrets.credentials)
        }
        #expect(error.map(ErrorShape.init) == .rejected(code: "42210000"))
    }

    static func fixtureBody(_ name: String) -> String { (try? Fixture.text("alpaca/\(name)")) ?? "missing fixture \(name)" }

    /// The documented error samples, and the documented statuses Alpaca publishes no body for.
    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "401 unauthorized (Alpaca's guide)", status: 401, body: fixtureBody("error-401-unauthorized.json"),
                  placement: .unauthorized, read: .unauthorized, mentions: "unauthorized"),
        ErrorCase(name: "403 insufficient qty (alpaca-py)", status: 403, body: fixtureBody("error-403-insufficient-qty.json"),
                  placement: .rejected(code: "40310000"), read: .rejected(code: "40310000"),
                  mentions: "insufficient qty available for order (requested: 1000, available: 0)"),
        ErrorCase(name: "422 (alpaca-trade-api-go)", status: 422, body: fixtureBody("error-422.json"),
                  placement: .rejected(code: "42210000"), read: .rejected(code: "42210000"), mentions: "error"),
        ErrorCase(name: "404 order is not found (documented status, no body)", status: 404, body: "",
                  placement: .notFound, read: .notFound),
        ErrorCase(name: "429 rate limit exceeded (documented status, no body)", status: 429, body: "",
                  placement: .rateLimited(nil), read: .rateLimited(nil)),
    ]

    @Test(arguments: errorCases) func mapsTheDocumentedErrors(_ errorCase: ErrorCase) async throws {
        try await checkErrorCase(errorCase, broker: .alpaca)
    }

    /// A replace refused for buying power or input is the broker's no, not an unknown outcome.
    @Test func aRefusedReplaceIsRejected() async throws {
        let harness = try Self.serving("error-403-insufficient-qty.json", status: 403)
        let error = await brokerError {
            try await harness.adapter(.alpaca).modifyOrder(
                OrderModification(brokerOrderID: "x", symbol: "SQQQ", side: .sell, type: .market, quantity: 1000, replacementClientOrderID: "R"),
                credentials: Secrets.credentials)
        }
        #expect(error.map(ErrorShape.init) == .rejected(code: "40310000"))
    }

    /// A replace whose answer never arrives may have happened: `unknownOutcome`, never a retry.
    @Test func aReplaceWithoutAnAnswerHasAnUnknownOutcome() async throws {
        let harness = try BrokerHarness(timeouts: BrokerTimeouts(connect: .seconds(1), total: .milliseconds(300))) { _ in .hang }
        let error = await brokerError {
            try await harness.adapter(.alpaca).modifyOrder(
                OrderModification(brokerOrderID: "x", symbol: "AAPL", side: .buy, type: .market, quantity: 1, replacementClientOrderID: "R"),
                credentials: Secrets.credentials)
        }
        #expect(error.map(ErrorShape.init) == .unknownOutcome)
        #expect(harness.server.requests.count == 1)
    }
}
