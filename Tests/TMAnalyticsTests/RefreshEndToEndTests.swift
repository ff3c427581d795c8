import Foundation
import Testing
import TestSupport
import TMCore
import TMPostgres
import TMQueue
import TMRedis
@testable import TMAnalytics

/// The whole path as `make up` runs it: broker-sim, `tm dispatch` running the real sync-trigger,
/// sync-consumer and analytics-refresh executables; a trade the broker corrects reaches the user's
/// analytics through the sync's `trade.updated` — no nightly run. Then the freshness figures:
/// event → analytics row, measured (printed, not asserted: no timing in assertions).
@Suite(.serialized, .timeLimit(.minutes(5))) struct RefreshEndToEndTests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("refresh-e2e"))
    let secret = "sekret-\(UUID().uuidString.prefix(8))"

    func admin(_ base: String, _ method: String, _ path: String, _ body: String? = nil) async throws -> String {
        var arguments = ["-sS", "-X", method, base + path]
        if let body { arguments += ["-H", "Content-Type: application/json", "-d", body] }
        let run = try await runProcess("/usr/bin/curl", arguments)
        guard run.status == 0 else { throw Timeout(what: "curl \(path): \(run.output)") }
        return run.output
    }

    /// Temp Functions/ (the real sync and refresh functions, fast retries), the repo's Queues and
    /// Schedules, a Redis database of its own and the migrated Postgres database.
    func environment(simulator base: String, database: TestDatabase) throws -> [String: String] {
        let fm = FileManager.default
        let manifests = [
            "sync-trigger": "name: sync-trigger\ntrigger: schedules\ntimeout: 30s\nreserved_concurrency: 1\n",
            "sync-consumer": """
                name: sync-consumer
                trigger: {queue: broker-sync}
                timeout: 30s
                reserved_concurrency: 2
                warm: true
                secrets: [TM_SECRET_KEY]
                retry: {max_deliveries: 3, backoff: {base: 100ms, cap: 300ms}}
                """,
            // The shipped manifest, as make up runs it.
            "analytics-refresh": try String(contentsOf: TestServers.repositoryRoot.appendingPathComponent("Functions/analytics-refresh/function.yaml"), encoding: .utf8),
        ]
        for (name, manifest) in manifests {
            try fm.createDirectory(at: root.appendingPathComponent("Functions/\(name)"), withIntermediateDirectories: true)
            try manifest.write(to: root.appendingPathComponent("Functions/\(name)/function.yaml"), atomically: true, encoding: .utf8)
        }
        var env = ProcessInfo.processInfo.environment
        var redis = try RedisConfiguration(url: try TestServers.redisURL)
        redis.database = 8  // a database of its own, over the test server's transport (TCP or its socket)
        env["TM_ENV_FILE"] = "/nonexistent"
        env["TM_REDIS_URL"] = redis.url
        env["TM_DATABASE_URL"] = database.url
        env["TM_SECRET_KEY"] = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        env["TM_FUNCTIONS_DIR"] = root.appendingPathComponent("Functions").path
        env["TM_QUEUES_DIR"] = TestServers.repositoryRoot.appendingPathComponent("Queues").path
        env["TM_SCHEDULES_DIR"] = TestServers.repositoryRoot.appendingPathComponent("Schedules").path
        for (variable, prefix) in [("TM_KITE_BASE_URL", "kite"), ("TM_UPSTOX_BASE_URL", "upstox"), ("TM_UPSTOX_ORDER_BASE_URL", "upstox"),
                                   ("TM_ALPACA_BASE_URL", "alpaca"), ("TM_BINANCE_BASE_URL", "binance")] {
            env[variable] = "\(base)/\(prefix)"
        }
        return env
    }

    @Test func aTradeCorrectedBySyncChangesTheUsersAnalyticsThenTheFreshnessFigures() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let sim = try BrokerSimProcess()
        defer { sim.process.terminate(grace: .seconds(5)) }
        let database = try TestDatabase(migrated: true, prefix: "tm_refresh_e2e")
        defer { database.drop() }
        let env = try environment(simulator: sim.base, database: database)
        let redis = try await RedisClient(configuration: RedisConfiguration(url: env["TM_REDIS_URL"]!))
        defer { redis.close() }
        _ = try await redis.send("FLUSHDB")
        let pool = PostgresPool(configuration: database.configuration, size: 2)

        // A Kite account with ten filled trades at the broker; the same account on the platform.
        let apiKey = "refresh-key-\(secret)"
        _ = try await admin(sim.base, "POST", "/admin/accounts", #"{"broker":"kite","api_key":"\#(apiKey)","api_secret":"\#(secret)","access_token":"tok-\#(secret)"}"#)
        _ = try await admin(sim.base, "POST", "/admin/seed-trades", #"{"broker":"kite","api_key":"\#(apiKey)","count":10,"symbols":["INFY"]}"#)
        _ = try await pool.execute("INSERT INTO users (email, display_name) VALUES ('refresh@test.local', 'Refresh')")
        let credentials = root.appendingPathComponent("credentials.json")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try #"{"api_key":"\#(apiKey)","api_secret":"\#(secret)","access_token":"tok-\#(secret)"}"#.write(to: credentials, atomically: true, encoding: .utf8)
        let added = try await runProcess(tm, ["accounts", "add", "--user", "refresh@test.local", "--broker", "kite", "--label", "main",
                                              "--credentials", credentials.path], environment: env)
        #expect(added.status == 0, "\(added.output)")
        let user: UUID = try await pool.query("SELECT id FROM users WHERE email = 'refresh@test.local'").rows[0].decode("id")
        let account: UUID = try await pool.query("SELECT id FROM broker_accounts WHERE user_id = \(user)").rows[0].decode("id")

        let log = root.appendingPathComponent("dispatch.log").path
        let dispatcher = try ChildProcess(tm, ["dispatch"], environment: env, logFile: log)
        defer { dispatcher.terminate(grace: .seconds(15)) }
        func dumpLog() { print((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(4000) ?? "no dispatcher log") }
        func realized() async throws -> Decimal? {
            try await pool.query("SELECT realized_pnl FROM analytics WHERE user_id = \(user) AND period = 'all'").rows.first?.decode("realized_pnl", as: Decimal.self)
        }
        func sync() async throws {
            _ = try await pool.execute("UPDATE broker_accounts SET next_sync_at = now() - interval '1 minute' WHERE id = \(account)")
            try await Task.sleep(for: .milliseconds(1100))  // a new slot
            let fired = try await runProcess(tm, ["schedules", "fire", "broker-sync"], environment: env)
            #expect(fired.status == 0, "\(fired.output)")
        }

        // 1. The first sync's trade.created events: the user's analytics exist without a nightly run.
        try await sync()
        do {
            try await eventually("the synced trades in the user's analytics", within: .seconds(60)) {
                try await pool.query("SELECT fills_count FROM analytics WHERE user_id = \(user) AND period = 'all'").rows.first?
                    .decode("fills_count", as: Int.self) == 10
            }
        } catch { dumpLog(); throw error }
        let before = try #require(try await realized())

        // 2. The broker corrects the price of the first fill (a buy: the oldest lot, which the first
        //    sell closes); the next sync announces trade.updated; the realized P&L follows.
        let trade: String = try await pool.query("SELECT broker_trade_id FROM trades WHERE account_id = \(account) ORDER BY traded_at, broker_trade_id LIMIT 1")
            .rows[0].decode("broker_trade_id")
        let oldPrice: Decimal = try await pool.query("SELECT price FROM trades WHERE broker_trade_id = \(trade)").rows[0].decode("price")
        let corrected = try await admin(sim.base, "POST", "/admin/trades/kite/\(apiKey)/\(trade)", #"{"price":"\#(DecimalText.plain(oldPrice + 1))"}"#)
        try await sync()
        do {
            try await eventually("the corrected price in the user's analytics", within: .seconds(60)) {
                guard let now = try await realized() else { return false }
                return now != before
            }
        } catch {
            print("correction: \(corrected); realized P&L \(before) → \(String(describing: try? await realized())); trade price now \(String(describing: try? await pool.query("SELECT price FROM trades WHERE broker_trade_id = \(trade)").rows[0].decode("price", as: Decimal.self)))")
            dumpLog()
            throw error
        }
        #expect(try await pool.query("SELECT price FROM trades WHERE broker_trade_id = \(trade)").rows[0].decode("price", as: Decimal.self) == oldPrice + 1)

        // 3. Freshness: a fill committed, its trade.created on trade-events, until the analytics row
        //    holds it — sequential samples through the dispatcher and the warm function.
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog.load(directory: URL(fileURLWithPath: env["TM_QUEUES_DIR"]!)))
        var latencies: [Double] = []
        for sample in 0..<30 {
            let id = "LAT-\(sample)"
            _ = try await pool.execute("""
                INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, fees, traded_at)
                VALUES (\(account), \(id), 'INFY', 'NSE', 'buy', 1, 1500, 0, now() - interval '1 minute')
                """)
            let body = RefreshFixture.tradeCreated(account: account, user: user, trade: id)
            let start = ContinuousClock.now
            try await producer.enqueue("trade-events", OutgoingMessage(payload: Array(body.utf8), key: "trade:\(account):\(id):r1"))
            try await eventually("sample \(sample) in the analytics", within: .seconds(30)) {
                try await pool.query("SELECT fills_count FROM analytics WHERE user_id = \(user) AND period = 'all'").rows.first?
                    .decode("fills_count", as: Int.self) == 11 + sample
            }
            latencies.append((ContinuousClock.now - start).seconds * 1000)
        }
        latencies.sort()
        let p50 = latencies[latencies.count / 2], p99 = latencies[min(latencies.count - 1, Int((Double(latencies.count) * 0.99).rounded(.up)) - 1)]
        print(String(format: "analytics freshness (event enqueued → analytics row, %d samples): p50 %.0f ms, p99 %.0f ms, max %.0f ms (target 5000 ms)",
                     latencies.count, p50, p99, latencies.last ?? 0))
        await pool.shutdown()
    }
}
