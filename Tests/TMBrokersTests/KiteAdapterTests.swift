import Foundation
import TMBrokers
import TMHTTP
import TestSupport
import Testing

/// Kite Connect v3 as documented: what the adapter sends, what it reads, and every error shape.
@Suite(.timeLimit(.minutes(1))) struct KiteAdapterTests {
    static let orderBook = """
    {"status":"success","data":[
      {"order_id":"151220000000000","exchange_order_id":"511220371736111","parent_order_id":null,"status":"COMPLETE",
       "status_message":null,"order_timestamp":"2026-11-20 09:15:02","exchange_update_timestamp":"2026-11-20 09:15:03",
       "exchange_timestamp":"2026-11-20 09:15:03","variety":"regular","exchange":"NSE","tradingsymbol":"INFY",
       "instrument_token":408065,"order_type":"LIMIT","transaction_type":"BUY","validity":"DAY","product":"CNC","quantity":10,
       "disclosed_quantity":0,"price":1500.05,"trigger_price":0,"average_price":12345678901234.12345678,"filled_quantity":10,
       "pending_quantity":0,"cancelled_quantity":0,"market_protection":0,"tag":"tmA1b2C3d4E5f6G7h8I9","tags":["tmA1b2C3d4E5f6G7h8I9"]},
      {"order_id":"151220000000001","status":"OPEN","order_timestamp":"2026-11-20 09:20:00","exchange_timestamp":null,
       "exchange":"NSE","tradingsymbol":"TCS","order_type":"SL","transaction_type":"SELL","quantity":5,"price":3999.9,
       "trigger_price":4000,"average_price":0,"filled_quantity":2,"tag":null,"tags":["other"]},
      {"order_id":"151220000000002","status":"REJECTED","status_message":"RMS:Margin Exceeds","order_timestamp":"2026-11-20 09:21:00",
       "exchange":"BSE","tradingsymbol":"SBIN","order_type":"MARKET","transaction_type":"BUY","quantity":1,"price":0,
       "average_price":0,"filled_quantity":0,"tag":null},
      {"order_id":"151220000000003","status":"TRIGGER PENDING","order_timestamp":"2026-11-20 09:22:00",
       "exchange":"NSE","tradingsymbol":"INFY","order_type":"SL-M","transaction_type":"SELL","quantity":3,"price":0,
       "trigger_price":1400,"average_price":0,"filled_quantity":0}
    ]}
    """

    static let trades = """
    {"status":"success","data":[
      {"trade_id":"10000001","order_id":"151220000000000","exchange":"NSE","tradingsymbol":"INFY","instrument_token":408065,
       "product":"CNC","average_price":1500.05,"quantity":4,"exchange_order_id":"511220371736111","transaction_type":"BUY",
       "fill_timestamp":"2026-11-20 09:15:02","order_timestamp":"09:15:02","exchange_timestamp":"2026-11-20 09:15:02"},
      {"trade_id":"10000002","order_id":"151220000000000","exchange":"NSE","tradingsymbol":"INFY","average_price":1500.1,
       "quantity":6,"transaction_type":"BUY","fill_timestamp":"2026-11-20 09:15:03"},
      {"trade_id":"10000000","order_id":"151219999999999","exchange":"NSE","tradingsymbol":"TCS","average_price":0.1,
       "quantity":1,"transaction_type":"SELL","fill_timestamp":"2026-11-20 09:10:00"}
    ]}
    """

    static let positions = """
    {"status":"success","data":{"net":[
      {"tradingsymbol":"INFY","exchange":"NSE","instrument_token":408065,"product":"CNC","quantity":10,"overnight_quantity":0,
       "multiplier":1,"average_price":1500,"close_price":0,"last_price":1510.5,"value":-15000,"pnl":105,"m2m":105,
       "unrealised":105,"realised":0},
      {"tradingsymbol":"INFY","exchange":"NSE","product":"MIS","quantity":-4,"average_price":1505.25,"last_price":1510.5,
       "unrealised":-21,"realised":3.5},
      {"tradingsymbol":"TCS","exchange":"NSE","product":"MIS","quantity":0,"average_price":3999.5,"last_price":4001,
       "unrealised":0,"realised":12.25}
    ],"day":[]}}
    """

    @Test func placesALimitOrderAsAForm() async throws {
        let harness = try BrokerHarness { _ in .json(200, #"{"status":"success","data":{"order_id":"151220000000000"}}"#) }
        let order = sampleOrder(for: .kite)
        let placed = try await harness.adapter(.kite).placeOrder(order, credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "POST")
        #expect(request.path == "/kite/orders/regular")
        #expect(request.header("X-Kite-Version") == "3")
        #expect(request.header("Authorization") == "token \(Secrets.apiKey):\(Secrets.accessToken)")
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
        let form = formPairs(request.bodyText)
        #expect(form.map(\.0) == ["exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type", "validity",
                                  "price", "tag"])
        let fields = formDictionary(request.bodyText)
        #expect(fields == ["exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "10", "product": "CNC",
                           "order_type": "LIMIT", "validity": "DAY", "price": "1500.05", "tag": order.clientOrderID])
        #expect(placed.brokerOrderID == "151220000000000")
        #expect(placed.clientOrderID == order.clientOrderID)
        #expect(placed.status == .open)
        #expect(placed.limitPrice == decimal("1500.05"))
    }

    @Test func marketAndStopOrdersCarryMarketProtectionAndTrigger() async throws {
        let harness = try BrokerHarness { _ in .json(200, #"{"status":"success","data":{"order_id":"1"}}"#) }
        let adapter = harness.adapter(.kite)
        _ = try await adapter.placeOrder(OrderRequest(clientOrderID: "abc", symbol: "INFY", side: .sell, quantity: 3, type: .market,
                                                      timeInForce: .ioc, product: "MIS"), credentials: Secrets.credentials)
        let market = formDictionary(try #require(harness.lastRequest).bodyText)
        #expect(market["order_type"] == "MARKET")
        #expect(market["market_protection"] == "-1")
        #expect(market["validity"] == "IOC")
        #expect(market["product"] == "MIS")
        #expect(market["price"] == nil)
        _ = try await adapter.placeOrder(OrderRequest(clientOrderID: "abd", symbol: "INFY", side: .sell, quantity: 3, type: .stopLimit,
                                                      limitPrice: 1399.5, stopPrice: 1400), credentials: Secrets.credentials)
        let stopLimit = formDictionary(try #require(harness.lastRequest).bodyText)
        #expect(stopLimit["order_type"] == "SL")
        #expect(stopLimit["price"] == "1399.5")
        #expect(stopLimit["trigger_price"] == "1400")
        #expect(stopLimit["market_protection"] == nil)
    }

    @Test func refusesBeforeSendingWhatKiteWouldReject() async throws {
        let harness = try BrokerHarness { _ in .json(200, #"{"status":"success","data":{"order_id":"1"}}"#) }
        let adapter = harness.adapter(.kite)
        // Kite rejects a tag over 20 characters; the adapter must not even send it.
        var longTag = sampleOrder(for: .kite)
        longTag.clientOrderID = String(repeating: "A", count: 21)
        let error = await brokerError { try await adapter.placeOrder(longTag, credentials: Secrets.credentials) }
        #expect(error.map(ErrorShape.init) == .rejected(code: "INVALID_CLIENT_ORDER_ID"))
        var fractional = sampleOrder(for: .kite)
        fractional.quantity = decimal("1.5")
        #expect(await brokerError { try await adapter.placeOrder(fractional, credentials: Secrets.credentials) }.map(ErrorShape.init)
                == .rejected(code: "INVALID_QUANTITY"))
        var gtc = sampleOrder(for: .kite)
        gtc.timeInForce = .gtc
        #expect(await brokerError { try await adapter.placeOrder(gtc, credentials: Secrets.credentials) }.map(ErrorShape.init)
                == .rejected(code: "UNSUPPORTED_TIME_IN_FORCE"))
        var noPrice = sampleOrder(for: .kite)
        noPrice.limitPrice = nil
        #expect(await brokerError { try await adapter.placeOrder(noPrice, credentials: Secrets.credentials) }.map(ErrorShape.init)
                == .rejected(code: "INVALID_PRICE"))
        let noToken = BrokerCredentials.plain(apiKey: Secrets.apiKey)
        #expect(await brokerError { try await adapter.orders(credentials: noToken) }.map(ErrorShape.init) == .unauthorized)
        #expect(harness.server.requests.isEmpty)
        // Exactly 20 is fine.
        var twenty = sampleOrder(for: .kite)
        twenty.clientOrderID = String(repeating: "A", count: 20)
        _ = try await adapter.placeOrder(twenty, credentials: Secrets.credentials)
        #expect(harness.server.requests.count == 1)
    }

    @Test func readsTheOrderBookExactly() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.orderBook) }
        let orders = try await harness.adapter(.kite).orders(credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "GET")
        #expect(request.path == "/kite/orders")
        #expect(request.header("Authorization") == "token \(Secrets.apiKey):\(Secrets.accessToken)")
        #expect(orders.count == 4)
        let filled = orders[0]
        #expect(filled.brokerOrderID == "151220000000000")
        #expect(filled.clientOrderID == "tmA1b2C3d4E5f6G7h8I9")
        #expect(filled.symbol == "INFY")
        #expect(filled.exchange == "NSE")
        #expect(filled.side == .buy)
        #expect(filled.type == .limit)
        #expect(filled.status == .filled)
        #expect(filled.quantity == 10)
        #expect(filled.filledQuantity == 10)
        #expect(filled.averagePrice == decimal("12345678901234.12345678"))
        #expect(filled.limitPrice == decimal("1500.05"))
        #expect(filled.submittedAt == utc(2026, 11, 20, 3, 45, 2))
        #expect(filled.updatedAt == utc(2026, 11, 20, 3, 45, 3))
        #expect(orders[1].status == .partiallyFilled)
        #expect(orders[1].type == .stopLimit)
        #expect(orders[1].clientOrderID == "other")  // from Kite's newer `tags` list
        #expect(orders[1].averagePrice == nil)
        #expect(orders[2].status == .rejected)
        #expect(orders[2].rejectReason == "RMS:Margin Exceeds")
        #expect(orders[2].limitPrice == nil)
        #expect(orders[3].status == .open)
        #expect(orders[3].type == .stop)
    }

    @Test func findsAnOrderByItsTag() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.orderBook) }
        let adapter = harness.adapter(.kite)
        let found = try await adapter.order(clientOrderID: "tmA1b2C3d4E5f6G7h8I9", symbol: nil, credentials: Secrets.credentials)
        #expect(found?.brokerOrderID == "151220000000000")
        #expect(try await adapter.order(clientOrderID: "nosuchtag", symbol: nil, credentials: Secrets.credentials) == nil)
    }

    @Test func cancelsWithDelete() async throws {
        let harness = try BrokerHarness { _ in .json(200, #"{"status":"success","data":{"order_id":"151220000000001"}}"#) }
        try await harness.adapter(.kite).cancelOrder(brokerOrderID: "151220000000001", symbol: nil, credentials: Secrets.credentials)
        let request = try #require(harness.lastRequest)
        #expect(request.method == "DELETE")
        #expect(request.path == "/kite/orders/regular/151220000000001")
    }

    @Test func readsTheWholeDaysTradesEverySync() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.trades) }
        let adapter = harness.adapter(.kite)
        let all = try await adapter.trades(since: TradeCursor(), symbols: [], credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/kite/trades")
        #expect(all.trades.map(\.brokerTradeID) == ["10000000", "10000001", "10000002"])  // oldest first
        let first = all.trades[1]
        #expect(first.brokerOrderID == "151220000000000")
        #expect(first.symbol == "INFY")
        #expect(first.exchange == "NSE")
        #expect(first.side == .buy)
        #expect(first.quantity == 4)
        #expect(first.price == decimal("1500.05"))
        #expect(first.fee == 0)
        #expect(first.executedAt == utc(2026, 11, 20, 3, 45, 2))
        #expect(all.trades[0].price == decimal("0.1"))
        // Resuming returns the whole day again (a late or corrected fill is never skipped); the
        // cursor only records the last fill time seen.
        let again = try await adapter.trades(since: all.next, symbols: [], credentials: Secrets.credentials)
        #expect(again.trades.map(\.brokerTradeID) == ["10000000", "10000001", "10000002"])
        #expect(again.next == all.next)
    }

    @Test func netsPositionsPerInstrument() async throws {
        let harness = try BrokerHarness { _ in .json(200, Self.positions) }
        let positions = try await harness.adapter(.kite).positions(credentials: Secrets.credentials)
        #expect(harness.lastRequest?.path == "/kite/portfolio/positions")
        #expect(positions.count == 2)
        let infy = positions[0]
        #expect(infy.symbol == "INFY")
        #expect(infy.quantity == 6)
        // (10 × 1500 − 4 × 1505.25) / 6
        #expect(infy.averagePrice == decimal("8979") / 6)
        #expect(infy.lastPrice == decimal("1510.5"))
        #expect(infy.realizedPnl == decimal("3.5"))
        #expect(infy.unrealizedPnl == 84)
        let flat = positions[1]
        #expect(flat.symbol == "TCS")
        #expect(flat.quantity == 0)
        #expect(flat.averagePrice == 0)
        #expect(flat.realizedPnl == decimal("12.25"))
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "TokenException", status: 403,
                  body: #"{"status":"error","message":"Incorrect `api_key` or `access_token`.","error_type":"TokenException"}"#,
                  placement: .unauthorized, read: .unauthorized, mentions: "Incorrect `api_key`"),
        ErrorCase(name: "403 without a body", status: 403, body: "", placement: .unauthorized, read: .unauthorized),
        ErrorCase(name: "PermissionException", status: 403,
                  body: #"{"status":"error","message":"Insufficient permission for that call.","error_type":"PermissionException"}"#,
                  placement: .unauthorized, read: .unauthorized),
        ErrorCase(name: "InputException", status: 400,
                  body: #"{"status":"error","message":"Invalid `tradingsymbol`.","error_type":"InputException"}"#,
                  placement: .rejected(code: "InputException"), read: .rejected(code: "InputException"), mentions: "Invalid `tradingsymbol`"),
        ErrorCase(name: "OrderException", status: 400,
                  body: #"{"status":"error","message":"Markets are closed right now.","error_type":"OrderException"}"#,
                  placement: .rejected(code: "OrderException"), read: .rejected(code: "OrderException")),
        ErrorCase(name: "MarginException", status: 400,
                  body: #"{"status":"error","message":"Insufficient funds. Required margin is 95417.84.","error_type":"MarginException"}"#,
                  placement: .rejected(code: "MarginException"), read: .rejected(code: "MarginException"), mentions: "Insufficient funds"),
        ErrorCase(name: "order request timed out", status: 400,
                  body: #"{"status":"error","message":"Order request timed out. Please check the order book.","error_type":"InputException"}"#,
                  placement: .unknownOutcome, read: .unavailable, mentions: "check the order book"),
        ErrorCase(name: "NetworkException", status: 503,
                  body: #"{"status":"error","message":"Gateway timed out.","error_type":"NetworkException"}"#,
                  placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "DataException", status: 502,
                  body: #"{"status":"error","message":"Couldn't parse the OMS response.","error_type":"DataException"}"#,
                  placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "GeneralException", status: 500,
                  body: #"{"status":"error","message":"Something went wrong.","error_type":"GeneralException"}"#,
                  placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "bare 504", status: 504, body: "<html>gateway</html>", placement: .unknownOutcome, read: .unavailable),
        ErrorCase(name: "429 with Retry-After", status: 429,
                  body: #"{"status":"error","message":"Too many requests","error_type":"NetworkException"}"#,
                  headers: [("Retry-After", "2")], placement: .rateLimited(.seconds(2)), read: .rateLimited(.seconds(2))),
        ErrorCase(name: "429 without Retry-After", status: 429, body: "", placement: .rateLimited(nil), read: .rateLimited(nil)),
        ErrorCase(name: "400 with an HTML page", status: 400, body: "<html>bad</html>", placement: .invalidResponse, read: .invalidResponse),
        ErrorCase(name: "200 that is not JSON", status: 200, body: "<html>ok</html>", placement: .unknownOutcome, read: .invalidResponse),
        ErrorCase(name: "200 without success", status: 200, body: #"{"status":"weird"}"#, placement: .unknownOutcome, read: .invalidResponse),
    ]

    @Test(arguments: errorCases) func mapsEveryErrorShape(_ errorCase: ErrorCase) async throws {
        try await checkErrorCase(errorCase, broker: .kite)
    }
}
