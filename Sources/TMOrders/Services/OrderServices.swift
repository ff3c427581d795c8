import Foundation
import Logging
import TMBrokers
import TMCore
import TMCrypto
import TMMarketData
import TMPostgres
import TMQueue
import TMRedis
import TMSync

/// What the order path needs, opened once per process from the environment: Postgres, Redis, the
/// queues, the secret keyring (to open the accounts' credentials) and the brokers' adapters.
/// The resident `order-worker` and the cold `order-placer` both start here.
public struct OrderServices: Sendable {
    public let environment: TMEnvironment
    public let pool: PostgresPool
    public let redis: RedisClient
    public let redisConfiguration: RedisConfiguration
    public let catalog: QueueCatalog
    public let producer: QueueProducer
    public let keyring: SecretKeyring
    public let makeAdapter: @Sendable (BrokerKind) -> any BrokerAdapter
    public let timeouts: BrokerTimeouts
    /// Threads running each broker call's admission and its request in one job (beside `http`'s lanes).
    public let lanes: BrokerLanes

    public static func open(environment: TMEnvironment = .current(), poolSize: Int = 8) async throws -> OrderServices {
        let endpoints = try BrokerEndpoints.fromEnvironment(environment)
        let timeouts = try BrokerTimeouts.fromEnvironment(environment)
        // One HTTP client (kept-alive connections, several lanes) serves every broker for the process's life.
        let http = try BrokerAdapters.makeHTTPClient(timeouts: timeouts, lanes: 16)
        let redisConfiguration = try RedisConfiguration.fromEnvironment(environment)
        let redis = try await RedisClient(configuration: redisConfiguration, name: "orders")
        let lanes = try BrokerLanes(sharing: http, redis: redisConfiguration, lanes: 16)
        let catalog = try QueueCatalog.load(environment: environment)
        return OrderServices(
            environment: environment, pool: PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: poolSize),
            redis: redis, redisConfiguration: redisConfiguration, catalog: catalog, producer: QueueProducer(redis: redis, catalog: catalog),
            keyring: try SecretKeyring.fromEnvironment(environment), makeAdapter: { BrokerAdapters.make($0, endpoints: endpoints, http: http, timeouts: timeouts) },
            timeouts: timeouts, lanes: lanes)
    }

    public func gateway(observe: (@Sendable (BrokerKind, Duration, Bool) -> Void)? = nil) -> BrokerGateway {
        BrokerGateway(keyring: keyring, redis: redis, makeAdapter: makeAdapter, observe: observe, lanes: lanes)
    }

    public func placer(risk: any RiskGate, routes: any RouteSource, logger: Logger) -> OrderPlacer {
        OrderPlacer(pool: pool, risk: risk, routes: routes, gateway: gateway(observe: { routes.record(broker: $0, latency: $1, failed: $2) }),
                    producer: producer, prices: CachedMarketPrices(cache: PriceCache(redis: redis), logger: logger),
                    settings: OrderPlacer.Settings(brokerTimeout: timeouts.total), logger: logger)
    }

    public var outbox: TradeEventOutbox { TradeEventOutbox(pool: pool, producer: producer) }
}
