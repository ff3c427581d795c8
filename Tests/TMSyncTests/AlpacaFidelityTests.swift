import Foundation
import Logging
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMHTTP
import TMPostgres
import TMSync

/// Alpaca through the real sync: broker-sim (the process) speaking Alpaca's wire format, the real
/// `AlpacaAdapter` over libcurl, real Redis and Postgres. A limit order fills in two parts, then the
/// rest: each fill arrives with the order's leaves quantity, the order's remaining quantity follows,
/// and the platform's order row moves with exact totals and average.
@Suite(.serialized, .timeLimit(.minutes(2))) struct AlpacaFidelityTests {
    /// broker-sim and its admin API, started and called as the end-to-end sync tests do.
    let e2e = SyncEndToEndTests()

    /// Posts to broker-sim's admin API; its JSON answer.
    func admin(_ base: String, _ path: String, _ body: String) throws -> JSONValue {
        try JSONValue.parse(Array(try e2e.admin(base, "POST", "/admin" + path, body).utf8))
    }

    @Test func partialFillsArriveWithTheirLeavesAndTheOrderFollows() async throws {
        let (sim, base) = try e2e.startSimulator()
        defer { sim.terminate(grace: .seconds(5)) }
        let f = try await SyncFixture(broker: TestBroker(.alpaca))
        defer { Task { await f.cleanUp() } }
        let apiKey = "key-\(f.secret)"
        #expect(try admin(base, "/accounts", #"{"broker":"alpaca","api_key":"\#(apiKey)","api_secret":"\#(f.secret)"}"#)["error"] == nil)
        // The market far above the order's limit: it rests until filled by hand.
        #expect(try admin(base, "/prices", #"{"broker":"alpaca","symbol":"AAPL","price":"190"}"#)["price"] == .string("190"))

        let http = try BrokerAdapters.makeHTTPClient(proxy: .none)
        defer { http.shutdown() }
        let endpoints = BrokerEndpoints.simulator(port: Int(URL(string: base)!.port!))
        let adapter = BrokerAdapters.make(.alpaca, endpoints: endpoints, http: http)
        let credentials = BrokerCredentials.plain(apiKey: apiKey, apiSecret: f.secret)
        let placed = try await adapter.placeOrder(
            OrderRequest(clientOrderID: "cid-alpaca-1", symbol: "AAPL", side: .buy, quantity: 10, type: .limit, limitPrice: 150, timeInForce: .day),
            credentials: credentials)
        #expect(placed.remainingQuantity == 10)

        let conn = try f.db.connect()
        defer { conn.close() }
        let orderID: UUID = try conn.query("""
            INSERT INTO orders (user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, price, state, broker_order_id)
            VALUES (\(f.user), \(f.account), 'alpaca-order-1', 'cid-alpaca-1', 'AAPL', 'US', 'buy', 'limit', 10, 150, 'ACCEPTED', \(placed.brokerOrderID)) RETURNING id
            """).rows[0].decode("id")
        var consumer = SyncConsumer(pool: f.pool, redis: f.redis, producer: try f.producer, keyring: f.keyring) { _ in adapter }
        consumer.tradeEventsQueue = f.tradeEvents
        consumer.notificationsQueue = f.notifications

        // Two partial fills: 4 at 149.50, then 3 at 149.57 (7 filled, 3 left).
        let fillPath = "/orders/alpaca/\(apiKey)/\(placed.brokerOrderID)/fill"
        #expect(try admin(base, fillPath, #"{"quantity":"4","price":"149.50"}"#)["filled_quantity"] == .string("4"))
        #expect(try admin(base, fillPath, #"{"quantity":"3","price":"149.57"}"#)["filled_quantity"] == .string("7"))

        // What the adapter reads from Alpaca's wire: each fill with what its order had left after it.
        let fills = try await adapter.trades(since: TradeCursor(), symbols: [], credentials: credentials).trades
        #expect(fills.map(\.quantity) == [4, 3])
        #expect(fills.map(\.orderRemainingQuantity) == [6, 3])
        let working = try #require(try await adapter.order(clientOrderID: "cid-alpaca-1", symbol: nil, credentials: credentials))
        #expect(working.status == .partiallyFilled)
        #expect(working.filledQuantity == 7)
        #expect(working.remainingQuantity == 3)

        guard case .synced = try await f.sync(consumer: consumer) else { Issue.record("not synced"); return }
        var row = try conn.query("SELECT state, filled_quantity, average_price FROM orders WHERE id = \(orderID)").rows[0]
        #expect(try row.decode("state", as: String.self) == "PARTIALLY_FILLED")
        #expect(try row.decode("filled_quantity", as: Decimal.self) == 7)
        #expect(try row.decode("average_price", as: Decimal.self) == Decimal(string: "149.53")!)  // (4 × 149.50 + 3 × 149.57) / 7
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE symbol = 'AAPL' AND order_id = '\(orderID)'") == 2)
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE quantity = 4 AND price = 149.50") == 1)
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE quantity = 3 AND price = 149.57") == 1)

        // The rest fills: the last fill leaves nothing, the order is finished with nothing remaining.
        #expect(try admin(base, fillPath, #"{"quantity":"3","price":"149.60"}"#)["filled_quantity"] == .string("10"))
        let all = try await adapter.trades(since: TradeCursor(), symbols: [], credentials: credentials).trades
        #expect(all.map(\.orderRemainingQuantity) == [6, 3, 0])
        let done = try #require(try await adapter.order(clientOrderID: "cid-alpaca-1", symbol: nil, credentials: credentials))
        #expect(done.status == .filled)
        #expect(done.remainingQuantity == 0)

        guard case .synced = try await f.sync(consumer: consumer) else { Issue.record("not synced"); return }
        row = try conn.query("SELECT state, filled_quantity, average_price FROM orders WHERE id = \(orderID)").rows[0]
        #expect(try row.decode("state", as: String.self) == "FILLED")
        #expect(try row.decode("filled_quantity", as: Decimal.self) == 10)
        #expect(try row.decode("average_price", as: Decimal.self) == Decimal(string: "149.551")!)  // (598 + 448.71 + 448.80) / 10
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE order_id = '\(orderID)'") == 3)
    }
}
