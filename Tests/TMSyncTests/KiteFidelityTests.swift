import Foundation
import TMBrokers
import TMCore
import TMHTTP
import TMPostgres
import TMSync
import TestSupport
import Testing

/// Kite through the real sync (real Redis and Postgres, the real `KiteAdapter` over libcurl): first
/// Kite's own published samples served from a stub, then broker-sim after a modification.
@Suite(.serialized, .timeLimit(.minutes(3))) struct KiteFidelityTests {
    /// `Tests/TMBrokersTests/Fixtures/kite/<file>` as stored (the samples and their sources live there).
    static func fixture(_ file: String) throws -> Data {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return try Data(contentsOf: root.appendingPathComponent("TMBrokersTests/Fixtures/kite/\(file)"))
    }

    static func client() throws -> AsyncHTTPClient {
        try AsyncHTTPClient(configuration: HTTPClient.Configuration(proxy: .none), lanes: 2, name: "kite-fidelity")
    }

    /// The real sync consumer of `f`'s account, with `adapter` as its broker.
    static func consumer(_ f: SyncFixture, _ adapter: KiteAdapter) throws -> SyncConsumer {
        var consumer = SyncConsumer(pool: f.pool, redis: f.redis, producer: try f.producer, keyring: f.keyring) { _ in adapter }
        consumer.tradeEventsQueue = f.tradeEvents
        consumer.notificationsQueue = f.notifications
        return consumer
    }

    /// A limit buy on NSE the platform placed and the broker accepted.
    static func acceptedBuy(_ conn: PostgresConnection, _ f: SyncFixture, key: String, clientID: String, symbol: String, quantity: Decimal,
                            price: Decimal, brokerOrderID: String) throws -> UUID {
        try conn.query("""
            INSERT INTO orders (user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, price,
                                state, broker_order_id)
            VALUES (\(f.user), \(f.account), \(key), \(clientID), \(symbol), 'NSE', 'buy', 'limit', \(quantity), \(price), 'ACCEPTED',
                    \(brokerOrderID))
            RETURNING id
            """).rows[0].decode("id")
    }

    @Test func kitesOwnSamplesLandExactly() async throws {
        let bodies = try ["/kite/orders": "orders.json", "/kite/trades": "trades.json", "/kite/portfolio/positions": "positions.json"]
            .mapValues(Self.fixture)
        let server = try TestHTTPServer { request in
            guard let body = bodies[request.path] else { return .json(404, #"{"status":"error","message":"Route not found","error_type":"GeneralException"}"#) }
            return .respond(status: 200, headers: [("Content-Type", "application/json")], body: body)
        }
        defer { server.stop() }
        let http = try Self.client()
        defer { http.shutdown() }
        let f = try await SyncFixture(broker: TestBroker(.kite))
        defer { Task { await f.cleanUp() } }
        let conn = try f.db.connect()
        defer { conn.close() }
        // The platform placed the sample's IOC buy (order 300000000000000, COMPLETE at 109.4).
        let orderID = try Self.acceptedBuy(conn, f, key: "order-ioc", clientID: "cid-ioc", symbol: "IOC", quantity: 1,
                                           price: Decimal(string: "109.4")!, brokerOrderID: "300000000000000")

        let outcome = try await f.sync(consumer: try Self.consumer(f, KiteAdapter(baseURL: server.baseURL + "/kite", http: http)))
        guard case .synced = outcome else { Issue.record("not synced: \(outcome)"); return }

        let order = try conn.query("SELECT state, filled_quantity, average_price FROM orders WHERE id = \(orderID)").rows[0]
        #expect(try order.decode("state", as: String.self) == "FILLED")
        #expect(try order.decode("filled_quantity", as: Decimal.self) == 1)
        #expect(try order.decode("average_price", as: Decimal.self) == Decimal(string: "109.4")!)

        let trades = try conn.query("""
            SELECT broker_trade_id, broker_order_id, symbol, exchange, side, quantity, price, fees, traded_at, order_id IS NULL AS unlinked
            FROM trades WHERE account_id = \(f.account) ORDER BY traded_at
            """).rows
        #expect(try trades.map { try $0.decode("broker_trade_id", as: String.self) } == ["10000000", "40000000", "70000000", "90000000"])
        #expect(try trades.map { try $0.decode("symbol", as: String.self) } == ["SBIN", "USDINR21JUNFUT", "GOLDPETAL21JUNFUT", "GOLDPETAL21JUNFUT"])
        #expect(try trades.map { try $0.decode("exchange", as: String.self) } == ["NSE", "CDS", "MCX", "MCX"])
        #expect(try trades.map { try $0.decode("price", as: Decimal.self) }
                == [Decimal(string: "420.65")!, Decimal(string: "72.755")!, 4852, 4852])
        #expect(try trades.map { try $0.decode("quantity", as: Decimal.self) } == [1, 1, 1, 1])
        #expect(try trades.allSatisfy { try $0.decode("side", as: String.self) == "buy" && $0.decode("fees", as: Decimal.self) == 0 })
        // Kite's times are IST wall-clock: 11:18:27 IST is 05:48:27 UTC.
        #expect(try trades[1].decode("traded_at", as: Date.self) == Date(timeIntervalSince1970: 1_622_440_107))
        #expect(try trades[1].decode("broker_order_id", as: String.self) == "500000000000000")
        #expect(try trades.allSatisfy { try $0.decode("unlinked", as: Bool.self) }, "none of the samples' trades is the platform's order's")

        let positions = try conn.query("""
            SELECT symbol, exchange, quantity, average_price FROM positions WHERE account_id = \(f.account) ORDER BY symbol
            """).rows
        #expect(try positions.map { try $0.decode("symbol", as: String.self) } == ["GOLDGUINEA17DECFUT", "LEADMINI17DECFUT", "SBIN"])
        #expect(try positions.map { try $0.decode("quantity", as: Decimal.self) } == [0, 1, 0])
        #expect(try positions.map { try $0.decode("average_price", as: Decimal.self) } == [0, Decimal(string: "161.05")!, 0])
    }

    /// A resting order the platform placed at broker-sim is modified to cross the market; the next
    /// sync finds it filled at the market under the same order id, its fill linked to the order.
    @Test func aModifiedOrderFillsAndTheSyncFindsItUnderItsId() async throws {
        let e2e = SyncEndToEndTests()
        let (sim, base) = try e2e.startSimulator()
        defer { sim.terminate(grace: .seconds(5)) }
        let f = try await SyncFixture(broker: TestBroker(.kite))
        defer { Task { await f.cleanUp() } }
        _ = try e2e.admin(base, "POST", "/admin/accounts",
                          #"{"broker":"kite","api_key":"key-\#(f.secret)","api_secret":"\#(f.secret)","access_token":"token-\#(f.secret)"}"#)
        _ = try e2e.admin(base, "POST", "/admin/prices", #"{"broker":"kite","symbol":"INFY","price":"1500"}"#)
        let http = try Self.client()
        defer { http.shutdown() }
        let adapter = KiteAdapter(baseURL: base + "/kite", http: http)
        let credentials = BrokerCredentials.plain(apiKey: "key-\(f.secret)", apiSecret: f.secret, accessToken: "token-\(f.secret)")
        let clientID = ClientOrderID.derive(idempotencyKey: "kite-fidelity-modify", for: .kite)
        let placed = try await adapter.placeOrder(OrderRequest(clientOrderID: clientID, symbol: "INFY", exchange: "NSE", side: .buy, quantity: 3,
                                                               type: .limit, limitPrice: 700, product: "CNC"), credentials: credentials)
        let conn = try f.db.connect()
        defer { conn.close() }
        let orderID = try Self.acceptedBuy(conn, f, key: "kite-fidelity-modify", clientID: clientID, symbol: "INFY", quantity: 3, price: 700,
                                           brokerOrderID: placed.brokerOrderID)
        let consumer = try Self.consumer(f, adapter)
        _ = try await f.sync(consumer: consumer)
        #expect(try conn.query("SELECT state FROM orders WHERE id = \(orderID)").rows[0].decode("state", as: String.self) == "ACCEPTED")

        let modified = try await adapter.modifyOrder(
            OrderModification(brokerOrderID: placed.brokerOrderID, symbol: "INFY", exchange: "NSE", side: .buy, type: .limit, quantity: 3,
                              limitPrice: 1600, replacementClientOrderID: clientID), credentials: credentials)
        #expect(modified.brokerOrderID == placed.brokerOrderID)
        _ = try await f.sync(consumer: consumer)

        let order = try conn.query("SELECT state, filled_quantity, average_price FROM orders WHERE id = \(orderID)").rows[0]
        #expect(try order.decode("state", as: String.self) == "FILLED")
        #expect(try order.decode("filled_quantity", as: Decimal.self) == 3)
        #expect(try order.decode("average_price", as: Decimal.self) == 1500)
        let trade = try conn.query("SELECT symbol, quantity, price, order_id FROM trades WHERE account_id = \(f.account)").rows
        #expect(trade.count == 1)
        #expect(try trade.first?.decode("symbol", as: String.self) == "INFY")
        #expect(try trade.first?.decode("quantity", as: Decimal.self) == 3)
        #expect(try trade.first?.decode("price", as: Decimal.self) == 1500)
        #expect(try trade.first?.decode("order_id", as: UUID?.self) == orderID)
        let position = try conn.query("SELECT quantity, average_price FROM positions WHERE account_id = \(f.account) AND symbol = 'INFY'").rows
        #expect(try position.first?.decode("quantity", as: Decimal.self) == 3)
        #expect(try position.first?.decode("average_price", as: Decimal.self) == 1500)
    }
}
