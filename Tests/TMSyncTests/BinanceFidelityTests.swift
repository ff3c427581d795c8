import Foundation
import Testing
import TestSupport
import TMBrokers
import TMHTTP
import TMPostgres
import TMSync

/// Issue 10's Binance defect through the real sync: a platform limit order resting at broker-sim
/// fills completely between two syncs, so it is no longer in Binance's open list; the second sync
/// still ends it FILLED with its exact average price and its trade linked (the symbol's recent
/// orders, `allOrders`, say how it ended); another, cancelled at the broker with no trade to say
/// so, ends CANCELLED.
@Suite(.serialized, .timeLimit(.minutes(2))) struct BinanceFidelityTests {
    /// broker-sim as a child process and its admin API, as the end-to-end sync test runs them.
    let endToEnd = SyncEndToEndTests()

    func admin(_ base: String, _ path: String, _ body: String) throws {
        let answer = try endToEnd.admin(base, "POST", "/admin" + path, body)
        #expect(!answer.contains("\"error\""), "\(path): \(answer)")
    }

    @Test func aRestingLimitOrderFilledBetweenSyncsEndsFilledWithItsAveragePrice() async throws {
        try await restingOrderFillsBetweenSyncs(outsideTheRecentWindow: false)
    }

    /// Syncs paused for over a day (the account needed its user): the fill is older than Binance's
    /// 24-hour recent orders, so neither list has the order; the sync looks it up by its client id.
    @Test func anOrderFilledBeforeTheRecentWindowIsLookedUpByItsClientID() async throws {
        try await restingOrderFillsBetweenSyncs(outsideTheRecentWindow: true)
    }

    func restingOrderFillsBetweenSyncs(outsideTheRecentWindow: Bool) async throws {
        let (sim, base) = try endToEnd.startSimulator()
        defer { sim.terminate(grace: .seconds(5)) }
        let f = try await SyncFixture(broker: TestBroker(.binance))
        defer { Task { await f.cleanUp() } }
        let apiKey = "key-\(f.secret)"
        try admin(base, "/accounts", #"{"broker":"binance","api_key":"\#(apiKey)","api_secret":"\#(f.secret)"}"#)
        try admin(base, "/prices", #"{"broker":"binance","symbol":"BTCUSDT","price":"65000"}"#)

        // The platform places a limit buy below the market: it rests.
        let http = try AsyncHTTPClient(configuration: HTTPClient.Configuration(proxy: .none), lanes: 2, name: "binance-fidelity")
        defer { http.shutdown() }
        let adapter = BinanceAdapter(baseURL: base + "/binance", http: http)
        let credentials = BrokerCredentials.plain(apiKey: apiKey, apiSecret: f.secret)
        let clientID = ClientOrderID.derive(idempotencyKey: "fidelity-order-1", for: .binance)
        let placed = try await adapter.placeOrder(
            OrderRequest(clientOrderID: clientID, symbol: "BTCUSDT", side: .buy, quantity: Decimal(string: "0.002")!, type: .limit,
                         limitPrice: 64_000, timeInForce: .gtc), credentials: credentials)
        #expect(placed.status == .open)
        let conn = try f.db.connect()
        defer { conn.close() }
        let orderID: UUID = try conn.query("""
            INSERT INTO orders (user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, price, state, broker_order_id)
            VALUES (\(f.user), \(f.account), 'fidelity-order-1', \(clientID), 'BTCUSDT', 'BINANCE', 'buy', 'limit', 0.002, 64000, 'ACCEPTED', \(placed.brokerOrderID))
            RETURNING id
            """).rows[0].decode("id")

        // A second platform order, on another symbol, that the user cancels in Binance's app between
        // the syncs: no trade says so, only the symbol's recent orders.
        let cancelClientID = ClientOrderID.derive(idempotencyKey: "fidelity-order-2", for: .binance)
        let resting = try await adapter.placeOrder(
            OrderRequest(clientOrderID: cancelClientID, symbol: "ETHUSDT", side: .buy, quantity: 1, type: .limit, limitPrice: 1_000,
                         timeInForce: .gtc), credentials: credentials)
        let cancelledID: UUID = try conn.query("""
            INSERT INTO orders (user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, price, state, broker_order_id)
            VALUES (\(f.user), \(f.account), 'fidelity-order-2', \(cancelClientID), 'ETHUSDT', 'BINANCE', 'buy', 'limit', 1, 1000, 'ACCEPTED', \(resting.brokerOrderID))
            RETURNING id
            """).rows[0].decode("id")

        let synced = ObservedBinance(adapter: adapter, hidden: outsideTheRecentWindow ? [placed.brokerOrderID] : [])
        var consumer = SyncConsumer(pool: f.pool, redis: f.redis, producer: try f.producer, keyring: f.keyring) { _ in synced }
        consumer.tradeEventsQueue = f.tradeEvents
        consumer.notificationsQueue = f.notifications
        func order() throws -> (state: String, filled: Decimal, average: Decimal?) {
            let row = try conn.query("SELECT state, filled_quantity, average_price FROM orders WHERE id = \(orderID)").rows[0]
            return (try row.decode("state"), try row.decode("filled_quantity"), try row.decode("average_price"))
        }

        // 1. Resting: the first sync leaves it ACCEPTED, nothing filled.
        guard case .synced = try await f.sync(consumer: consumer) else { Issue.record("first sync did not run"); return }
        #expect(try order().state == "ACCEPTED")
        #expect(try order().filled == 0)
        #expect(try f.count("SELECT count(*)::int FROM trades") == 0)
        #expect(try conn.query("SELECT state FROM orders WHERE id = \(cancelledID)").rows[0].decode("state", as: String.self) == "ACCEPTED")

        // 2. The market falls through the limit: broker-sim fills the whole order, resting, at 63990.
        try admin(base, "/prices", #"{"broker":"binance","symbol":"BTCUSDT","price":"63990"}"#)
        try await adapter.cancelOrder(brokerOrderID: resting.brokerOrderID, symbol: "ETHUSDT", credentials: credentials)
        #expect(try await adapter.orders(credentials: credentials).isEmpty, "filled and cancelled: no longer in the open list")

        // 3. The next sync: FILLED, the exact average, the trade linked to the order.
        guard case .synced = try await f.sync(consumer: consumer) else { Issue.record("second sync did not run"); return }
        let after = try order()
        #expect(after.state == "FILLED")
        #expect(after.filled == Decimal(string: "0.002")!)
        #expect(after.average == 63_990)
        let trades = try conn.query("SELECT symbol, quantity, price, order_id FROM trades").rows
        #expect(trades.count == 1)
        #expect(try trades.first?.decode("symbol", as: String.self) == "BTCUSDT")
        #expect(try trades.first?.decode("quantity", as: Decimal.self) == Decimal(string: "0.002")!)
        #expect(try trades.first?.decode("price", as: Decimal.self) == 63_990)
        #expect(try trades.first?.decode("order_id", as: UUID?.self) == orderID, "the fill is linked to the platform order")
        #expect(try conn.query("SELECT state FROM orders WHERE id = \(cancelledID)").rows[0].decode("state", as: String.self) == "CANCELLED")
        // The recent orders (one read per symbol) answer for both; an order is looked up by its
        // client id only when they cannot.
        #expect(synced.lookUps.values == (outsideTheRecentWindow ? [clientID] : []))
    }
}

/// Binance as it answers for an order last updated before the recent window: the recent orders of
/// `orders(symbols:)` lack the `hidden` orders; every other call is the real adapter's, look-ups by client id recorded.
struct ObservedBinance: BrokerAdapter {
    let adapter: BinanceAdapter
    let hidden: Set<String>
    let lookUps = Recorded()
    var broker: BrokerKind { .binance }

    final class Recorded: @unchecked Sendable {
        private let lock = NSLock()
        private var _values: [String] = []
        var values: [String] { lock.withLock { _values } }
        func append(_ value: String) { lock.withLock { _values.append(value) } }
    }

    func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        // The open list alone (no symbols) is Binance's own; the recent orders lack the hidden ones.
        try await adapter.orders(symbols: symbols, credentials: credentials).filter { symbols.isEmpty || !hidden.contains($0.brokerOrderID) }
    }

    func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        lookUps.append(clientOrderID)
        return try await adapter.order(clientOrderID: clientOrderID, symbol: symbol, credentials: credentials)
    }

    func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try await adapter.placeOrder(order, credentials: credentials)
    }
    func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {
        try await adapter.cancelOrder(brokerOrderID: brokerOrderID, symbol: symbol, credentials: credentials)
    }
    func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try await adapter.modifyOrder(modification, credentials: credentials)
    }
    func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        try await adapter.trades(since: cursor, symbols: symbols, credentials: credentials)
    }
    func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] { try await adapter.positions(credentials: credentials) }
    func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] { try await adapter.funds(credentials: credentials) }
    func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await adapter.lastPrices(instruments, credentials: credentials)
    }
}
