import Foundation
import TestSupport
import TMBrokers
import TMCore
import TMCrypto
import TMOrders
import TMPostgres
import TMRedis
import TMRisk
import TMRouting
import TMSync
import XCTest

/// A broker that accepts every order and finds by client order id only what it accepted.
private final class AcceptingBroker: BrokerAdapter, @unchecked Sendable {
    let broker = BrokerKind.kite
    private let accepted = Locked<[OrderRequest]>([])
    private let lookUps = Locked(0)
    var placed: Int { accepted.withLock { $0.count } }
    var lookedUp: Int { lookUps.withLock { $0 } }

    func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        accepted.withLock { $0.append(order) }
        return Self.open(order)
    }
    func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        lookUps.withLock { $0 += 1 }
        return accepted.withLock { $0.first { $0.clientOrderID == clientOrderID } }.map(Self.open)
    }
    static func open(_ order: OrderRequest) -> BrokerOrder {
        BrokerOrder(brokerOrderID: "B-\(order.clientOrderID)", clientOrderID: order.clientOrderID, symbol: order.symbol, exchange: order.exchange,
                    side: order.side, type: order.type, quantity: order.quantity, filledQuantity: 0, averagePrice: nil, limitPrice: order.limitPrice,
                    status: .open)
    }
    func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {}
    func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder { throw BrokerError.notFound(reason: "unused") }
    func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] { [] }
    func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch { TradeBatch(trades: [], next: cursor) }
    func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] { [] }
    func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] { [] }
    func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] { [] }
}

private struct PassAll: RiskGate {
    func check(_ order: PlaceOrder, orderID: UUID, now: Date) -> RiskCheck {
        RiskCheck(outcome: .passed(RiskAssessment(price: 1400, multiplier: 1, notional: 1400, reducesExposure: false, underEmergencyLimits: false)),
                  lastPrice: nil)
    }
    func release(orderID: UUID, account: UUID) {}
    func fill(orderID: UUID, account: UUID, symbol: String, exchange: String, side: OrderSide, quantity: FixedDecimal, price: FixedDecimal) {}
}

private struct Requested: RouteSource {
    func candidates(for order: PlaceOrder) -> [RouteCandidate] {
        [RouteCandidate(accountID: order.accountID.uuidString.lowercased(), broker: .kite, latency: .milliseconds(1), errorRate: 0, fee: 0, liquidity: 1)]
    }
    func record(broker: BrokerKind, latency: Duration, failed: Bool) {}
}

/// A new order goes to the broker in the handling that committed it SUBMITTING: no look-up first
/// (the broker cannot know an order never sent) and no wait for `resendAfter`.
final class PlacementSendTests: XCTestCase {
    func testANewOrderIsSentAtOnceAndAcceptedWithoutALookUp() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_place")
        let db = try database.connect()
        defer { db.close() }
        let keyring = try SecretKeyring(current: try SecretKey.generate())
        try db.execute("INSERT INTO users (email) VALUES ('trader@example.com')")
        let account = try AccountAdministration.add(db, keyring: keyring, userEmail: "trader@example.com", broker: .kite, label: "main",
                                                    credentials: .init(apiKey: "k", apiSecret: "s", accessToken: "t"))
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let pool = PostgresPool(configuration: database.configuration, size: 2)
        let broker = AcceptingBroker()
        let placer = OrderPlacer(pool: pool, risk: PassAll(), routes: Requested(),
                                 gateway: BrokerGateway(keyring: keyring, redis: redis, makeAdapter: { _ in broker }), producer: nil)
        let key = "place-\(UUID().uuidString)"
        let command = OrderCommand.place(PlaceOrder(idempotencyKey: key, accountID: account, symbol: "INFY", exchange: "NSE", side: .buy,
                                                    quantity: 1, type: .limit, limitPrice: 1400))
        let fences = PlacementFences(fences: [MessageFence(queue: "orders", messageID: UUID().uuidString, epoch: 1)])

        let result = try await placer.handle(Array(command.json.text.utf8), fences: fences)

        XCTAssertEqual(result.state, .accepted)
        XCTAssertEqual(broker.placed, 1)
        XCTAssertEqual(broker.lookedUp, 0)
        let state: String = try db.query("SELECT state FROM orders WHERE idempotency_key = \(key)").rows[0].decode("state")
        XCTAssertEqual(state, "ACCEPTED")
        await pool.shutdown()
    }
}
