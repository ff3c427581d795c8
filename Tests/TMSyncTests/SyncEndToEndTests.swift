import Foundation
import Testing
import TestSupport
import TMCrypto
import TMDatabase
import TMHTTP
import TMPostgres
import TMQueue
import TMRedis
import TMSync

/// The whole path, as `make up` runs it: broker-sim, `tm dispatch` running the real sync-trigger and
/// sync-consumer executables, `tm schedules fire broker-sync`, the adapters over libcurl.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SyncEndToEndTests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("sync-e2e"))
    let secret = "sekret-\(UUID().uuidString.prefix(8))"

    /// broker-sim on a free port; its base URL.
    func startSimulator() throws -> (ChildProcess, String) {
        let sim = try BrokerSimServer()
        return (sim.process, sim.base)
    }

    func admin(_ base: String, _ method: String, _ path: String, _ body: String? = nil) throws -> String {
        let client = try HTTPClient()
        let request = HTTPRequest(HTTPMethod(rawValue: method)!, base + path, body: body.map { .json(Data($0.utf8)) } ?? .none)
        let response = try client.send(request)
        return String(decoding: response.body, as: UTF8.self)
    }

    /// Temp Functions/ (the real sync functions, fast retries for the test), the repo's Queues and
    /// Schedules, a Redis database of its own and a migrated Postgres database.
    func environment(simulator base: String, database: TestDatabase, key: SecretKey) throws -> [String: String] {
        let fm = FileManager.default
        for name in ["sync-trigger", "sync-consumer"] {
            try fm.createDirectory(at: root.appendingPathComponent("Functions/\(name)"), withIntermediateDirectories: true)
        }
        try "name: sync-trigger\ntrigger: schedules\ntimeout: 30s\nreserved_concurrency: 1\n"
            .write(to: root.appendingPathComponent("Functions/sync-trigger/function.yaml"), atomically: true, encoding: .utf8)
        try """
            name: sync-consumer
            trigger: {queue: broker-sync}
            timeout: 30s
            reserved_concurrency: 4
            warm: true
            secrets: [TM_SECRET_KEY]
            retry: {max_deliveries: 3, backoff: {base: 100ms, cap: 300ms}}
            """.write(to: root.appendingPathComponent("Functions/sync-consumer/function.yaml"), atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        var redis = try RedisConfiguration(url: try TestServers.redisURL)
        redis.database = 7  // a database of its own, over the test server's transport (TCP or its socket)
        env["TM_ENV_FILE"] = "/nonexistent"
        env["TM_REDIS_URL"] = redis.url
        env["TM_DATABASE_URL"] = database.url
        env["TM_SECRET_KEY"] = key.exportBase64()
        env["TM_FUNCTIONS_DIR"] = root.appendingPathComponent("Functions").path
        env["TM_QUEUES_DIR"] = TestServers.repositoryRoot.appendingPathComponent("Queues").path
        env["TM_SCHEDULES_DIR"] = TestServers.repositoryRoot.appendingPathComponent("Schedules").path
        for (variable, prefix) in [("TM_KITE_BASE_URL", "kite"), ("TM_UPSTOX_BASE_URL", "upstox"), ("TM_UPSTOX_ORDER_BASE_URL", "upstox"),
                                   ("TM_ALPACA_BASE_URL", "alpaca"), ("TM_BINANCE_BASE_URL", "binance")] {
            env[variable] = "\(base)/\(prefix)"
        }
        return env
    }

    @Test func scheduledSyncsThroughTheFunctionsExpiredTokensAndBrokerOutages() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let (sim, base) = try startSimulator()
        defer { sim.terminate(grace: .seconds(5)) }
        let database = try TestDatabase(migrated: true, prefix: "tm_e2e")
        let key = try SecretKey.generate()
        let env = try environment(simulator: base, database: database, key: key)
        let redis = try await RedisClient(configuration: RedisConfiguration(url: env["TM_REDIS_URL"]!))
        defer { redis.close() }
        _ = try await redis.send("FLUSHDB")

        // One Kite account at the broker with 20 filled trades, and the same account on the platform.
        let apiKey = "e2e-key-\(secret)"
        _ = try admin(base, "POST", "/admin/accounts", #"{"broker":"kite","api_key":"\#(apiKey)","api_secret":"\#(secret)","access_token":"tok-\#(secret)"}"#)
        _ = try admin(base, "POST", "/admin/seed-trades", #"{"broker":"kite","api_key":"\#(apiKey)","count":20,"symbols":["INFY","TCS"]}"#)
        let db = try database.connect()
        defer { db.close() }
        try db.execute("INSERT INTO users (email, display_name) VALUES ('e2e@test.local', 'E2E')")
        let account = try AccountAdministration.add(db, keyring: try SecretKeyring(current: key), userEmail: "e2e@test.local", broker: .kite,
                                                    label: "e2e", credentials: .init(apiKey: apiKey, apiSecret: secret, accessToken: "tok-\(secret)"))
        let log = root.appendingPathComponent("dispatch.log").path
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let dispatcher = try ChildProcess(tm, ["dispatch"], environment: env, logFile: log)
        defer { dispatcher.terminate(grace: .seconds(15)) }

        func count(_ sql: String) throws -> Int { try db.query(PostgresQuery(unsafeSQL: sql)).rows[0].decode(0, as: Int.self) }
        func fire() async throws {
            let fired = try await runProcess(tm, ["schedules", "fire", "broker-sync"], environment: env)
            #expect(fired.status == 0, "\(fired.output)")
        }

        // 1. A scheduled sync: every trade the broker has, once.
        try await fire()
        do {
            try await eventually("the first sync", within: .seconds(60)) { try count("SELECT count(*)::int FROM sync_logs WHERE outcome = 'ok'") == 1 }
        } catch {
            print((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(4000) ?? "no dispatcher log")
            throw error
        }
        #expect(try count("SELECT count(*)::int FROM trades") == 20)
        #expect(try count("SELECT count(*)::int FROM positions") > 0)
        try await eventually("a trade-events message per new trade") {
            Int(try await redis.send("XLEN", QueueKeys(queue: "trade-events", shard: 0).stream).int ?? 0) == 20
        }

        // 2. The token expires: the account needs its user, the message is dead-lettered once, with the reason.
        _ = try admin(base, "POST", "/admin/accounts/kite/\(apiKey)/expire-token")
        try db.execute("UPDATE broker_accounts SET next_sync_at = now() - interval '1 minute' WHERE id = \(account)")
        try await Task.sleep(for: .milliseconds(1100))  // a new slot
        try await fire()
        try await eventually("the account marked error", within: .seconds(60)) {
            try count("SELECT count(*)::int FROM broker_accounts WHERE status = 'error'") == 1
        }
        let deadLetters = DeadLetterQueue(redis: redis, manifest: try QueueCatalog.load(directory: URL(fileURLWithPath: env["TM_QUEUES_DIR"]!)).manifest("broker-sync"))
        try await eventually("the message dead-lettered") { try await deadLetters.list().count == 1 }
        let dead = try await deadLetters.list()
        #expect(dead.first?.history.count == 1, "not retried")
        #expect(dead.first?.error.contains("unauthorized") == true, "\(dead.first?.error ?? "")")
        #expect(try count("SELECT count(*)::int FROM notifications WHERE kind = 'sync_error'") == 1)

        // 3. The broker fails with 503s: retries with backoff, then a dead letter; replayed once the fault is cleared: synced.
        _ = try admin(base, "POST", "/admin/accounts/kite/\(apiKey)/restore-token")
        _ = try await runProcess(tm, ["accounts", "resume", account.uuidString.lowercased()], environment: env)
        _ = try admin(base, "POST", "/admin/faults", #"{"broker":"kite","endpoint":"/orders","status":503,"error_rate":1}"#)
        _ = try admin(base, "POST", "/admin/seed-trades", #"{"broker":"kite","api_key":"\#(apiKey)","count":5,"symbols":["SBIN"]}"#)
        try await Task.sleep(for: .milliseconds(1100))
        try await fire()
        try await eventually("a second dead letter after the retries", within: .seconds(60)) { try await deadLetters.list().count == 2 }
        let outage = try await deadLetters.list().first { !$0.error.contains("unauthorized") }
        print("outage dead letter: \(outage?.error ?? "none"); attempts \(outage?.history.map(\.error) ?? [])")
        #expect(outage?.history.count == 3, "three attempts with backoff")
        #expect(try count("SELECT count(*)::int FROM broker_accounts WHERE status = 'active'") == 1, "an outage does not need the user")
        _ = try admin(base, "DELETE", "/admin/faults")
        let replayed = try await runProcess(tm, ["dlq", "replay", "broker-sync", "--id", outage?.messageID ?? "?", "--reason", "broker back"], environment: env)
        #expect(replayed.status == 0, "\(replayed.output)")
        do {
            try await eventually("synced after the replay", within: .seconds(60)) { try count("SELECT count(*)::int FROM trades") == 25 }
        } catch {
            print("trades: \(try count("SELECT count(*)::int FROM trades")); dead letters: \(try await deadLetters.list().map(\.error))")
            print((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(3000) ?? "no dispatcher log")
            throw error
        }

        // 4. No credential anywhere: logs, dead letters, stored errors, metrics, operator output.
        dispatcher.terminate(grace: .seconds(15))
        var texts = [try String(contentsOfFile: log, encoding: .utf8)]
        texts += try await deadLetters.list()
            .map { "\($0.error) \($0.history) \(String(decoding: $0.payload, as: UTF8.self))" }
        texts += try db.query("SELECT coalesce(log_tail, '') || coalesce(reason, '') AS t FROM function_invocations").rows.map { try $0.decode("t", as: String.self) }
        texts += try db.query("SELECT coalesce(error, '') AS t FROM sync_logs UNION ALL SELECT coalesce(error_reason, '') FROM broker_accounts UNION ALL SELECT payload::text FROM notifications").rows.map { try $0.decode("t", as: String.self) }
        texts.append(try await runProcess(tm, ["functions", "--prometheus"], environment: env).output)
        texts.append(try await runProcess(tm, ["accounts", "--json"], environment: env).output)
        #expect(texts.joined().count > 1000, "there was something to search")
        for text in texts { #expect(!text.contains(secret), "a credential leaked: \(text.prefix(300))") }
    }
}
