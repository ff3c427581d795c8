// swift-tools-version: 6.1
// The background-job system of a multi-broker trading platform. See README.md and DESIGN.md.
import PackageDescription

/// Each C library is wrapped exactly once; only its wrapper module depends on the system target.
let package = Package(
    name: "TradingJobs",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tm", targets: ["tm"]),
        .library(name: "TMRedis", targets: ["TMRedis"]),
        .library(name: "TMPostgres", targets: ["TMPostgres"]),
        .library(name: "TMHTTP", targets: ["TMHTTP"]),
        .library(name: "TMCrypto", targets: ["TMCrypto"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Latency percentiles of the benchmarks only (never linked into tm or a function).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // C libraries (Debian: libhiredis-dev, libpq-dev, libcurl4-openssl-dev, libssl-dev).
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis"),
        .systemLibrary(name: "CLibpq", path: "Sources/CLibpq"),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),

        // Shared plumbing with no C dependency: configuration, blocking-work threads.
        .target(name: "TMCore", dependencies: [.product(name: "Logging", package: "swift-log")]),

        // One thin wrapper per C library.
        .target(name: "TMRedis", dependencies: ["CHiredis", "TMCore"]),
        .target(name: "TMPostgres", dependencies: ["CLibpq", "TMCore"]),
        .target(name: "TMHTTP", dependencies: ["CCurl", "TMCore"]),
        .target(name: "TMCrypto", dependencies: ["COpenSSL", "TMCore"]),

        // Distributed locks with fencing tokens checked by guarded Postgres writes.
        .target(name: "TMLocks", dependencies: ["TMRedis", "TMPostgres", "TMCrypto", "TMCore"]),

        // YAML manifests (queues, functions, schedules): typed fields, errors naming field and reason.
        .target(name: "TMManifest", dependencies: ["TMCore", .product(name: "Yams", package: "Yams")]),

        // Queues on Redis Streams: manifests, idempotent enqueue, consumers, retries, dead letters.
        .target(name: "TMQueue", dependencies: ["TMRedis", "TMCrypto", "TMCore", "TMManifest"]),

        // The function side of the invocation protocol: what every function executable links.
        .target(name: "TMFunctionRuntime", dependencies: ["TMCore", .product(name: "Logging", package: "swift-log")]),

        // Functions: manifests, invokers (cold, warm), reserved concurrency, the dispatcher.
        .target(
            name: "TMFunctions",
            dependencies: ["TMFunctionRuntime", "TMQueue", "TMRedis", "TMPostgres", "TMManifest", "TMCore", .product(name: "Logging", package: "swift-log")]
        ),

        // Schedule expressions (five-field cron, rate(...), macros) evaluated in IANA time zones; pure Foundation.
        .target(name: "TMCron"),

        // Brokers: the adapter protocol and model, the Kite/Upstox/Alpaca/Binance adapters, shared rate limits and circuit breakers.
        .target(name: "TMBrokers", dependencies: ["TMHTTP", "TMCrypto", "TMRedis", "TMCore", .product(name: "Logging", package: "swift-log")]),

        // Broker sync: the sync-trigger and sync-consumer logic (the functions' main.swift only wire it).
        .target(
            name: "TMSync",
            dependencies: ["TMBrokers", "TMNotify", "TMFunctionRuntime", "TMQueue", "TMLocks", "TMDatabase", "TMPostgres", "TMRedis", "TMCrypto", "TMCore", .product(name: "Logging", package: "swift-log")]
        ),
        // The pre-trade risk engine: pure checks on an account's state in memory.
        .target(name: "TMRisk", dependencies: ["TMBrokers", "TMCore"]),
        // The order router: scores the brokers an order could go to and splits large orders; its live
        // inputs (call health per broker, fee schedules, Config/routing.yaml).
        .target(name: "TMRouting", dependencies: ["TMBrokers", "TMManifest", "TMCore"]),
        // The order path: the order state machine and the `orders` queue's messages (pure); intake
        // (checks against the database, then the enqueue) and the operator views.
        .target(name: "TMOrders", dependencies: ["TMBrokers", "TMRisk", "TMRouting", "TMSync", "TMNotify", "TMMarketData", "TMLocks", "TMPostgres", "TMQueue", "TMRedis", "TMCrypto", "TMFunctionRuntime", "TMCore", .product(name: "Logging", package: "swift-log")]),
        // Notifications: the outbox every producer writes through, the notifier's channels and deliveries.
        .target(name: "TMNotify", dependencies: ["TMPostgres", "TMQueue", "TMHTTP", "TMCrypto", "TMRedis", "TMManifest", "TMFunctionRuntime", "TMCore", .product(name: "Logging", package: "swift-log")]),
        // Market data: the latest prices from the brokers into the price cache and `market-ticks`.
        .target(name: "TMMarketData", dependencies: ["TMBrokers", "TMRisk", "TMSync", "TMManifest", "TMQueue", "TMRedis", "TMPostgres", "TMCrypto", "TMCore", .product(name: "Logging", package: "swift-log")]),
        // Alerts: price alerts on ticks, limit alerts and the escalation of unacknowledged alerts.
        .target(name: "TMAlerts", dependencies: ["TMNotify", "TMMarketData", "TMOrders", "TMRisk", "TMQueue", "TMRedis", "TMPostgres", "TMFunctionRuntime", "TMCore", .product(name: "Logging", package: "swift-log")]),
        // Live portfolio values in Redis and the daily snapshots.
        .target(name: "TMPortfolio", dependencies: ["TMMarketData", "TMRisk", "TMSync", "TMQueue", "TMRedis", "TMPostgres", "TMFunctionRuntime", "TMCore", .product(name: "Logging", package: "swift-log")]),
        // Analytics: FIFO matching and performance metrics per user, the nightly run and the fresh-within-seconds refresh.
        .target(name: "TMAnalytics", dependencies: ["TMMarketData", "TMRisk", "TMSync", "TMBrokers", "TMLocks", "TMQueue", "TMRedis", "TMPostgres", "TMFunctionRuntime", "TMCore", .product(name: "Logging", package: "swift-log")]),
        // The broker simulator: Kite, Upstox, Alpaca and Binance wire formats over one in-memory exchange, with fault injection.
        .target(name: "TMBrokerSim", dependencies: ["TMCrypto", "TMCore", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "broker-sim", dependencies: ["TMBrokerSim", "TMCore", .product(name: "Logging", package: "swift-log")]),

        // Schema and migrations of the trading domain.
        .target(
            name: "TMDatabase",
            dependencies: ["TMPostgres", "TMCrypto", "TMCore"],
            resources: [.copy("Migrations")]
        ),

        // The leader-elected scheduler: Schedules/*.yaml fired exactly once per slot onto queues.
        .target(
            name: "TMScheduler",
            dependencies: [
                "TMCron", "TMQueue", "TMManifest", "TMLocks", "TMRedis", "TMPostgres", "TMCore",
                .product(name: "Yams", package: "Yams"), .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Executables.
        .executableTarget(
            name: "tm",
            dependencies: [
                "TMCore", "TMRedis", "TMPostgres", "TMHTTP", "TMCrypto", "TMDatabase", "TMQueue", "TMLocks", "TMFunctions",
                "TMFunctionRuntime", "TMCron", "TMScheduler", "TMBrokers", "TMSync", "TMOrders", "TMNotify", "TMMarketData", "TMAlerts", "TMPortfolio", "TMAnalytics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Function executables: each main.swift only wires a library handler to the invocation protocol.
        .executableTarget(name: "sync-trigger", dependencies: ["TMSync", "TMBrokers", "TMFunctionRuntime", "TMCore"], path: "Functions/sync-trigger", exclude: ["function.yaml"]),
        .executableTarget(name: "order-placer", dependencies: ["TMOrders", "TMFunctionRuntime", "TMCore"], path: "Functions/order-placer", exclude: ["function.yaml"]),
        .executableTarget(name: "sync-consumer", dependencies: ["TMSync", "TMBrokers", "TMFunctionRuntime", "TMCore"], path: "Functions/sync-consumer", exclude: ["function.yaml"]),
        .executableTarget(name: "portfolio-valuer", dependencies: ["TMPortfolio", "TMFunctionRuntime", "TMCore"], path: "Functions/portfolio-valuer", exclude: ["function.yaml"]),
        .executableTarget(name: "notifier", dependencies: ["TMNotify", "TMFunctionRuntime", "TMCore"], path: "Functions/notifier", exclude: ["function.yaml"]),
        .executableTarget(name: "trade-notifier", dependencies: ["TMNotify", "TMFunctionRuntime", "TMPostgres", "TMQueue", "TMRedis", "TMCore"], path: "Functions/trade-notifier", exclude: ["function.yaml"]),
        .executableTarget(name: "alert-evaluator", dependencies: ["TMAlerts", "TMFunctionRuntime", "TMCore"], path: "Functions/alert-evaluator", exclude: ["function.yaml"]),
        .executableTarget(name: "analytics-batch", dependencies: ["TMAnalytics", "TMFunctionRuntime", "TMCore"], path: "Functions/analytics-batch", exclude: ["function.yaml"]),
        .executableTarget(name: "analytics-refresh", dependencies: ["TMAnalytics", "TMFunctionRuntime", "TMCore"], path: "Functions/analytics-refresh", exclude: ["function.yaml"]),
        .executableTarget(name: "tm-bench", dependencies: ["TMCore", "TMRedis", "TMPostgres", "TMOrders", "TMHTTP", "BenchFixtures"]),
        // What the benchmarks share: latency percentiles (p50/p99/p99.9) from an HdrHistogram.
        .target(name: "BenchSupport", dependencies: [.product(name: "Histogram", package: "hdrhistogram-swift")], path: "Benchmarks/BenchSupport"),
        // What the benchmarks against brokers share: broker-sim next to the binary, a scratch database migrated.
        .target(name: "BenchFixtures", dependencies: ["TMCore", "TMDatabase", "TMHTTP", "TMPostgres"], path: "Benchmarks/BenchFixtures"),
        .executableTarget(name: "queue-bench", dependencies: ["TMQueue", "TMRedis", "TMCore", "BenchSupport"], path: "Benchmarks/QueueBench"),
        .executableTarget(
            name: "sync-bench",
            dependencies: ["TMSync", "TMBrokers", "TMFunctions", "TMQueue", "TMRedis", "TMPostgres", "TMDatabase", "TMCrypto", "TMHTTP", "TMCore",
                           "BenchFixtures", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/SyncBench"
        ),
        .executableTarget(name: "risk-bench", dependencies: ["TMOrders", "TMRisk", "TMRouting", "TMBrokers", "TMCore", .product(name: "Histogram", package: "hdrhistogram-swift")],
                          path: "Benchmarks/RiskBench", exclude: ["PROFILE.md"]),
        .executableTarget(
            name: "order-bench",
            dependencies: ["TMOrders", "TMSync", "TMBrokers", "TMFunctionRuntime", "TMQueue", "TMRedis", "TMPostgres", "TMDatabase", "TMCrypto",
                           "TMHTTP", "TMRisk", "TMRouting", "TMCore", "BenchFixtures", "BenchSupport", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/OrderBench"
        ),
        .executableTarget(
            name: "alert-bench",
            dependencies: ["TMAlerts", "TMMarketData", "TMFunctions", "TMQueue", "TMRedis", "TMPostgres", "TMCore", "BenchFixtures", "BenchSupport",
                           .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/AlertBench"
        ),
        .executableTarget(
            name: "analytics-bench",
            dependencies: ["TMAnalytics", "TMFunctions", "TMQueue", "TMRedis", "TMPostgres", "TMCore", "BenchFixtures", "BenchSupport",
                           .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/AnalyticsBench"
        ),
        .executableTarget(
            name: "function-bench",
            dependencies: ["TMFunctions", "TMFunctionRuntime", "TMQueue", "TMRedis", "TMCore", "BenchSupport", "BenchFixtures"],
            path: "Benchmarks/FunctionBench"
        ),

        // Tests run against real servers; TestSupport starts throwaway ones where a test must kill them.
        .target(name: "TestSupport", dependencies: ["TMCore", "TMPostgres", "TMDatabase"], path: "Tests/TestSupport"),
        .testTarget(name: "TMCoreTests", dependencies: ["TMCore", "TestSupport"]),
        .testTarget(name: "TMCronTests", dependencies: ["TMCron"]),
        .testTarget(name: "TMRedisTests", dependencies: ["TMRedis", "TestSupport"]),
        .testTarget(name: "TMPostgresTests", dependencies: ["TMPostgres", "TestSupport"]),
        .testTarget(name: "TMHTTPTests", dependencies: ["TMHTTP", "TestSupport"]),
        .testTarget(name: "TMCryptoTests", dependencies: ["TMCrypto", "TestSupport"]),
        .executableTarget(
            name: "queue-test-worker",
            dependencies: ["TMQueue", "TMLocks", "TMPostgres", "TMRedis", "TMCore"],
            path: "Tests/QueueTestWorker"
        ),
        .testTarget(name: "TMQueueTests", dependencies: ["TMQueue", "TMRedis", "TMPostgres", "TestSupport", "queue-test-worker"]),
        .executableTarget(name: "test-function", dependencies: ["TMFunctionRuntime"], path: "Tests/TestFunction"),
        .testTarget(
            name: "TMFunctionsTests",
            dependencies: ["TMFunctions", "TMFunctionRuntime", "TMQueue", "TMRedis", "TMPostgres", "TMDatabase", "TestSupport", "test-function", "tm"]
        ),
        .executableTarget(name: "rate-limit-probe", dependencies: ["TMBrokers", "TMRedis"], path: "Tests/RateLimitProbe"),
        .testTarget(name: "TMBrokerResilienceTests", dependencies: ["TMBrokers", "TMRedis", "TMCore", "TestSupport", "rate-limit-probe"]),
        .testTarget(
            name: "TMSyncTests",
            dependencies: [
                "TMSync", "TMBrokers", "TMLocks", "TMDatabase", "TMPostgres", "TMRedis", "TMQueue", "TMCrypto", "TMHTTP", "TestSupport",
                .product(name: "Logging", package: "swift-log"), "tm", "broker-sim", "sync-trigger", "sync-consumer",
            ]
        ),
        .testTarget(name: "TMRoutingTests", dependencies: ["TMRouting", "TMBrokers", "TMManifest", "TMCore"]),
        .testTarget(name: "TMOrdersTests", dependencies: ["TMOrders", "TMMarketData", "TMBrokers", "TMCore", "TMPostgres", "TMQueue", "TMRedis", "TMCrypto", "TMHTTP", "TMSync", "TMRisk", "TMRouting", "TestSupport", "tm"]),
        .testTarget(name: "TMNotifyTests", dependencies: ["TMNotify", "TMPostgres", "TMQueue", "TMRedis", "TMHTTP", "TMCrypto", "TMCore", "TestSupport", "tm", "notifier"]),
        .testTarget(name: "TMMarketDataTests", dependencies: ["TMMarketData", "TMPortfolio", "TMRisk", "TMBrokers", "TMBrokerSim", "TMSync", "TMCrypto", "TMQueue", "TMRedis", "TMPostgres", "TMHTTP", "TMCore", "TestSupport", "tm", "broker-sim"]),
        .testTarget(name: "TMAlertsTests", dependencies: ["TMAlerts", "TMNotify", "TMMarketData", "TMOrders", "TMRisk", "TMQueue", "TMRedis", "TMPostgres", "TMCore", "TestSupport", "tm", "alert-evaluator"]),
        .testTarget(name: "TMPortfolioTests", dependencies: ["TMPortfolio", "TMMarketData", "TMFunctionRuntime", "TMQueue", "TMRedis", "TMPostgres", "TMCore", "TestSupport", "tm"]),
        .testTarget(name: "TMAnalyticsTests", dependencies: ["TMAnalytics", "TMMarketData", "TMFunctionRuntime", "TMQueue", "TMRedis", "TMPostgres", "TMCore", "TestSupport", "tm", "analytics-batch", "analytics-refresh"]),
        .testTarget(name: "TMRiskTests", dependencies: ["TMRisk", "TMBrokers", "TMCore"]),
        .testTarget(name: "TMBrokersTests", dependencies: ["TMBrokers", "TMHTTP", "TMCrypto", "TestSupport", "TMBrokerSim"], exclude: ["Fixtures"]),
        .testTarget(name: "BrokerSimTests", dependencies: ["TMBrokerSim", "TMCore", "TMHTTP", "TMCrypto", "TestSupport"]),
        .testTarget(name: "TMLocksTests", dependencies: ["TMLocks", "TMPostgres", "TMRedis", "TestSupport"]),
        .testTarget(
            name: "RedisClusterTests",
            dependencies: ["TMQueue", "TMLocks", "TMBrokers", "TMFunctions", "TMScheduler", "TMRedis", "TMCore", "TestSupport"]
        ),
        .testTarget(
            name: "TMDatabaseTests",
            dependencies: ["TMDatabase", "TMPostgres", "TMCrypto", "TMRedis", "TMQueue", "TMCore", "TestSupport", "tm"]
        ),
        .testTarget(
            name: "TMSchedulerTests",
            dependencies: ["TMScheduler", "TMCron", "TMQueue", "TMRedis", "TMPostgres", "TMLocks", "TMCore", "TestSupport", "tm"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
