import Foundation
import Logging
import TestSupport
import TMBrokers
import TMCore
import TMCrypto
import TMDatabase
import TMHTTP
import TMPostgres
import TMQueue
import TMRedis
import TMSync

/// A broker whose book the test writes: orders, trades and positions, an optional delay per call
/// and an error to answer with. (The brokers are what is replaced here; Redis and Postgres are real.)
final class TestBroker: BrokerAdapter, @unchecked Sendable {
    let broker: BrokerKind
    private let lock = NSLock()
    private var _orders: [BrokerOrder] = []
    private var _trades: [BrokerTrade] = []
    private var _positions: [BrokerPosition] = []
    private var _error: BrokerError?
    private var _delay: Duration = .zero
    private var _funds: [BrokerFunds] = []
    private var _fundsError: BrokerError?
    private(set) var seenCredentials: [String] = []

    init(_ broker: BrokerKind = .kite) { self.broker = broker }

    func set(orders: [BrokerOrder]? = nil, trades: [BrokerTrade]? = nil, positions: [BrokerPosition]? = nil) {
        lock.withLock {
            if let orders { _orders = orders }
            if let trades { _trades = trades }
            if let positions { _positions = positions }
        }
    }
    /// The positions the broker answers with now.
    var positionsReported: [BrokerPosition] { lock.withLock { _positions } }
    func fail(with error: BrokerError?) { lock.withLock { _error = error } }
    /// The funds the broker answers with now.
    func set(funds: [BrokerFunds]) { lock.withLock { _funds = funds } }
    /// An error for the funds call alone (the other calls answer as set); nil clears it.
    func failFunds(with error: BrokerError?) { lock.withLock { _fundsError = error } }
    func delay(_ d: Duration) { lock.withLock { _delay = d } }

    private func call(_ credentials: BrokerCredentials) async throws {
        let (error, delay) = lock.withLock { (_error, _delay) }
        let key = try credentials.withOpened { $0.apiKey }
        lock.withLock { seenCredentials.append(key) }
        if delay > .zero { try await Task.sleep(for: delay) }
        if let error { throw error }
    }

    func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder { fatalError("not used by sync") }
    func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        try await call(credentials)
        return lock.withLock { _orders.first { $0.clientOrderID == clientOrderID } }
    }
    func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws { try await call(credentials) }
    func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder { fatalError("not used by sync") }
    func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        try await call(credentials)
        return lock.withLock { _orders }
    }
    func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        try await call(credentials)
        let (funds, error) = lock.withLock { (_funds, _fundsError) }
        if let error { throw error }
        return funds
    }
    func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] { try await call(credentials); return [] }
    func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        try await call(credentials)
        // Like Kite: the day's trades every time; the cursor records the last fill time seen.
        let trades = lock.withLock { _trades }
        let last = trades.map(\.executedAt).max().map { String(Int64($0.timeIntervalSince1970)) } ?? cursor.values["last_fill"] ?? ""
        return TradeBatch(trades: trades, next: TradeCursor(["last_fill": last]))
    }
    func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] { try await call(credentials); return lock.withLock { _positions } }
}

/// A migrated database with one user and one broker account (sealed credentials), unique queues for
/// the sync's outputs, and a SyncConsumer over them.
struct SyncFixture {
    let db: TestDatabase
    let pool: PostgresPool
    let redis: RedisClient
    let keyring: SecretKeyring
    let account: UUID
    let user: UUID
    let broker: TestBroker
    let tradeEvents: String
    let notifications: String
    let secret = "s3cr3t-\(UUID().uuidString)"

    init(broker: TestBroker = TestBroker()) async throws {
        db = try TestDatabase(migrated: true, prefix: "tm_sync")
        pool = PostgresPool(configuration: db.configuration, size: 4)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        keyring = try SecretKeyring(current: try SecretKey.generate())
        self.broker = broker
        tradeEvents = TestServers.uniqueName("trade-events").replacingOccurrences(of: "_", with: "-")
        notifications = TestServers.uniqueName("notifications").replacingOccurrences(of: "_", with: "-")
        let conn = try db.connect()
        defer { conn.close() }
        user = try conn.query("INSERT INTO users (email, display_name) VALUES ('trader@test.local', 'Trader') RETURNING id").rows[0].decode("id")
        account = try AccountAdministration.add(conn, keyring: keyring, userEmail: "trader@test.local", broker: broker.broker, label: "main",
                                                credentials: .init(apiKey: "key-\(secret)", apiSecret: secret, accessToken: "token-\(secret)"))
    }

    var producer: QueueProducer {
        get throws { QueueProducer(redis: redis, catalog: try QueueCatalog([QueueManifest(name: tradeEvents), QueueManifest(name: notifications)])) }
    }

    func consumer() throws -> SyncConsumer {
        var consumer = SyncConsumer(pool: pool, redis: redis, producer: try producer, keyring: keyring) { [broker] _ in broker }
        consumer.tradeEventsQueue = tradeEvents
        consumer.notificationsQueue = notifications
        return consumer
    }

    /// A consumer that syncs the fixture's account through `adapter` (e.g. a real adapter against broker-sim).
    func consumer(adapter: any BrokerAdapter) throws -> SyncConsumer {
        var consumer = SyncConsumer(pool: pool, redis: redis, producer: try producer, keyring: keyring) { _ in adapter }
        consumer.tradeEventsQueue = tradeEvents
        consumer.notificationsQueue = notifications
        return consumer
    }

    /// The fixture account's credentials, as broker-sim must know them.
    var plainCredentials: BrokerCredentials { .plain(apiKey: "key-\(secret)", apiSecret: secret, accessToken: "token-\(secret)") }

    /// Syncs for `slot`; the default is a new slot every call (after any earlier sync), as each run of
    /// sync-trigger sends (a message for a slot the account was already synced after is skipped).
    /// `delivery` defaults to a new message's first delivery.
    func sync(slot: String = ISO8601DateFormatter().string(from: Date().addingTimeInterval(1)), consumer: SyncConsumer? = nil,
              delivery: MessageFence = MessageFence(queue: "broker-sync", messageID: UUID().uuidString, epoch: 1)) async throws -> SyncConsumer.Outcome {
        try await (consumer ?? self.consumer()).sync(SyncTrigger.Message(accountID: account, slot: slot), delivery: delivery,
                                                     logger: Logger(label: "test"))
    }

    func count(_ sql: String) throws -> Int {
        let conn = try db.connect()
        defer { conn.close() }
        return try conn.query(PostgresQuery(unsafeSQL: sql)).rows[0].decode(0, as: Int.self)
    }

    func streamLength(_ queue: String) async throws -> Int {
        Int(try await redis.send("XLEN", QueueKeys(queue: queue, shard: 0).stream).int ?? 0)
    }

    func cleanUp() async {
        _ = try? await redis.send("DEL", QueueKeys(queue: tradeEvents, shard: 0).stream, QueueKeys(queue: notifications, shard: 0).stream)
        await pool.shutdown()
        redis.close()
    }

    static func trade(_ id: String, order: String, quantity: Decimal, price: Decimal, fee: Decimal = 0, at seconds: Double = 1_795_330_000) -> BrokerTrade {
        BrokerTrade(brokerTradeID: id, brokerOrderID: order, symbol: "INFY", exchange: "NSE", side: .buy, quantity: quantity, price: price, fee: fee,
                    feeCurrency: "INR", executedAt: Date(timeIntervalSince1970: seconds))
    }

    static func order(_ id: String, client: String?, quantity: Decimal, filled: Decimal, average: Decimal?, status: BrokerOrderStatus) -> BrokerOrder {
        BrokerOrder(brokerOrderID: id, clientOrderID: client, symbol: "INFY", exchange: "NSE", side: .buy, type: .limit, quantity: quantity,
                    filledQuantity: filled, averagePrice: average, limitPrice: 1500, status: status)
    }
}

/// broker-sim as a process on a free port, for syncs through the real adapters.
struct BrokerSimServer {
    let process: ChildProcess
    /// e.g. `http://127.0.0.1:41234`; a broker's API is under `/<broker>`, the admin API under `/admin`.
    let base: String

    /// - Parameter arguments: more of broker-sim's options (e.g. `--no-rate-limits`).
    init(arguments: [String] = []) throws {
        let launched = try BrokerSimProcess(arguments: arguments)
        process = launched.process
        base = launched.base
    }

    /// Registers the fixture's account at the simulated broker.
    func add(_ f: SyncFixture, broker: BrokerKind) throws {
        let body = #"{"broker":"\#(broker.rawValue)","api_key":"key-\#(f.secret)","api_secret":"\#(f.secret)","access_token":"token-\#(f.secret)"}"#
        let response = try HTTPClient().send(HTTPRequest(.post, base + "/admin/accounts", body: .json(Data(body.utf8))))
        guard response.status == 200 || response.status == 201 else {
            throw SimulatorRefused(reason: "adding the account: HTTP \(response.status): \(String(decoding: response.body, as: UTF8.self))")
        }
    }

    func stop() { process.terminate(grace: .seconds(5)) }

    struct SimulatorRefused: Error, CustomStringConvertible {
        let reason: String
        var description: String { "broker-sim refused: \(reason)" }
    }
}
