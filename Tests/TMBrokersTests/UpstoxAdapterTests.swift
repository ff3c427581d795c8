import Foundation
@testable import TMBrokers
import TMCore
import TMHTTP
import TestSupport
import Testing

/// Upstox v2 as documented: two hosts, bearer token, JSON bodies, tag look-up, every error shape.
@Suite(.timeLimit(.minutes(1))) struct UpstoxAdapterTests {
    static let orderBook = """
    {"status":"success","data":[
      {"exchange":"NSE","product":"D","price":571.0,"quantity":1,"status":"complete","guid":null,"tag":"tmQ1w2E3r4T5y6U7i8O9",
       "instrument_token":"NSE_EQ|INE062A01020","placed_by":"******","trading_symbol":"SBIN-EQ","tradingsymbol":"SBIN-EQ",
       "order_type":"LIMIT","validity":"DAY","trigger_price":0.0,"disclosed_quantity":0,"transaction_type":"BUY",
       "average_price":570.95,"filled_quantity":1,"pending_quantity":0,"status_message":null,"status_message_raw":null,
       "exchange_order_id":"1300000025660919","parent_order_id":null,"order_id":"231019025562880","variety":"SIMPLE",
       "order_timestamp":"2023-10-19 13:25:13","exchange_timestamp":"2023-10-19 13:25:14","is_amo":false,"order_request_id":"1"},
      {"exchange":"NFO","product":"I","price":0,"quantity":1500,"status":"rejected","tag":null,"instrument_token":"NSE_FO|52567","trading_symbol":"SBIN23OCTFUT",
       "order_type":"SL-M","validity":"DAY","trigger_price":570,"transaction_type":"SELL","average_price":0,"filled_quantity":0,
       "status_message":"You need to add Rs. 138385.27 in your account to place this trade.","order_id":"231019025057850",
       "order_timestamp":"2023-10-19 09:23:23","exchange_timestamp":null},
      {"exchange":"NSE","product":"D","price":0.1,"quantity":100,"status":"open","tag":null,"instrument_token":"NSE_EQ|INE669E01016","tradingsymbol":"IDEA",
       "order_type":"LIMIT","transaction_type":"BUY","average_price":0.1,"filled_quantity":40,"order_id":"231019025057851",
       "order_timestamp":"2023-10-19 09:30:00"}
    ]}
    """

    static let trades = """
    {"status":"success","data":[
      {"exchange":"NSE","product":"D","trading_symbol":"GMRINFRA-EQ","tradingsymbol":"GMRINFRA-EQ",
       "instrument_token":"NSE_EQ|INE776C01039","order_type":"MARKET","transaction_type":"BUY","quantity":1,
       "exchange_order_id":"221013001021540","order_id":"221013001021539","exchange_timestamp":"03-Aug-2017 15:03:42",
       "average_price":299.4,"trade_id":"50091502","order_ref_id":"udapi-aqwsed14356","order_timestamp":"23-Apr-2021 14:22:06"},
      {"exchange":"NSE","instrument_token":"NSE_EQ|INE776C01039","tradingsymbol":"GMRINFRA-EQ","order_type":"MARKET","transaction_type":"SELL","quantity":2,
       "order_id":"221013001021541","exchange_timestamp":"2017-08-03 15:04:00","average_price":12345678901234.12345678,
       "trade_id":"50091503"}
    ]}
    """

    @Test func placesOnTheOrderHostWithAJSONBody() async throws {
        let harness = try BrokerHarness { _ in .json(200, #"{"status":"success","data":{"order_id":"1644490272000"}}"#) }
        let order = sampleOrder(for: .upstox)
        let placed = try await harness.adapter(.upstox).placeOrder(order, credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "POST")
        #expect(request.path == "/upstox/v2/order/place")
        #expect(request.header("Authorization") == "Bearer \(Secrets.accessToken)")
        #expect(request.header("Accept") == "application/json")
        #expect(request.header("Api-Version") == "2.0")
        #expect(request.header("Content-Type") == "application/json")
        let body = try JSONValue.parse(request.bodyText)
        #expect(body.objectMembers == [
            "quantity": .number("10"), "product": .string("D"), "validity": .string("DAY"), "price": .number("1500.05"),
            "tag": .string(order.clientOrderID), "instrument_token": .string("NSE_EQ|INE848E01016"), "order_type": .string("LIMIT"),
            "transaction_type": .string("BUY"), "disclosed_quantity": .number("0"), "trigger_price": .number("0"), "is_amo": .bool(false),
        ])
        #expect(placed.brokerOrderID == "1644490272000")
        #expect(placed.status == .open)
        #expect(placed.clientOrderID == order.clientOrderID)
    }

    @Test func ordersAndReadsUseTheirOwnHosts() async throws {
        // Two servers prove the order host and the API host are kept apart.
        let orderHost = try BrokerHarness { _ in .json(200, #"{"status":"success","data":{"order_id":"9"}}"#) }
        let apiHost = try BrokerHarness { _ in .json(200, #"{"status":"success","data":[]}"#) }
        let adapter = UpstoxAdapter(baseURL: apiHost.endpoints.upstox, orderBaseURL: orderHost.endpoints.upstoxOrders,
                                    http: apiHost.http, timeouts: apiHost.timeouts)
        _ = try await adapter.placeOrder(sampleOrder(for: .upstox), credentials: Secrets.credentials)
        try await adapter.cancelOrder(brokerOrderID: "9", symbol: nil, credentials: Secrets.credentials)
        _ = try await adapter.orders(credentials: Secrets.credentials)
        #expect(orderHost.server.requests.map { "\($0.method) \($0.target)" } == [
            "POST /upstox/v2/order/place", "DELETE /upstox/v2/order/cancel?order_id=9",
        ])
        #expect(apiHost.server.requests.map { "\($0.method) \($0.target)" } == ["GET /upstox/v2/order/retrieve-all"])
    }

    @Test func readsTheOrderBookExactly() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.orderBook) }
        let orders = try await harness.adapter(.upstox).orders(credentials: Secrets.credentials)
        #expect(orders.count == 3)
        let complete = orders[0]
        #expect(complete.brokerOrderID == "231019025562880")
        #expect(complete.clientOrderID == "tmQ1w2E3r4T5y6U7i8O9")
        #expect(complete.symbol == "SBIN-EQ")
        #expect(orders[1].symbol == "SBIN23OCTFUT")
        #expect(orders[2].symbol == "IDEA")  // `tradingsymbol` when `trading_symbol` is absent
        #expect(complete.exchange == "NSE")
        #expect(complete.status == .filled)
        #expect(complete.averagePrice == decimal("570.95"))
        #expect(complete.limitPrice == decimal("571"))
        #expect(complete.submittedAt == utc(2023, 10, 19, 7, 55, 13))
        #expect(complete.updatedAt == utc(2023, 10, 19, 7, 55, 14))
        #expect(orders[1].status == .rejected)
        #expect(orders[1].type == .stop)
        #expect(orders[1].side == .sell)
        #expect(orders[1].rejectReason == "You need to add Rs. 138385.27 in your account to place this trade.")
        #expect(orders[2].status == .partiallyFilled)
        #expect(orders[2].filledQuantity == 40)
        #expect(orders[2].averagePrice == decimal("0.1"))
    }

    @Test func looksUpByTagThroughTheHistory() async throws {
        let history = """
        {"status":"success","data":[
          {"exchange":"NSE","price":571.0,"quantity":1,"status":"put order req received","tag":"tmTAG","instrument_token":"NSE_EQ|INE062A01020","trading_symbol":"SBIN",
           "order_type":"LIMIT","transaction_type":"BUY","average_price":0,"filled_quantity":0,"order_id":"240108010445130",
           "order_timestamp":"2024-01-08 10:00:00"},
          {"exchange":"NSE","price":571.0,"quantity":1,"status":"open","tag":"tmTAG","instrument_token":"NSE_EQ|INE062A01020","trading_symbol":"SBIN",
           "order_type":"LIMIT","transaction_type":"BUY","average_price":0,"filled_quantity":0,"order_id":"240108010445130",
           "order_timestamp":"2024-01-08 10:00:00"},
          {"exchange":"NSE","price":571.0,"quantity":1,"status":"complete","tag":"tmTAG","instrument_token":"NSE_EQ|INE062A01020","trading_symbol":"SBIN",
           "order_type":"LIMIT","transaction_type":"BUY","average_price":570.5,"filled_quantity":1,"order_id":"240108010445130",
           "order_timestamp":"2024-01-08 10:00:00","exchange_timestamp":"2024-01-08 10:00:01"}
        ]}
        """
        let harness = try BrokerHarness { request in
            if request.query == "tag=tmTAG" { return .json(200, history) }
            return .json(400, #"{"status":"error","errors":[{"errorCode":"UDAPI100010","message":"Order not found","propertyPath":null,"invalidValue":null,"error_code":"UDAPI100010","property_path":null,"invalid_value":null}]}"#)
        }
        let adapter = harness.adapter(.upstox)
        let found = try #require(try await adapter.order(clientOrderID: "tmTAG", symbol: nil, credentials: Secrets.credentials))
        #expect(harness.lastRequest?.path == "/upstox/v2/order/history")
        #expect(found.status == .filled)
        #expect(found.averagePrice == decimal("570.5"))
        #expect(try await adapter.order(clientOrderID: "missing", symbol: nil, credentials: Secrets.credentials) == nil)
    }

    @Test func readsTradesInBothTimeFormats() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.trades) }
        let batch = try await harness.adapter(.upstox).trades(since: TradeCursor(), symbols: [], credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/upstox/v2/order/trades/get-trades-for-day")
        #expect(batch.trades.count == 2)
        #expect(batch.trades[0].brokerTradeID == "50091502")
        #expect(batch.trades[0].symbol == "GMRINFRA-EQ")
        #expect(batch.trades[1].symbol == "GMRINFRA-EQ")
        #expect(batch.trades[0].executedAt == utc(2017, 8, 3, 9, 33, 42))
        #expect(batch.trades[0].price == decimal("299.4"))
        #expect(batch.trades[1].executedAt == utc(2017, 8, 3, 9, 34, 0))
        #expect(batch.trades[1].price == decimal("12345678901234.12345678"))
        #expect(batch.trades[1].side == .sell)
        #expect(batch.next.values["last_fill_ms"] == String(WireTime.milliseconds(utc(2017, 8, 3, 9, 34, 0))))
    }

    @Test func readsShortTermPositions() async throws {
        let body = """
        {"status":"success","data":[
          {"exchange":"NSE","multiplier":1.0,"value":-1234.5,"pnl":10.5,"product":"D","instrument_token":"NSE_EQ|INE528G01035",
           "average_price":24.69,"buy_value":1234.5,"overnight_quantity":0,"day_buy_value":1234.5,"day_buy_price":24.69,
           "quantity":50,"last_price":24.9,"unrealised":10.5,"realised":0,"sell_value":0,"trading_symbol":"YESBANK",
           "tradingsymbol":"YESBANK","close_price":24.65,"buy_price":24.69,"sell_price":0}
        ]}
        """
        let harness = try BrokerHarness { _ in .json(200, body) }
        let positions = try await harness.adapter(.upstox).positions(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/upstox/v2/portfolio/short-term-positions")
        #expect(positions == [BrokerPosition(symbol: "YESBANK", exchange: "NSE", quantity: 50, averagePrice: decimal("24.69"),
                                             lastPrice: decimal("24.9"), realizedPnl: 0, unrealizedPnl: decimal("10.5"))])
    }

    static func upstoxError(_ code: String, _ message: String) -> String {
        #"{"status":"error","errors":[{"errorCode":"\#(code)","message":"\#(message)","propertyPath":null,"invalidValue":null}]}"#
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "UDAPI100050 invalid token", status: 401, body: upstoxError("UDAPI100050", "Invalid token used to access API"),
                  placement: .unauthorized, read: .unauthorized, mentions: "Invalid token used to access API"),
        ErrorCase(name: "UDAPI100050 with status 400", status: 400, body: upstoxError("UDAPI100050", "Invalid token used to access API"),
                  placement: .unauthorized, read: .unauthorized),
        ErrorCase(name: "UDAPI10005 too many requests", status: 429, body: upstoxError("UDAPI10005", "Too Many Request Sent"),
                  headers: [("Retry-After", "1")], placement: .rateLimited(.seconds(1)), read: .rateLimited(.seconds(1))),
        ErrorCase(name: "UDAPI10005 with status 400", status: 400, body: upstoxError("UDAPI10005", "Too Many Request Sent"),
                  placement: .rateLimited(nil), read: .rateLimited(nil)),
        ErrorCase(name: "bare 429", status: 429, body: "", placement: .rateLimited(nil), read: .rateLimited(nil)),
        ErrorCase(name: "invalid input", status: 400, body: upstoxError("UDAPI1004", "Valid order type is required"),
                  placement: .rejected(code: "UDAPI1004"), read: .rejected(code: "UDAPI1004"), mentions: "Valid order type is required"),
        ErrorCase(name: "insufficient funds", status: 400,
                  body: upstoxError("UDAPI100013", "You need to add Rs. 1000 in your account to place this trade."),
                  placement: .rejected(code: "UDAPI100013"), read: .rejected(code: "UDAPI100013")),
        ErrorCase(name: "order not found", status: 400, body: upstoxError("UDAPI100010", "Order not found"),
                  placement: .notFound, read: .notFound),
        ErrorCase(name: "500 something went wrong", status: 500, body: upstoxError("UDAPI100500", "Something went wrong... please contact us"),
                  placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "503 maintenance", status: 503, body: "", placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "400 that is not JSON", status: 400, body: "nope", placement: .invalidResponse, read: .invalidResponse),
        ErrorCase(name: "200 without data", status: 200, body: "{}", placement: .unknownOutcome, read: .invalidResponse),
    ]

    @Test(arguments: errorCases) func mapsEveryErrorShape(_ errorCase: ErrorCase) async throws {
        try await checkErrorCase(errorCase, broker: .upstox)
    }
}
