import Foundation
import Logging
import TMBrokers
import TMCore
import TMCrypto
import TMPostgres
import TMQueue
import TMRedis

extension MarketDataService {
    /// The service as `tm market-data` runs it, from the environment: Postgres, Redis, the queue
    /// catalog, `Config/market-data.yaml` (+ `TM_PRICE_TTL`, `TM_MARKET_DATA_INTERVAL`), the brokers'
    /// base URLs and timeouts, and the secret keyring (without `TM_SECRET_KEY` only Binance's
    /// public tickers can be polled; the other brokers report why not).
    public static func open(environment: TMEnvironment = .current(), queue: String = MarketDataService.ticksQueue,
                            logger: Logger = Logger(label: "market-data"),
                            onMoved: (@Sendable ([PriceTick]) async -> Void)? = nil) async throws -> MarketDataService {
        let config = try MarketDataConfig.standard(environment: environment)
        let endpoints = try BrokerEndpoints.fromEnvironment(environment)
        let timeouts = try BrokerTimeouts.fromEnvironment(environment)
        let http = try BrokerAdapters.makeHTTPClient(timeouts: timeouts, lanes: 4)
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "market-data")
        let catalog = try QueueCatalog.load(environment: environment)
        _ = try catalog.manifest(queue)
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: 2)
        let keyring = environment[SecretKeyring.currentVariable] == nil ? nil : try SecretKeyring.fromEnvironment(environment)
        let providers = PriceProviders(pool: pool, redis: redis, keyring: keyring, accounts: config.accounts) { kind in
            BrokerAdapters.make(kind, endpoints: endpoints, http: http, timeouts: timeouts)
        }
        return MarketDataService(pool: pool, redis: redis, producer: QueueProducer(redis: redis, catalog: catalog), providers: providers,
                                 config: config, queue: queue, logger: logger, onMoved: onMoved)
    }
}
