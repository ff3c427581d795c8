import Foundation
@testable import TMBrokers
import TMCore
import TMHTTP
import TestSupport
import Testing

/// Alpaca Trading API v2 as documented: key headers, JSON with decimal strings, activity paging,
/// look-up by client order id, every error shape.
@Suite(.timeLimit(.minutes(1))) struct AlpacaAdapterTests {
    static let acceptedOrder = """
    {"id":"61e69015-8549-4bfd-b9c3-01e75843f47d","client_order_id":"CLIENTID","created_at":"2026-11-20T14:30:00.123456Z",
     "updated_at":"2026-11-20T14:30:00.223456789Z","submitted_at":"2026-11-20T14:30:00.1Z","filled_at":null,"expired_at":null,
     "canceled_at":null,"failed_at":null,"replaced_at":null,"replaced_by":null,"replaces":null,
     "asset_id":"b0b6dd9d-8b9b-48a9-ba46-b9d54906e415","symbol":"AAPL","asset_class":"us_equity","notional":null,"qty":"1.5",
     "filled_qty":"0","filled_avg_price":null,"order_class":"","order_type":"limit","type":"limit","side":"buy",
     "time_in_force":"day","limit_price":"187.31","stop_price":null,"status":"accepted","extended_hours":false,"legs":null}
    """

    static func fill(_ index: Int) -> String {
        """
        {"id":"2026112014\(String(format: "%07d", index))::8efc7b9a-8b2b-4000-9955-d36e7db0df\(String(format: "%02d", index % 100))",
         "activity_type":"FILL","transaction_time":"2026-11-20T14:30:\(String(format: "%02d", index % 60)).5Z","type":"partial_fill",
         "price":"187.3\(index % 10)","qty":"0.000\(index % 10 + 1)","side":"\(index % 2 == 0 ? "buy" : "sell_short")","symbol":"AAPL",
         "leaves_qty":"1","order_id":"904837e3-3b76-47ec-b432-046db621571b","cum_qty":"0.5","order_status":"partially_filled"}
        """
    }

    @Test func placesWithKeyHeadersAndDecimalStrings() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.acceptedOrder) }
        let order = sampleOrder(for: .alpaca)
        let placed = try await harness.adapter(.alpaca).placeOrder(order, credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "POST")
        #expect(request.path == "/alpaca/v2/orders")
        #expect(request.header("APCA-API-KEY-ID") == Secrets.apiKey)
        #expect(request.header("APCA-API-SECRET-KEY") == Secrets.apiSecret)
        #expect(request.header("Content-Type") == "application/json")
        #expect(try JSONValue.parse(request.bodyText).objectMembers == [
            "symbol": .string("AAPL"), "qty": .string("1.5"), "side": .string("buy"), "type": .string("limit"),
            "time_in_force": .string("day"), "limit_price": .string("187.31"), "client_order_id": .string(order.clientOrderID),
        ])
        #expect(placed.brokerOrderID == "61e69015-8549-4bfd-b9c3-01e75843f47d")
        #expect(placed.clientOrderID == "CLIENTID")
        #expect(placed.status == .open)
        #expect(placed.quantity == decimal("1.5"))
        #expect(placed.limitPrice == decimal("187.31"))
        #expect(placed.averagePrice == nil)
        let submitted = try #require(placed.submittedAt)
        #expect(abs(submitted.timeIntervalSince(utc(2026, 11, 20, 14, 30, 0, fraction: 0.1))) < 1e-6)
    }

    @Test func stopLimitOrdersSendBothPrices() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.acceptedOrder) }
        _ = try await harness.adapter(.alpaca).placeOrder(
            OrderRequest(clientOrderID: "x", symbol: "AAPL", side: .sell, quantity: 2, type: .stopLimit,
                         limitPrice: decimal("12345678901234.12345678"), stopPrice: decimal("0.3"), timeInForce: .gtc),
            credentials: Secrets.credentials)
        let body = try JSONValue.parse(try #require(harness.lastRequest).bodyText)
        #expect(body["limit_price"] == .string("12345678901234.12345678"))
        #expect(body["stop_price"] == .string("0.3"))
        #expect(body["type"] == .string("stop_limit"))
        #expect(body["time_in_force"] == .string("gtc"))
    }

    @Test func looksUpByClientOrderID() async throws {
        let filled = Self.acceptedOrder.replacingOccurrences(of: #""filled_qty":"0","filled_avg_price":null"#,
                                                             with: #""filled_qty":"1.5","filled_avg_price":"187.305""#)
            .replacingOccurrences(of: #""status":"accepted""#, with: #""status":"filled""#)
        let harness = try BrokerHarness { request in
            if request.query == "client_order_id=CLIENTID" { return .json(200, filled) }
            return .json(404, #"{"code":40410000,"message":"order not found for missing"}"#)
        }
        let adapter = harness.adapter(.alpaca)
        let found = try #require(try await adapter.order(clientOrderID: "CLIENTID", symbol: nil, credentials: Secrets.credentials))
        #expect(harness.lastRequest?.path == "/alpaca/v2/orders:by_client_order_id")
        #expect(found.status == .filled)
        #expect(found.averagePrice == decimal("187.305"))
        #expect(try await adapter.order(clientOrderID: "missing", symbol: nil, credentials: Secrets.credentials) == nil)
    }

    @Test func listsAndCancels() async throws {
        let harness = try BrokerHarness { request in
            if request.method == "DELETE" { return .respond(status: 204) }
            return .json(200, "[\(Self.acceptedOrder)]")
        }
        let adapter = harness.adapter(.alpaca)
        let orders = try await adapter.orders(credentials: Secrets.credentials)
        #expect(orders.count == 1)
        let list = try #require(harness.lastRequest)
        #expect(list.path == "/alpaca/v2/orders")
        #expect(formDictionary(list.query ?? "") == ["status": "all", "limit": "500", "direction": "desc"])
        try await adapter.cancelOrder(brokerOrderID: "61e69015-8549-4bfd-b9c3-01e75843f47d", symbol: nil, credentials: Secrets.credentials)
        #expect(harness.lastRequest?.method == "DELETE")
        #expect(harness.lastRequest?.path == "/alpaca/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d")
    }

    /// A cursor naming an activity Alpaca no longer knows (a reset paper account) does not stop every
    /// later sync: the adapter resumes from the activity's time.
    @Test func aCursorAlpacaNoLongerKnowsResumesFromItsTime() async throws {
        let harness = try BrokerHarness { request in
            let query = formDictionary(request.query ?? "")
            if query["page_token"] != nil {
                return .respond(status: 422, headers: [("Content-Type", "application/json")],
                                body: Data(#"{"code":40010001,"message":"invalid page_token"}"#.utf8))
            }
            return .json(200, "[" + Self.fill(7) + "]")
        }
        let stale = TradeCursor(["page_token": "20261120140000123::0b6f3c1e-5a55-4d3e-9d7e-2f0d9c1b2a3c"])
        let batch = try await harness.adapter(.alpaca).trades(since: stale, symbols: [], credentials: Secrets.credentials)
        let queries = harness.server.requests.map { formDictionary($0.query ?? "") }
        #expect(queries.count == 2)
        #expect(queries[1]["page_token"] == nil)
        #expect(queries[1]["after"] == "2026-11-20T14:00:00.122Z", "a millisecond before the stale activity")
        #expect(batch.trades.count == 1)
        #expect(batch.next.values["page_token"] == batch.trades[0].brokerTradeID)
        // Any other refusal still fails the read.
        let refusing = try BrokerHarness { _ in
            .respond(status: 422, headers: [("Content-Type", "application/json")], body: Data(#"{"code":42210000,"message":"invalid direction"}"#.utf8))
        }
        #expect(await brokerError { try await refusing.adapter(.alpaca).trades(since: stale, symbols: [], credentials: Secrets.credentials) } != nil)
    }

    @Test func pagesThroughEveryFillActivity() async throws {
        // 250 fills: pages of 100, 100 and 50, each asked for after the previous page's last id.
        let fills = (0..<250).map(Self.fill)
        let ids = try fills.map { try JSONFields(JSONValue.parse($0), context: "fill").text("id") }
        let harness = try BrokerHarness { request in
            let query = formDictionary(request.query ?? "")
            let start = query["page_token"].map { token in ids.firstIndex(of: token)! + 1 } ?? 0
            let size = Int(query["page_size"] ?? "100")!
            let page = fills[start..<min(start + size, fills.count)]
            return .json(200, "[" + page.joined(separator: ",") + "]")
        }
        let adapter = harness.adapter(.alpaca)
        let batch = try await adapter.trades(since: TradeCursor(), symbols: [], credentials: Secrets.credentials)
        let requests = harness.server.requests
        #expect(requests.count == 3)
        #expect(requests.allSatisfy { $0.path == "/alpaca/v2/account/activities/FILL" })
        #expect(requests.map { formDictionary($0.query ?? "")["page_token"] } == [nil, ids[99], ids[199]])
        #expect(requests.allSatisfy { formDictionary($0.query ?? "")["direction"] == "asc" && formDictionary($0.query ?? "")["page_size"] == "100" })
        #expect(batch.trades.count == 250)
        #expect(batch.trades.map(\.brokerTradeID) == ids)
        #expect(batch.next.values["page_token"] == ids[249])
        let first = batch.trades[0]
        #expect(first.brokerOrderID == "904837e3-3b76-47ec-b432-046db621571b")
        #expect(first.price == decimal("187.30"))
        #expect(first.quantity == decimal("0.0001"))
        #expect(first.side == .buy)
        #expect(batch.trades[1].side == .sell)  // sell_short
        #expect(abs(first.executedAt.timeIntervalSince(utc(2026, 11, 20, 14, 30, 0, fraction: 0.5))) < 1e-6)

        // Resuming from the cursor reads only what came after it.
        let again = try await adapter.trades(since: batch.next, symbols: [], credentials: Secrets.credentials)
        #expect(again.trades.isEmpty)
        #expect(again.next == batch.next)
        #expect(formDictionary(try #require(harness.lastRequest).query ?? "")["page_token"] == ids[249])
    }

    @Test func readsPositionsWithSignedShorts() async throws {
        let body = """
        [{"asset_id":"904837e3","symbol":"AAPL","exchange":"NASDAQ","asset_class":"us_equity","avg_entry_price":"100.0123",
          "qty":"5","side":"long","market_value":"600.0","cost_basis":"500.0615","unrealized_pl":"99.9385","current_price":"120.0"},
         {"asset_id":"1","symbol":"TSLA","exchange":"NASDAQ","avg_entry_price":"250","qty":"-3","side":"short","current_price":"240"},
         {"asset_id":"2","symbol":"GME","exchange":"NYSE","avg_entry_price":"20","qty":"7","side":"short"}]
        """
        let harness = try BrokerHarness { _ in .json(200, body) }
        let positions = try await harness.adapter(.alpaca).positions(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/alpaca/v2/positions")
        #expect(positions.map(\.quantity) == [5, -3, -7])
        #expect(positions[0].averagePrice == decimal("100.0123"))
        #expect(positions[0].unrealizedPnl == decimal("99.9385"))
        #expect(positions[0].exchange == "NASDAQ")
    }

    /// qty − filled while the order works; 0 once it is finished (filled, canceled, replaced, expired,
    /// rejected), whatever was left unfilled.
    @Test(arguments: [("new", "0", "10"), ("partially_filled", "4", "6"), ("held", "2.5", "7.5"), ("filled", "10", "0"),
                      ("canceled", "4", "0"), ("replaced", "4", "0"), ("expired", "0", "0"), ("rejected", "0", "0")])
    func remainingQuantity(_ status: String, _ filled: String, _ remaining: String) async throws {
        let body = Self.acceptedOrder.replacingOccurrences(of: #""qty":"1.5""#, with: #""qty":"10""#)
            .replacingOccurrences(of: #""filled_qty":"0""#, with: #""filled_qty":"\#(filled)""#)
            .replacingOccurrences(of: #""status":"accepted""#, with: #""status":"\#(status)""#)
            .replacingOccurrences(of: #""stop_price":null"#, with: #""stop_price":"186.5""#)
        let harness = try BrokerHarness { _ in .json(200, "[\(body)]") }
        let order = try #require(try await harness.adapter(.alpaca).orders(credentials: Secrets.credentials).first)
        #expect(order.filledQuantity == decimal(filled))
        #expect(order.remainingQuantity == decimal(remaining))
        #expect(order.stopPrice == decimal("186.5"))
    }

    /// Alpaca's market data has its own host: production by default, `TM_ALPACA_DATA_BASE_URL` to
    /// override, `/alpaca-data` on broker-sim.
    @Test func marketDataHost() throws {
        #expect(BrokerEndpoints.production.alpacaData == "https://data.alpaca.markets")
        let custom = try BrokerEndpoints.fromEnvironment(TMEnvironment(process: ["TM_ALPACA_DATA_BASE_URL": "http://127.0.0.1:9/alpaca-data/"],
                                                                      envFile: nil))
        #expect(custom.alpacaData == "http://127.0.0.1:9/alpaca-data")
        #expect(custom.alpaca == BrokerEndpoints.production.alpaca)
        #expect(BrokerEndpoints.simulator(port: 7400).alpacaData == "http://127.0.0.1:7400/alpaca-data")
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "401 bad keys", status: 401, body: #"{"code":40110000,"message":"request is not authorized"}"#,
                  placement: .unauthorized, read: .unauthorized, mentions: "request is not authorized"),
        ErrorCase(name: "403 forbidden", status: 403, body: #"{"message": "forbidden."}"#, placement: .unauthorized, read: .unauthorized),
        ErrorCase(name: "403 insufficient buying power", status: 403,
                  body: #"{"buying_power":"176531.28","code":40310000,"cost_basis":"48640000","message":"insufficient buying power"}"#,
                  placement: .rejected(code: "40310000"), read: .rejected(code: "40310000"), mentions: "insufficient buying power"),
        ErrorCase(name: "422 duplicate client_order_id", status: 422, body: #"{"code":40010001,"message":"client_order_id must be unique"}"#,
                  placement: .rejected(code: "40010001"), read: .rejected(code: "40010001"), mentions: "client_order_id must be unique"),
        ErrorCase(name: "422 invalid qty", status: 422, body: #"{"code":40010001,"message":"qty must be > 0"}"#,
                  placement: .rejected(code: "40010001"), read: .rejected(code: "40010001")),
        ErrorCase(name: "400 bad body", status: 400, body: #"{"code":40010000,"message":"request body format is invalid"}"#,
                  placement: .rejected(code: "40010000"), read: .rejected(code: "40010000")),
        ErrorCase(name: "404", status: 404, body: #"{"code":40410000,"message":"order not found"}"#, placement: .notFound, read: .notFound),
        ErrorCase(name: "429", status: 429, body: #"{"code":42910000,"message":"rate limit exceeded"}"#, headers: [("Retry-After", "60")],
                  placement: .rateLimited(.seconds(60)), read: .rateLimited(.seconds(60))),
        ErrorCase(name: "500", status: 500, body: #"{"code":50010000,"message":"internal server error occurred"}"#,
                  placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "502 bare", status: 502, body: "", placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "200 not JSON", status: 200, body: "{{", placement: .unknownOutcome, read: .invalidResponse),
        ErrorCase(name: "200 JSON of the wrong shape", status: 200, body: #"{"id":7}"#, placement: .unknownOutcome, read: .invalidResponse),
    ]

    @Test(arguments: errorCases) func mapsEveryErrorShape(_ errorCase: ErrorCase) async throws {
        try await checkErrorCase(errorCase, broker: .alpaca)
    }
}
