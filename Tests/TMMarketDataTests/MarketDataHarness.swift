import Foundation
import Logging
import TestSupport
import TMBrokers
import TMCore
import TMCrypto
import TMHTTP
import TMMarketData
import TMPostgres
import TMQueue
import TMRedis
import TMSync

/// A clock a test moves by hand (Unix ms).
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var ms: Int64
    init(_ start: Int64 = 1_796_000_000_000) { ms = start }
    var now: Int64 { lock.withLock { ms } }
    func advance(_ by: Int64) { lock.withLock { ms += by } }
}

/// Everything real: broker-sim (with the demo accounts) as a child process, a migrated database
/// with one user, the demo credentials sealed into broker accounts, Redis, and a `market-ticks`
/// queue of its own (the same manifest under a unique name).
final class MarketDataHarness: @unchecked Sendable {
    let sim: BrokerSimProcess
    let database: TestDatabase
    let db: PostgresConnection
    let pool: PostgresPool
    let redis: RedisClient
    let keyring: SecretKeyring
    let secretKey: String
    let queue: String
    let queueDirectory: URL
    let catalog: QueueCatalog
    let http: AsyncHTTPClient
    let clock = ManualClock()
    let user = UUID()
    var accounts: [BrokerKind: UUID] = [:]

    /// The demo credentials broker-sim `--demo` knows.
    static let demo: [(BrokerKind, String, String, String?)] = [
        (.kite, "demo_kite_key_asha", "demo_kite_secret_asha", "demo_kite_token_asha"),
        (.upstox, "demo_upstox_key_asha", "demo_upstox_secret_asha", "demo_upstox_token_asha"),
        (.alpaca, "DEMOALPACAKEYBEN", "demo_alpaca_secret_ben", nil),
        (.binance, "demo_binance_key_ben", "demo_binance_secret_ben", nil),
    ]

    /// `simArguments`: broker-sim's options (by default without its rate limits).
    init(brokers: [BrokerKind] = [.kite, .upstox, .alpaca, .binance], simArguments: [String] = ["--demo", "--no-rate-limits"]) async throws {
        sim = try BrokerSimProcess(arguments: simArguments)
        database = try TestDatabase(migrated: true, prefix: "tm_md")
        db = try database.connect()
        pool = PostgresPool(configuration: database.configuration, size: 2)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        let key = try SecretKey.generate()
        secretKey = key.exportBase64()
        keyring = try SecretKeyring(current: key)
        http = try AsyncHTTPClient(configuration: HTTPClient.Configuration(proxy: .none), lanes: 4, name: "md-test")

        queue = TestServers.uniqueName("ticks").replacingOccurrences(of: "_", with: "-")
        queueDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(queue)
        try FileManager.default.createDirectory(at: queueDirectory, withIntermediateDirectories: true)
        let manifest = try String(contentsOf: TestServers.repositoryRoot.appendingPathComponent("Queues/market-ticks.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "name: market-ticks", with: "name: \(queue)")
        try manifest.write(to: queueDirectory.appendingPathComponent("\(queue).yaml"), atomically: true, encoding: .utf8)
        catalog = try QueueCatalog.load(directory: queueDirectory)

        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'md@test.local')")
        for (broker, apiKey, secret, token) in Self.demo where brokers.contains(broker) {
            accounts[broker] = try AccountAdministration.add(db, keyring: keyring, userEmail: "md@test.local", broker: broker, label: "main",
                                                             credentials: .init(apiKey: apiKey, apiSecret: secret, accessToken: token))
        }
        try db.execute("""
            INSERT INTO instruments (exchange, symbol, tick_size, broker_tokens) VALUES
              ('NSE', 'INFY', 0.05, '{"upstox": "NSE_EQ|INE009A01021"}'), ('NSE', 'TCS', 0.05, '{"upstox": "NSE_EQ|INE467B01029"}'),
              ('NSE', 'SBIN', 0.05, '{"upstox": "NSE_EQ|INE062A01020"}')
            """)
        // Each test starts with a closed circuit per broker and none of these instruments cached.
        for broker in BrokerKind.allCases { _ = try await redis.send("DEL", "tm:{cb:\(broker.rawValue)}") }
        for key in ["INFY:NSE", "TCS:NSE", "SBIN:NSE", "RELIANCE:NSE", "HDFCBANK:NSE", "NOPE:NSE", "AAPL:NASDAQ", "MSFT:NASDAQ", "BTCUSDT:BINANCE",
                    "ETHUSDT:BINANCE"] {
            _ = try await redis.send("DEL", "price:\(key)")
        }
    }

    var endpoints: BrokerEndpoints { .simulator(port: sim.port) }

    func service(config: MarketDataConfig = .defaults, onMoved: (@Sendable ([PriceTick]) async -> Void)? = nil) -> MarketDataService {
        let (endpoints, http) = (self.endpoints, self.http)
        let providers = PriceProviders(pool: pool, redis: redis, keyring: keyring, accounts: config.accounts) { kind in
            BrokerAdapters.make(kind, endpoints: endpoints, http: http)
        }
        let clock = self.clock
        return MarketDataService(pool: pool, redis: redis, producer: QueueProducer(redis: redis, catalog: catalog), providers: providers,
                                 config: config, queue: queue, logger: Logger(label: "md-test"), now: { clock.now }, onMoved: onMoved)
    }

    /// A plain adapter of `broker` on the simulator, as a price source.
    func source(_ broker: BrokerKind) -> any LastPriceSource {
        BrokerAdapters.make(broker, endpoints: endpoints, http: http) as! any LastPriceSource
    }

    func credentials(_ broker: BrokerKind) -> BrokerCredentials {
        let demo = Self.demo.first { $0.0 == broker }!
        return .plain(apiKey: demo.1, apiSecret: demo.2, accessToken: demo.3)
    }

    @discardableResult
    func admin(_ method: HTTPMethod, _ path: String, _ body: String? = nil) throws -> String {
        let response = try HTTPClient(configuration: HTTPClient.Configuration(proxy: .none))
            .send(HTTPRequest(method, sim.base + "/admin" + path, body: body.map { .json(Data($0.utf8)) } ?? .none))
        let text = String(decoding: response.body, as: UTF8.self)
        guard response.status == 200 else { throw Timeout(what: "admin \(path) answered \(response.status): \(text)") }
        return text
    }

    /// What broker-sim counted for `broker`: per "METHOD /path", requests answered and refused with a 429.
    func requests(_ broker: BrokerKind) throws -> [String: (answered: Int, rateLimited: Int)] {
        let text = try HTTPClient(configuration: HTTPClient.Configuration(proxy: .none))
            .send(HTTPRequest(.get, sim.base + "/admin/requests?broker=\(broker.rawValue)")).text ?? ""
        var out: [String: (answered: Int, rateLimited: Int)] = [:]
        for (endpoint, count) in try JSONValue.parse(text).objectFields ?? [] {
            out[endpoint] = (count["answered"]?.intValue ?? -1, count["rate_limited"]?.intValue ?? -1)
        }
        return out
    }

    func pin(_ broker: BrokerKind, _ symbol: String, _ price: String) throws {
        try admin(.post, "/prices", #"{"broker":"\#(broker.rawValue)","symbol":"\#(symbol)","price":"\#(price)"}"#)
    }

    func watch(_ symbol: String, _ exchange: String, state: String = "active", expiresInSeconds: Int? = nil) throws {
        try db.execute("""
            INSERT INTO price_alerts (user_id, symbol, exchange, condition, threshold, state, expires_at)
            VALUES (\(user), \(symbol), \(exchange), 'above', 999999, \(state), now() + make_interval(secs => \(expiresInSeconds ?? 86_400)))
            """)
    }

    /// The payloads on the test's ticks queue, oldest first.
    func ticks() async throws -> [PriceTick] {
        let entries = try await redis.send("XRANGE", QueueKeys(queue: queue, shard: 0).stream, "-", "+").array ?? []
        return try entries.compactMap { entry -> PriceTick? in
            guard let fields = entry.array?.last?.array else { return nil }
            var iterator = fields.makeIterator()
            while let name = iterator.next(), let value = iterator.next() {
                if name.string == "payload", let text = value.string { return try PriceTick.decode(Array(text.utf8)) }
            }
            return nil
        }
    }

    /// Runs `tm` against this harness's servers.
    func tm(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = database.url
        environment["TM_QUEUES_DIR"] = queueDirectory.path
        environment["TM_FUNCTIONS_DIR"] = queueDirectory.path
        environment["TM_CONFIG_DIR"] = queueDirectory.path
        return try await runProcess(TestServers.productsDirectory.appendingPathComponent("tm").path, arguments, environment: environment)
    }

    func cleanUp() async {
        sim.stop()
        db.close()
        await pool.shutdown()
        redis.close()
        http.shutdown()
        database.drop()
    }
}
