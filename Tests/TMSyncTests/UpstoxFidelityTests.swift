import Foundation
import Logging
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMHTTP
import TMPostgres
import TMSync

/// Upstox through the real sync against broker-sim (its own process, answering in Upstox's
/// documented shapes): what lands in the tables is what Upstox says, read as documented.
@Suite(.serialized, .timeLimit(.minutes(3))) struct UpstoxFidelityTests {
    /// broker-sim in its own process, an account there and on the platform with the same
    /// credentials, and a SyncConsumer using the real Upstox adapter.
    struct Scenario {
        let sim: ChildProcess
        let base: String
        let sync: SyncFixture
        let http: AsyncHTTPClient
        let adapter: UpstoxAdapter
        let credentials: BrokerCredentials
        let e2e = SyncEndToEndTests()

        init() async throws {
            (sim, base) = try e2e.startSimulator()
            sync = try await SyncFixture(broker: TestBroker(.upstox))
            _ = try e2e.admin(base, "POST", "/admin/accounts",
                              #"{"broker":"upstox","api_key":"key-\#(sync.secret)","api_secret":"\#(sync.secret)","access_token":"token-\#(sync.secret)"}"#)
            http = try AsyncHTTPClient(configuration: HTTPClient.Configuration(proxy: .none), lanes: 2, name: "upstox-fidelity")
            adapter = UpstoxAdapter(baseURL: "\(base)/upstox", orderBaseURL: "\(base)/upstox", http: http)
            credentials = .plain(apiKey: "key-\(sync.secret)", apiSecret: sync.secret, accessToken: "token-\(sync.secret)")
        }

        func pin(_ symbol: String, _ price: String) throws {
            _ = try e2e.admin(base, "POST", "/admin/prices", #"{"broker":"upstox","symbol":"\#(symbol)","price":"\#(price)"}"#)
        }

        /// A market order by instrument key, as the platform places one (symbol and broker token).
        func market(_ side: OrderSide, _ quantity: Decimal, _ symbol: String, key: String) async throws -> BrokerOrder {
            let order = OrderRequest(clientOrderID: ClientOrderID.derive(idempotencyKey: "\(symbol)-\(side)", for: .upstox), symbol: symbol,
                                     exchange: "NSE", side: side, quantity: quantity, type: .market, brokerToken: key)
            return try await adapter.placeOrder(order, credentials: credentials)
        }

        /// The platform's record of an order it placed (as the order path writes it once Upstox
        /// acknowledged it), by the trading symbol.
        func recordPlatformOrder(_ placed: BrokerOrder, idempotencyKey: String) throws {
            let conn = try sync.db.connect()
            defer { conn.close() }
            _ = try conn.execute("""
                INSERT INTO orders (user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity,
                                    state, broker_order_id)
                VALUES (\(sync.user), \(sync.account), \(idempotencyKey), \(placed.clientOrderID!), \(placed.symbol), 'NSE', 'buy', 'market',
                        \(placed.quantity), 'ACCEPTED', \(placed.brokerOrderID))
                """)
        }

        func runSync() async throws -> SyncConsumer.Outcome {
            var consumer = SyncConsumer(pool: sync.pool, redis: sync.redis, producer: try sync.producer, keyring: sync.keyring) { [adapter] _ in adapter }
            consumer.tradeEventsQueue = sync.tradeEvents
            consumer.notificationsQueue = sync.notifications
            return try await sync.sync(consumer: consumer)
        }

        func rows(_ sql: String) throws -> [[String]] {
            let conn = try sync.db.connect()
            defer { conn.close() }
            return try conn.query(PostgresQuery(unsafeSQL: sql)).rows.map { row in (0..<row.count).map { (try? row.decode($0, as: String.self)) ?? "" } }
        }

        func close() async {
            http.shutdown()
            await sync.cleanUp()
            sim.terminate(grace: .seconds(5))
        }
    }

    /// Upstox sends `"average_price": null` for lines made of the day's trades (its documented
    /// sample); the position's average is then `buy_price` for a long line and `sell_price` for a
    /// short one — never 0, which would be a held share at cost 0.
    @Test func aNullAverageTakesTheSidesPrice() async throws {
        let scenario = try await Scenario()
        do {
            try scenario.pin("INFY", "1500.05")
            try scenario.pin("TCS", "3800.1")
            _ = try await scenario.market(.buy, 3, "INFY", key: "NSE_EQ|INE009A01021")
            _ = try await scenario.market(.sell, 2, "TCS", key: "NSE_EQ|INE467B01029")
            guard case .synced = try await scenario.runSync() else { Issue.record("not synced"); await scenario.close(); return }
            let positions = try scenario.rows("SELECT symbol, trim_scale(quantity)::text, trim_scale(average_price)::text FROM positions ORDER BY symbol")
            #expect(positions == [["INFY", "3", "1500.05"], ["TCS", "-2", "3800.1"]])
        } catch {
            await scenario.close()
            throw error
        }
        await scenario.close()
    }

    /// Orders, trades and positions all carry the trading symbol (`INFY`, as Kite and the
    /// `instruments` table name it), never Upstox's instrument key.
    @Test func ordersTradesAndPositionsCarryTheTradingSymbol() async throws {
        let scenario = try await Scenario()
        do {
            try scenario.pin("INFY", "1500")
            let placed = try await scenario.market(.buy, 4, "INFY", key: "NSE_EQ|INE009A01021")
            try scenario.recordPlatformOrder(placed, idempotencyKey: "INFY-buy")
            guard case .synced = try await scenario.runSync() else { Issue.record("not synced"); await scenario.close(); return }
            #expect(try scenario.rows("SELECT DISTINCT symbol FROM trades") == [["INFY"]])
            #expect(try scenario.rows("SELECT symbol, state, trim_scale(average_price)::text FROM orders") == [["INFY", "FILLED", "1500"]])
            #expect(try scenario.rows("SELECT symbol FROM positions") == [["INFY"]])
            // The trade is linked to the platform's order.
            #expect(try scenario.rows("SELECT count(*)::text FROM trades t JOIN orders o ON o.id = t.order_id") == [["1"]])
        } catch {
            await scenario.close()
            throw error
        }
        await scenario.close()
    }
}
