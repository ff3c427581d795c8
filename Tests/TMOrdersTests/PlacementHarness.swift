import Foundation
import Logging
import TestSupport
import TMBrokers
import TMCore
import TMCrypto
import TMHTTP
import TMOrders
import TMPostgres
import TMQueue
import TMRedis
import TMRisk
import TMRouting
import TMSync

/// The risk side as a recorder: passes every order (these tests are about the broker side) and
/// counts what the placer tells the ledger.
final class RecordingRisk: RiskGate, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var released: [UUID] = []
    private(set) var filled: [(UUID, FixedDecimal)] = []
    var deny: RiskDenial?
    /// The account's average trade value the router sees (nil: never split).
    var averageTradeValue: FixedDecimal?
    /// Market prices the placer fed in, and the latest of them when each check ran.
    private(set) var observed: [String: FixedDecimal] = [:]
    private(set) var observedAtCheck: [FixedDecimal?] = []

    func check(_ order: PlaceOrder, orderID: UUID, now: Date) -> RiskCheck {
        lock.withLock { observedAtCheck.append(observed["\(order.symbol):\(order.exchange)"]) }
        if let deny = lock.withLock({ deny }) { return RiskCheck(outcome: .denied(deny), lastPrice: nil) }
        let price = FixedDecimal(exactly: order.limitPrice ?? order.triggerPrice ?? 100) ?? 100
        let quantity = FixedDecimal(exactly: order.quantity) ?? 1
        return RiskCheck(outcome: .passed(RiskAssessment(price: price, multiplier: 1, notional: price * quantity, reducesExposure: false,
                                                         underEmergencyLimits: false)), lastPrice: price,
                         averageTradeValue: lock.withLock { averageTradeValue })
    }
    func recheck(_ order: PlaceOrder, orderID: UUID, now: Date) -> RiskCheck { check(order, orderID: orderID, now: now) }
    func release(orderID: UUID, account: UUID) { lock.withLock { released.append(orderID) } }
    func observe(lastPrice: FixedDecimal, symbol: String, exchange: String) { lock.withLock { observed["\(symbol):\(exchange)"] = lastPrice } }
    func fill(orderID: UUID, account: UUID, symbol: String, exchange: String, side: OrderSide, quantity: FixedDecimal, price: FixedDecimal) {
        lock.withLock { filled.append((orderID, quantity)) }
    }
}

/// Routes every order to the account it was asked for.
struct OwnAccountRoute: RouteSource {
    let brokers: [UUID: BrokerKind]
    func candidates(for order: PlaceOrder, value: FixedDecimal) -> [RouteCandidate] {
        [RouteCandidate(accountID: order.accountID.uuidString.lowercased(), broker: brokers[order.accountID] ?? .kite, latency: .milliseconds(1),
                        errorRate: 0, fee: 0, liquidity: 1)]
    }
    func record(broker: BrokerKind, latency: Duration, failed: Bool) {}
}

/// Offers the same user's Kite and Upstox accounts for an NSE order, Kite ranked first.
struct IndianBrokersRoute: RouteSource {
    let kite: UUID, upstox: UUID
    func candidates(for order: PlaceOrder, value: FixedDecimal) -> [RouteCandidate] {
        [RouteCandidate(accountID: kite.uuidString.lowercased(), broker: .kite, latency: .milliseconds(5), errorRate: 0, fee: 10, liquidity: 1),
         RouteCandidate(accountID: upstox.uuidString.lowercased(), broker: .upstox, latency: .milliseconds(9), errorRate: 0, fee: 20, liquidity: 1)]
    }
    func record(broker: BrokerKind, latency: Duration, failed: Bool) {}
}

/// A clock the test moves.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var offset: TimeInterval = 0
    func now() -> Date { lock.withLock { Date().addingTimeInterval(offset) } }
    func advance(_ duration: Duration) { lock.withLock { offset += duration.seconds } }
}

/// broker-sim, a migrated database with one user holding an account at each broker (sealed
/// credentials, registered at broker-sim), the instruments, and an `OrderPlacer` whose adapters
/// talk to broker-sim over HTTP.
final class PlacementHarness: @unchecked Sendable {
    let sim: BrokerSim
    let database: TestDatabase
    let pool: PostgresPool
    let db: PostgresConnection
    let redis: RedisClient
    let keyring: SecretKeyring
    let http: AsyncHTTPClient
    /// The placer's admissions and requests in one job each, as `OrderServices` runs them.
    let lanes: BrokerLanes
    let user = UUID()
    let secret = "s3cr3t-\(UUID().uuidString.prefix(8))"
    var accounts: [BrokerKind: UUID] = [:]
    let risk = RecordingRisk()
    let clock = TestClock()
    let notifications: String

    init() async throws {
        sim = try BrokerSim()
        database = try TestDatabase(migrated: true, prefix: "tm_place")
        pool = PostgresPool(configuration: database.configuration, size: 4)
        db = try database.connect()
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        keyring = try SecretKeyring(current: try SecretKey.generate())
        http = try AsyncHTTPClient(configuration: HTTPClient.Configuration(proxy: .none), lanes: 4, name: "placement-test")
        lanes = try BrokerLanes(sharing: http, redis: redis.configuration, lanes: 4, name: "placement-lanes")
        notifications = "notifications-" + TestServers.uniqueName("p").lowercased().replacingOccurrences(of: "_", with: "-")
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'placer@example.com')")
        for broker in [BrokerKind.kite, .upstox, .alpaca, .binance] {
            let key = "key-\(broker.rawValue)-\(secret)"
            accounts[broker] = try AccountAdministration.add(db, keyring: keyring, userEmail: "placer@example.com", broker: broker, label: broker.rawValue,
                                                             credentials: .init(apiKey: key, apiSecret: secret, accessToken: "token-\(secret)"))
            try sim.admin("POST", "/admin/accounts",
                          #"{"broker":"\#(broker.rawValue)","api_key":"\#(key)","api_secret":"\#(secret)","access_token":"token-\#(secret)"}"#)
        }
        try db.simpleQuery("""
            INSERT INTO instruments (exchange, symbol, lot_size, tick_size, tradable, broker_tokens, currency) VALUES
                ('NSE', 'INFY', 1, 0.05, true, '{"upstox": "NSE_EQ|INE009A01021"}', 'INR'), ('NASDAQ', 'AAPL', 1, 0.01, true, '{}', 'USD'),
                ('BINANCE', 'BTCUSDT', 0.00001, 0.01, true, '{}', 'USDT')
            ON CONFLICT DO NOTHING
            """)
        for (broker, symbol, price) in [("kite", "INFY", "1500"), ("upstox", "INFY", "1500"), ("alpaca", "AAPL", "190"), ("binance", "BTCUSDT", "65000")] {
            try sim.admin("POST", "/admin/prices", #"{"broker":"\#(broker)","symbol":"\#(symbol)","price":"\#(price)"}"#)
        }
    }

    /// What the real risk book needs to pass an order: every account synced just now, with funds.
    func synced() throws {
        try db.execute("UPDATE broker_accounts SET last_sync_at = now()")
        for (broker, account) in accounts {
            let currency = broker == .alpaca ? "USD" : broker == .binance ? "USDT" : "INR"
            try db.execute("""
                INSERT INTO account_funds (account_id, segment, currency, available, as_of) VALUES (\(account), '', \(currency), 100000000, now())
                ON CONFLICT (account_id, segment, currency) DO UPDATE SET available = excluded.available, as_of = excluded.as_of
                """)
        }
    }

    func apiKey(_ broker: BrokerKind) -> String { "key-\(broker.rawValue)-\(secret)" }

    /// A placer over broker-sim; `timeout` bounds each broker call.
    func placer(timeout: Duration = .seconds(2), resendAfter: Duration = .seconds(30), routes: (any RouteSource)? = nil,
                risk: (any RiskGate)? = nil, prices: (any MarketPriceSource)? = nil, logger: Logger = Logger(label: "test"),
                observe: (@Sendable (BrokerKind, Duration, Bool) -> Void)? = nil, lanes: BrokerLanes? = nil) -> OrderPlacer {
        let endpoints = BrokerEndpoints.simulator(port: sim.port)
        let timeouts = BrokerTimeouts(connect: .seconds(1), total: timeout)
        let (http, redis) = (self.http, self.redis)
        let gateway = BrokerGateway(keyring: keyring, redis: redis, makeAdapter: { BrokerAdapters.make($0, endpoints: endpoints, http: http, timeouts: timeouts) },
                                    observe: observe, lanes: lanes ?? self.lanes)
        var settings = OrderPlacer.Settings(brokerTimeout: timeout)
        settings.resendAfter = { _ in resendAfter }
        settings.notificationsQueue = notifications
        let producer = QueueProducer(redis: redis, catalog: try! QueueCatalog([QueueManifest(name: notifications)]))
        let brokers = Dictionary(uniqueKeysWithValues: accounts.map { ($0.value, $0.key) })
        let clock = self.clock
        return OrderPlacer(pool: pool, risk: risk ?? self.risk, routes: routes ?? OwnAccountRoute(brokers: brokers), gateway: gateway,
                           producer: producer, prices: prices, settings: settings, clock: { clock.now() }, logger: logger)
    }

    /// A delivery of a new message (its own fence), as the queue would hand it over.
    static func delivery(_ message: String = UUID().uuidString, epoch: Int64 = 1) -> PlacementFences {
        PlacementFences(fences: [MessageFence(queue: "orders", messageID: message, epoch: epoch)])
    }

    func place(_ broker: BrokerKind, key: String, symbol: String? = nil, side: String = "buy", quantity: String = "2", type: String = "limit",
               price: String? = nil) -> [UInt8] {
        let (defaultSymbol, exchange, defaultPrice): (String, String, String) = switch broker {
        case .kite, .upstox: ("INFY", "NSE", "1400")
        case .alpaca: ("AAPL", "NASDAQ", "180")
        case .binance: ("BTCUSDT", "BINANCE", "60000")
        }
        let quantity = broker == .binance && quantity == "2" ? "0.002" : quantity
        var fields = [#""kind":"place""#, #""idempotency_key":"\#(key)""#, #""account_id":"\#(accounts[broker]!.uuidString.lowercased())""#,
                      #""symbol":"\#(symbol ?? defaultSymbol)""#, #""exchange":"\#(exchange)""#, #""side":"\#(side)""#,
                      #""quantity":"\#(quantity)""#, #""type":"\#(type)""#]
        if type == "limit" { fields.append(#""price":"\#(price ?? defaultPrice)""#) }
        return Array("{\(fields.joined(separator: ","))}".utf8)
    }

    func cancel(_ broker: BrokerKind, order: UUID, key: String = "cancel-\(UUID().uuidString)") -> [UInt8] {
        Array(#"{"kind":"cancel","idempotency_key":"\#(key)","account_id":"\#(accounts[broker]!.uuidString.lowercased())","order_id":"\#(order.uuidString.lowercased())"}"#.utf8)
    }

    func modify(_ broker: BrokerKind, order: UUID, price: String? = nil, quantity: String? = nil, key: String = "modify-\(UUID().uuidString)") -> [UInt8] {
        var fields = [#""kind":"modify""#, #""idempotency_key":"\#(key)""#, #""account_id":"\#(accounts[broker]!.uuidString.lowercased())""#,
                      #""order_id":"\#(order.uuidString.lowercased())""#]
        if let price { fields.append(#""price":"\#(price)""#) }
        if let quantity { fields.append(#""quantity":"\#(quantity)""#) }
        return Array("{\(fields.joined(separator: ","))}".utf8)
    }

    /// broker-sim's orders of the broker's account with this client id.
    func brokerOrders(_ broker: BrokerKind, clientOrderID: String) throws -> Int {
        let truth = try JSONValue.parse(try sim.admin("GET", "/admin/truth?broker=\(broker.rawValue)&api_key=\(apiKey(broker))"))
        return Int(truth["orders_per_client_id"]?[clientOrderID]?.intValue ?? 0)
    }

    /// Every broker order of the account, by client id.
    func brokerOrderCounts(_ broker: BrokerKind) throws -> [String: Int] {
        let truth = try JSONValue.parse(try sim.admin("GET", "/admin/truth?broker=\(broker.rawValue)&api_key=\(apiKey(broker))"))
        var counts: [String: Int] = [:]
        for (key, value) in truth["orders_per_client_id"]?.objectFields ?? [] { counts[key] = Int(value.intValue ?? 0) }
        return counts
    }

    struct NoRow: Error {}

    func row(key: String) throws -> PostgresRow {
        guard let row = try db.query("""
            SELECT id, state, client_order_id, broker_order_id, filled_quantity, average_price, unknown_reason, submit_attempts, lookup_attempts,
                   reject_code, accepted_at, requested_price, slippage_bps
            FROM orders WHERE idempotency_key = \(key)
            """).rows.first else { throw NoRow() }
        return row
    }

    func state(key: String) throws -> String { try row(key: key).decode("state") }

    func events(key: String) throws -> [String] {
        try db.query("""
            SELECT coalesce(e.from_state, '-') || '>' || e.to_state AS step FROM order_event_details e JOIN orders o ON o.id = e.order_id
            WHERE o.idempotency_key = \(key) ORDER BY e.id
            """).rows.map { try $0.decode("step") }
    }

    func fault(_ json: String) throws { try sim.admin("POST", "/admin/faults", json) }

    func cleanUp() async {
        sim.stop()
        http.shutdown()
        lanes.shutdown()
        _ = try? await redis.send("DEL", QueueKeys(queue: notifications, shard: 0).stream)
        redis.close()
        await pool.shutdown()
        db.close()
        database.drop()
    }
}

/// broker-sim on a free port.
struct BrokerSim {
    let process: ChildProcess
    let base: String
    let port: Int

    init() throws {
        let launched = try BrokerSimProcess(arguments: ["--no-rate-limits"])
        (process, base, port) = (launched.process, launched.base, launched.port)
    }

    @discardableResult
    func admin(_ method: String, _ path: String, _ body: String? = nil) throws -> String {
        let request = HTTPRequest(HTTPMethod(rawValue: method)!, base + path, body: body.map { .json(Data($0.utf8)) } ?? .none)
        let response = try HTTPClient().send(request)
        let text = String(decoding: response.body, as: UTF8.self)
        guard response.status < 300 else { throw Timeout(what: "broker-sim admin \(method) \(path): HTTP \(response.status) \(text)") }
        return text
    }

    func stop() { process.terminate(grace: .seconds(5)) }
}
