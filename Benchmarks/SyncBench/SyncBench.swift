// sync-bench: accounts synced per minute through the real path — sync-trigger's pass, the broker-sync
// queue, the dispatcher running the sync-consumer executable (warm), the adapters over libcurl to
// broker-sim adding 50 ms per call, and Postgres — for 1,000 accounts with 50 trades each.
//
//   sync-bench [--accounts 1000] [--trades 50] [--latency-ms 50] [--concurrency 8,16] [--batch 4] [--json PATH]
//
// Needs TM_REDIS_URL and TM_DATABASE_URL (or TM_ENV_FILE; `make bench` uses the test servers): it
// creates its own database (dropped at the end) and uses Redis database 9. broker-sim and
// sync-consumer must sit next to this binary.
import BenchFixtures
import Foundation
import Logging
import TMBrokers
import TMCore
import TMCrypto
import TMDatabase
import TMFunctions
import TMHTTP
import TMPostgres
import TMQueue
import TMRedis
import TMSync

struct Run: Codable {
    var concurrency: Int
    var batch: Int
    var accounts: Int
    var seconds: Double
    var accountsPerMinute: Double
    var tradesCreated: Int
    var syncP50Millis: Double
    var syncP99Millis: Double
}

@main
enum SyncBench {
    static let usage = """
        sync-bench [--accounts 1000] [--trades 50] [--latency-ms 50] [--concurrency 8,16] [--batch 4] [--json PATH]
        Needs TM_REDIS_URL and TM_DATABASE_URL (or TM_ENV_FILE); broker-sim and sync-consumer next to this binary.
        """

    static func main() async {
        await BenchCommand.run("sync-bench", usage: usage) { try await run() }
    }

    static func run() async throws {
        setenv("TM_LOG_LEVEL", "error", 0)
        JSONLogHandler.bootstrap()


        let accounts = option("--accounts", 1000)
        let tradesPerAccount = option("--trades", 50)
        let latency = option("--latency-ms", 50)
        let concurrencies = option("--concurrency", [8, 16])
        let batch = option("--batch", 4)
        let jsonPath = option("--json", "bench-results/sync.json")
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let environment = TMEnvironment.current()

        // --- broker-sim, on a free port, 50 ms per call, no broker rate limits (each account has its own key anyway);
        // a database of its own, migrated, with the accounts (sealed credentials).
        let sim = try BenchBrokerSim(arguments: ["--latency-ms", "\(latency)", "--no-rate-limits"])
        defer { sim.stop() }
        let simURL = sim.url
        let post = sim.post
        let database = try BenchDatabase(prefix: "tm_sync_bench", environment: environment)
        defer { database.drop() }
        let benchDB = database.configuration
        let db = try PostgresConnection(configuration: benchDB)
        let key = try SecretKey.generate()
        let keyring = try SecretKeyring(current: key)
        try db.execute("INSERT INTO users (email, display_name) VALUES ('bench@test.local', 'Bench')")
        let brokers: [(BrokerKind, [String])] = [(.kite, ["INFY", "TCS"]), (.upstox, ["NSE_EQ|INE009A01021"]), (.alpaca, ["AAPL", "MSFT"])]
        let setupStarted = ContinuousClock.now
        for i in 0..<accounts {
            let (broker, symbols) = brokers[i % brokers.count]
            let apiKey = "bench-\(broker.rawValue)-\(i)"
            try post("/admin/accounts", #"{"broker":"\#(broker.rawValue)","api_key":"\#(apiKey)","api_secret":"secret-\#(i)","access_token":"token-\#(i)"}"#)
            try post("/admin/seed-trades", #"{"broker":"\#(broker.rawValue)","api_key":"\#(apiKey)","count":\#(tradesPerAccount),"symbols":\#(String(decoding: try JSONEncoder().encode(symbols), as: UTF8.self))}"#)
            _ = try AccountAdministration.add(db, keyring: keyring, userEmail: "bench@test.local", broker: broker, label: "acct-\(i)",
                                              credentials: .init(apiKey: apiKey, apiSecret: "secret-\(i)", accessToken: "token-\(i)"))
        }
        print("set up \(accounts) accounts × \(tradesPerAccount) trades (kite, upstox, alpaca) at broker-sim +\(latency) ms/call in \(ContinuousClock.now - setupStarted)")

        // --- the system's configuration for the function processes.
        var redisURL = try RedisConfiguration.fromEnvironment(environment)
        redisURL.database = 9
        var functionEnvironment = ProcessInfo.processInfo.environment.merging(environment.values) { _, new in new }
        functionEnvironment["TM_DATABASE_URL"] = database.url
        functionEnvironment["TM_REDIS_URL"] = redisURL.url
        functionEnvironment["TM_SECRET_KEY"] = key.exportBase64()
        functionEnvironment["TM_LOG_LEVEL"] = "error"
        for (variable, prefix) in [("TM_KITE_BASE_URL", "kite"), ("TM_UPSTOX_BASE_URL", "upstox"), ("TM_UPSTOX_ORDER_BASE_URL", "upstox"),
                                   ("TM_ALPACA_BASE_URL", "alpaca"), ("TM_BINANCE_BASE_URL", "binance")] {
            functionEnvironment[variable] = "\(simURL)/\(prefix)"
        }
        let redis = try await RedisClient(configuration: redisURL)
        let queues = try QueueCatalog.load(environment: environment)

        var runs: [Run] = []
        for concurrency in concurrencies {
            try await redis.send("FLUSHDB")
            try db.execute("TRUNCATE trades, positions, sync_logs")
            try db.execute("UPDATE broker_accounts SET next_sync_at = now() - interval '1 minute', sync_cursor = '{}', last_sync_at = NULL")
            var manifest = try FunctionCatalog.parse(String(contentsOfFile: "Functions/sync-consumer/function.yaml", encoding: .utf8), file: "Functions/sync-consumer/function.yaml")
            manifest.reservedConcurrency = concurrency
            manifest.batchSize = batch
            let launch = FunctionLaunch(manifest: manifest, executablePath: bin.appendingPathComponent("sync-consumer").path, baseEnvironment: functionEnvironment)
            var options = Dispatcher.Options()
            options.blockTimeout = .milliseconds(200)
            let dispatcher = try Dispatcher(functions: try FunctionCatalog([manifest]), queues: queues, invokers: [manifest.name: WarmPool(launch)],
                                            redis: redis, redisConfiguration: redisURL, log: nil, options: options)
            let task = Task { try await dispatcher.run() }
            let started = ContinuousClock.now
            // The trigger's pass: every account is due.
            let pool = PostgresPool(configuration: benchDB, size: 2)
            let trigger = SyncTrigger(pool: pool, producer: QueueProducer(redis: redis, catalog: queues))
            let report = try await trigger.run(slot: Date(), logger: Logger(label: "bench"))
            precondition(report.enqueued == accounts, "trigger enqueued \(report.enqueued) of \(accounts)")
            var done = 0
            while done < accounts {
                try await Task.sleep(for: .milliseconds(100))
                done = try db.query("SELECT count(*)::int AS n FROM sync_logs WHERE outcome IS NOT NULL").rows[0].decode("n")
            }
            let elapsed = ContinuousClock.now - started
            dispatcher.stop()
            _ = try? await task.value
            await pool.shutdown()
            let failed: Int = try db.query("SELECT count(*)::int AS n FROM sync_logs WHERE outcome <> 'ok'").rows[0].decode("n")
            let trades: Int = try db.query("SELECT count(*)::int AS n FROM trades").rows[0].decode("n")
            let p: PostgresRow = try db.query("""
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::float8 AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms)::float8 AS p99 FROM sync_logs
                """).rows[0]
            let seconds = elapsed.seconds
            let run = Run(concurrency: concurrency, batch: batch, accounts: accounts, seconds: seconds, accountsPerMinute: Double(accounts) / seconds * 60,
                          tradesCreated: trades, syncP50Millis: try p.decode("p50"), syncP99Millis: try p.decode("p99"))
            runs.append(run)
            print(String(format: "reserved concurrency %2d × batch %d (%3d syncs at once): %4d accounts in %5.1f s = %6.0f accounts/min; %d trades; sync p50 %4.0f ms, p99 %4.0f ms; failed %d",
                         concurrency, batch, concurrency * batch, accounts, seconds, run.accountsPerMinute, trades, run.syncP50Millis, run.syncP99Millis, failed))
        }
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: jsonPath).deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(["date": ISO8601DateFormatter().string(from: Date()), "host": ProcessInfo.processInfo.hostName]).write(to: URL(fileURLWithPath: jsonPath + ".meta"))
        try encoder.encode(runs).write(to: URL(fileURLWithPath: jsonPath))
        print("figures written to \(jsonPath)")
        redis.close()
        db.close()
    }
}
