import Foundation
import TMBrokers
import TMCore
import TestSupport
import Testing

/// Binance's own documented samples (`Fixtures/binance`, sources in its SOURCES.md) through the
/// adapter, field by field: orders (RESULT, FULL, query, open, all, cancel-replace), trades,
/// balances as positions and funds, prices, and the documented errors.
@Suite(.timeLimit(.minutes(1))) struct BinanceFixtureTests {
    /// The harness clock (`BrokerHarness.binance()`), in Binance's epoch milliseconds.
    static let now: Int64 = 1_499_827_319_559

    static func millis(_ value: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(value) / 1000) }

    /// A member of a WebSocket-API sample (`result` or `error`), as the REST endpoint's body.
    static func member(_ file: String, _ key: String) throws -> String {
        try #require(try Fixture.json("binance/\(file)")[key]).text
    }

    /// The first message errors.md documents for `code` (`#### -1021 INVALID_TIMESTAMP` / ` * …`).
    static func documentedMessage(_ code: Int) throws -> String {
        let lines = try Fixture.text("binance/errors-md-excerpt.txt").split(separator: "\n", omittingEmptySubsequences: false)
        let heading = try #require(lines.firstIndex { $0.hasPrefix("#### \(code) ") }, "errors.md documents \(code)")
        let message = lines[heading + 1].drop { $0 == " " || $0 == "*" }
        return String(message)
    }

    /// A body in Binance's documented error payload (errors.md: `{"code":-1121,"msg":"Invalid symbol."}`).
    static func documentedError(_ code: Int, _ message: String) -> String {
        JSONValue.object([("code", .int(code)), ("msg", .string(message))]).text
    }

    // MARK: Orders
    @Test func placementResultAndFullAnswersReadFieldByField() async throws {
        for file in ["order-result.json", "order-full.json"] {
            let harness = try BrokerHarness { _ in try! Fixture.response("binance/\(file)") }
            let order = try await harness.binance().placeOrder(sampleOrder(for: .binance), credentials: Secrets.credentials)
            #expect(order.brokerOrderID == "28", "\(file)")
            #expect(order.clientOrderID == "6gCrw2kRUAF9CvJDGP16IP")
            #expect(order.symbol == "BTCUSDT")
            #expect(order.exchange == nil)
            #expect(order.side == .sell)
            #expect(order.type == .market)
            #expect(order.quantity == 10)
            #expect(order.filledQuantity == 10)
            #expect(order.averagePrice == 1)  // cummulativeQuoteQty 10 / executedQty 10
            #expect(order.limitPrice == nil)  // "0.00000000": a market order has none
            #expect(order.status == .filled)
            #expect(order.rejectReason == nil)
            #expect(order.submittedAt == Self.millis(1_507_725_176_595))
            #expect(order.updatedAt == Self.millis(1_507_725_176_595))
            #expect(order.stopPrice == nil)
            #expect(order.product == nil)
            #expect(order.remainingQuantity == 0)
        }
    }

    @Test func queryOrderReadsFieldByField() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("binance/query-order.json") }
        let order = try #require(try await harness.binance().order(clientOrderID: "myOrder1", symbol: "LTCBTC", credentials: Secrets.credentials))
        #expect(order == BrokerOrder(
            brokerOrderID: "1", clientOrderID: "myOrder1", symbol: "LTCBTC", exchange: nil, side: .buy, type: .limit, quantity: 1,
            filledQuantity: 0, averagePrice: nil, limitPrice: decimal("0.1"), status: .open, submittedAt: Self.millis(1_499_827_319_559),
            updatedAt: Self.millis(1_499_827_319_559), stopPrice: nil, remainingQuantity: 1))
    }

    @Test func cancelAnswerIsAccepted() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("binance/cancel-order.json") }
        try await harness.binance().cancelOrder(brokerOrderID: "4", symbol: "LTCBTC", credentials: Secrets.credentials)
        #expect(harness.lastRequest?.method == "DELETE")
    }

    /// The open list and the recent orders of the symbols named, one order each: the documented
    /// open order (answered by both lists, the same update time) is listed once.
    @Test func openAndRecentOrdersMergeByOrderID() async throws {
        let harness = try BrokerHarness { request in
            request.path.hasSuffix("/openOrders") ? try! Fixture.response("binance/open-orders.json") : try! Fixture.response("binance/all-orders.json")
        }
        let orders = try await harness.binance().orders(symbols: ["LTCBTC"], credentials: Secrets.credentials)
        let expected = BrokerOrder(
            brokerOrderID: "1", clientOrderID: "myOrder1", symbol: "LTCBTC", exchange: nil, side: .buy, type: .limit, quantity: 1,
            filledQuantity: 0, averagePrice: nil, limitPrice: decimal("0.1"), status: .open, submittedAt: Self.millis(1_499_827_319_559),
            updatedAt: Self.millis(1_499_827_319_559), stopPrice: nil, remainingQuantity: 1)
        #expect(orders == [expected])
        #expect(harness.server.requests.map(\.path) == ["/binance/api/v3/openOrders", "/binance/api/v3/allOrders"])
    }

    /// The defect of issue 10: an order that filled since the last sync is no longer open; the
    /// symbol's recent orders (Binance's FILLED sample) say how it ended, with its average price.
    @Test func aFilledOrderGoneFromTheOpenListComesFromTheRecentOrders() async throws {
        let recent = try Self.member("ws-all-orders.json", "result")
        let harness = try BrokerHarness { request in
            request.path.hasSuffix("/openOrders") ? .json(200, "[]") : .json(200, recent)
        }
        let orders = try await harness.binance().orders(symbols: ["BTCUSDT"], credentials: Secrets.credentials)
        let filled = try #require(orders.first)
        #expect(orders.count == 1)
        #expect(filled.brokerOrderID == "12569099453")
        #expect(filled.clientOrderID == "4d96324ff9d44481926157")
        #expect(filled.symbol == "BTCUSDT")
        #expect(filled.side == .sell)
        #expect(filled.type == .limit)
        #expect(filled.status == .filled)
        #expect(filled.quantity == decimal("0.00847"))
        #expect(filled.filledQuantity == decimal("0.00847"))
        #expect(filled.averagePrice == decimal("198.335215") / decimal("0.00847"))
        #expect(filled.limitPrice == decimal("23416.1"))
        #expect(filled.stopPrice == nil)
        #expect(filled.remainingQuantity == 0)
        #expect(filled.submittedAt == Self.millis(1_660_801_715_639))
        #expect(filled.updatedAt == Self.millis(1_660_801_717_945))
    }

    /// Listed by both: the report with the later `updateTime` wins, whichever list it came from.
    @Test func theNewerReportOfAnOrderListedTwiceWins() async throws {
        let recent = try Self.member("ws-all-orders.json", "result")
        // The same order as an earlier state of it: resting, nothing filled, updated before the fill.
        let earlier = recent.replacingOccurrences(of: #""executedQty":"0.00847000""#, with: #""executedQty":"0.00000000""#)
            .replacingOccurrences(of: #""status":"FILLED""#, with: #""status":"NEW""#)
            .replacingOccurrences(of: #""updateTime":1660801717945"#, with: #""updateTime":1660801715639"#)
        #expect(earlier != recent)
        for (open, all) in [(earlier, recent), (recent, earlier)] {
            let harness = try BrokerHarness { request in request.path.hasSuffix("/openOrders") ? .json(200, open) : .json(200, all) }
            let orders = try await harness.binance().orders(symbols: ["BTCUSDT"], credentials: Secrets.credentials)
            #expect(orders.map(\.status) == [.filled])
            #expect(orders.first?.updatedAt == Self.millis(1_660_801_717_945))
        }
    }

    /// A symbol Binance refuses (`-1121`, its documented payload) has no orders and no trades: the
    /// others are still read, so one stale symbol of a platform order cannot stop every sync.
    @Test func anUnknownSymbolHasNoOrdersAndNoTrades() async throws {
        let recent = try Self.member("ws-all-orders.json", "result")
        let trades = try Self.member("ws-my-trades.json", "result")
        let harness = try BrokerHarness { request in
            let symbol = formDictionary(request.query ?? "")["symbol"]
            if symbol == "NOSUCH" { return try! Fixture.response("binance/error-1121.json", status: 400) }
            if request.path.hasSuffix("/openOrders") { return .json(200, "[]") }
            return .json(200, request.path.hasSuffix("/myTrades") ? trades : recent)
        }
        let orders = try await harness.binance().orders(symbols: ["NOSUCH", "BTCUSDT"], credentials: Secrets.credentials)
        #expect(orders.map(\.brokerOrderID) == ["12569099453"])
        let batch = try await harness.binance().trades(since: TradeCursor(), symbols: ["NOSUCH", "BTCUSDT"], credentials: Secrets.credentials)
        #expect(batch.trades.map(\.brokerTradeID) == ["BTCUSDT:1650422481", "BTCUSDT:1650422482"])
        #expect(batch.next == TradeCursor(["BTCUSDT": "1650422482"]))
    }

    @Test func cancelReplaceAnswersTheReplacement() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("binance/cancel-replace-success.json") }
        let modification = OrderModification(brokerOrderID: "9", symbol: "BTCUSDT", side: .buy, type: .limit, quantity: decimal("0.04"),
                                             limitPrice: decimal("0.02"), timeInForce: .gtc, replacementClientOrderID: "wOceeeOzNORyLiQfw7jd8S")
        let replacement = try await harness.binance().modifyOrder(modification, credentials: Secrets.credentials)
        #expect(replacement == BrokerOrder(
            brokerOrderID: "10", clientOrderID: "wOceeeOzNORyLiQfw7jd8S", symbol: "BTCUSDT", exchange: nil, side: .buy, type: .limit,
            quantity: decimal("0.04"), filledQuantity: 0, averagePrice: nil, limitPrice: decimal("0.02"), status: .open,
            submittedAt: Self.millis(1_652_928_801_803), updatedAt: Self.millis(1_652_928_801_803), stopPrice: nil, remainingQuantity: decimal("0.04")))
    }

    /// The documented failures: the cancel failed (unknown order, nothing placed) → notFound; the
    /// cancel succeeded but the replacement was refused → rejected `-2021`, saying the original is cancelled.
    @Test(arguments: [
        ("cancel-replace-cancel-failed.json", ErrorShape.notFound, "Unknown order sent."),
        ("cancel-replace-both-failed.json", ErrorShape.notFound, "Unknown order sent."),
        ("cancel-replace-new-failed.json", ErrorShape.rejected(code: "-2021"), "the original order was cancelled"),
    ])
    func cancelReplaceFailures(_ file: String, _ expected: ErrorShape, _ mentions: String) async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("binance/\(file)", status: 400) }
        let modification = OrderModification(brokerOrderID: "3", symbol: "BTCUSDT", side: .sell, type: .limit, quantity: 10_000,
                                             limitPrice: decimal("0.006123"), timeInForce: .gtc, replacementClientOrderID: "replace-1")
        let error = try #require(await brokerError { try await harness.binance().modifyOrder(modification, credentials: Secrets.credentials) })
        #expect(ErrorShape(error) == expected)
        #expect(error.description.contains(mentions), "\(error)")
        if file == "cancel-replace-new-failed.json" {
            #expect(error.description.contains("Order would immediately match and take. (-2010)"), "\(error)")
        }
        expectNoSecret(in: error)
    }

    // MARK: Trades

    @Test func tradesKeepMakerAndQuoteQuantity() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("binance/my-trades.json") }
        let batch = try await harness.binance().trades(since: TradeCursor(), symbols: ["BNBBTC"], credentials: Secrets.credentials)
        #expect(batch.trades == [BrokerTrade(
            brokerTradeID: "BNBBTC:28457", brokerOrderID: "100234", symbol: "BNBBTC", exchange: nil, side: .buy, quantity: 12,
            price: decimal("4.000001"), fee: decimal("10.1"), feeCurrency: "BNB", executedAt: Self.millis(1_499_865_549_590),
            isMaker: false, quoteQuantity: decimal("48.000012"))])
        #expect(batch.next == TradeCursor(["BNBBTC": "28457"]))
    }

    @Test func theFilledOrdersMakerFillsRead() async throws {
        let trades = try Self.member("ws-my-trades.json", "result")
        let harness = try BrokerHarness { _ in .json(200, trades) }
        let batch = try await harness.binance().trades(since: TradeCursor(), symbols: ["BTCUSDT"], credentials: Secrets.credentials)
        #expect(batch.trades == [
            BrokerTrade(brokerTradeID: "BTCUSDT:1650422481", brokerOrderID: "12569099453", symbol: "BTCUSDT", exchange: nil, side: .sell,
                        quantity: decimal("0.00635"), price: decimal("23416.1"), fee: 0, feeCurrency: "BNB",
                        executedAt: Self.millis(1_660_801_715_793), isMaker: true, quoteQuantity: decimal("148.692235")),
            BrokerTrade(brokerTradeID: "BTCUSDT:1650422482", brokerOrderID: "12569099453", symbol: "BTCUSDT", exchange: nil, side: .sell,
                        quantity: decimal("0.00212"), price: decimal("23416.5"), fee: 0, feeCurrency: "BNB",
                        executedAt: Self.millis(1_660_801_715_793), isMaker: true, quoteQuantity: decimal("49.64298")),
        ])
        // The fills add up to the order's cummulativeQuoteQty: the average the order carries is theirs.
        #expect(batch.trades.reduce(Decimal(0)) { $0 + ($1.quoteQuantity ?? 0) } == decimal("198.335215"))
    }

    // MARK: Balances

    @Test func balancesArePositionsExceptCashWhichIsFunds() async throws {
        let rest = try BrokerHarness { _ in try! Fixture.response("binance/account.json") }
        #expect(try await rest.binance().positions(credentials: Secrets.credentials) == [
            BrokerPosition(symbol: "BTC", exchange: nil, quantity: decimal("4723846.89208129"), averagePrice: 0),
            BrokerPosition(symbol: "LTC", exchange: nil, quantity: decimal("4763368.68006011"), averagePrice: 0),
        ])
        #expect(try await rest.binance().funds(credentials: Secrets.credentials) == [])

        let account = try Self.member("ws-account.json", "result")
        let ws = try BrokerHarness { _ in .json(200, account) }
        #expect(try await ws.binance().positions(credentials: Secrets.credentials) == [
            BrokerPosition(symbol: "BTC", exchange: nil, quantity: decimal("1.4307112"), averagePrice: 0),
        ])
        #expect(try await ws.binance().funds(credentials: Secrets.credentials) == [
            BrokerFunds(segment: nil, currency: "USDT", available: decimal("1021.21"), cash: nil, used: 0, total: decimal("1021.21")),
        ])
    }

    // MARK: Prices

    @Test func lastPricesOfABatch() async throws {
        let harness = try BrokerHarness { _ in try! Fixture.response("binance/ticker-prices.json") }
        let prices = try await harness.binance().lastPrices([InstrumentRef(symbol: "LTCBTC"), InstrumentRef(symbol: "ETHBTC")],
                                                            credentials: Secrets.credentials)
        #expect(prices == [
            LastPrice(instrument: InstrumentRef(symbol: "LTCBTC"), price: decimal("4.000002")),
            LastPrice(instrument: InstrumentRef(symbol: "ETHBTC"), price: decimal("0.079466")),
        ])
        #expect(harness.server.requests.count == 1)
    }

    /// A batch naming a symbol Binance does not list is refused whole (`-1121`): each symbol is then
    /// asked alone (the single-symbol answer is an object), the unknown one left out.
    @Test func anUnknownSymbolIsLeftOut() async throws {
        let harness = try BrokerHarness { request in
            let symbols = formDictionary(request.query ?? "")["symbols"] ?? ""
            return symbols == #"["LTCBTC"]"# ? try! Fixture.response("binance/ticker-price.json") : try! Fixture.response("binance/error-1121.json", status: 400)
        }
        let prices = try await harness.binance().lastPrices([InstrumentRef(symbol: "LTCBTC"), InstrumentRef(symbol: "NOSUCH")],
                                                            credentials: Secrets.credentials)
        #expect(prices == [LastPrice(instrument: InstrumentRef(symbol: "LTCBTC"), price: decimal("4.000002"))])
        #expect(harness.server.requests.map { formDictionary($0.query ?? "")["symbols"] } == [#"["LTCBTC","NOSUCH"]"#, #"["LTCBTC"]"#, #"["NOSUCH"]"#])
    }

    // MARK: Errors

    static func errorCases() throws -> [ErrorCase] {
        [
            ErrorCase(name: "errors.md payload -1121", status: 400, body: try Fixture.text("binance/error-1121.json"),
                      placement: .rejected(code: "-1121"), read: .rejected(code: "-1121"), mentions: "Invalid symbol."),
            ErrorCase(name: "-1021 outside recvWindow", status: 400, body: documentedError(-1021, try documentedMessage(-1021)),
                      placement: .unavailable, read: .unavailable, mentions: "Timestamp for this request is outside of the recvWindow."),
            ErrorCase(name: "-2013 no such order", status: 400, body: documentedError(-2013, try documentedMessage(-2013)),
                      placement: .notFound, read: .notFound, mentions: "Order does not exist."),
            ErrorCase(name: "429 -1003 with Retry-After", status: 429, body: documentedError(-1003, try documentedMessage(-1003)),
                      headers: [("Retry-After", "30")], placement: .rateLimited(.seconds(30)), read: .rateLimited(.seconds(30))),
            ErrorCase(name: "418 IP ban with Retry-After", status: 418, body: try member("ws-error-418.json", "error"),
                      headers: [("Retry-After", "3493")], placement: .rateLimited(.seconds(3493)), read: .rateLimited(.seconds(3493))),
            ErrorCase(name: "-2010 insufficient balance", status: 400, body: try member("ws-error-2010.json", "error"),
                      placement: .rejected(code: "-2010"), read: .rejected(code: "-2010"),
                      mentions: "Account has insufficient balance for requested action."),
            ErrorCase(name: "-2011 cancel restrictions", status: 400, body: try Fixture.text("binance/error-2011-cancel-restrictions.json"),
                      placement: .rejected(code: "-2011"), read: .rejected(code: "-2011"), mentions: "cancel restrictions"),
        ]
    }

    @Test func documentedErrorsMapToTheErrorModel() async throws {
        for errorCase in try Self.errorCases() {
            try await checkErrorCase(errorCase, broker: .binance)
        }
    }

    /// The messages the error table relies on are the documented ones.
    @Test func errorsMdDocumentsTheMessages() throws {
        #expect(try Self.documentedMessage(-1021) == "Timestamp for this request is outside of the recvWindow.")
        #expect(try Self.documentedMessage(-2013) == "Order does not exist.")
        #expect(try Self.documentedMessage(-1003) == "Too many requests queued.")
    }
}
