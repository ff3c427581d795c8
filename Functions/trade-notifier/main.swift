// trade-notifier: wires TradeConfirmations (Sources/TMNotify) to the invocation protocol.
import TMCore
import TMFunctionRuntime
import TMNotify
import TMPostgres
import TMQueue
import TMRedis

let environment = TMEnvironment.current()
let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "trade-notifier")
let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: 2)
let producer = QueueProducer(redis: redis, catalog: try QueueCatalog.load(environment: environment))
await FunctionMain.run(TradeNotifierFunction(confirmations: TradeConfirmations(pool: pool, producer: producer)))
