import Foundation
import TestSupport
import TMBrokers
import TMCore
import TMCrypto
import TMHTTP
import TMOrders
import TMPostgres
import TMQueue
import TMRedis
import TMSync

/// Real processes for the order path's process-level guarantees: a migrated database with one user
/// and `accounts` Kite accounts (sealed credentials), broker-sim (`--no-rate-limits`) knowing the
/// same accounts, a queue of its own shaped exactly like `Queues/orders.yaml`, and `tm order-worker`
/// processes started and SIGKILLed by the test. Broker-sim's truth is what the tests assert on.
final class WorkerHarness: @unchecked Sendable {
    let database: TestDatabase
    let db: PostgresConnection
    let redis: RedisClient
    let scratch: ScratchOrdersQueue
    let queue: String
    let queueDirectory: URL
    let catalog: QueueCatalog
    let shards: Int
    let keyring: SecretKeyring
    let secretKey: String
    let simulator: ChildProcess
    /// broker-sim's base, e.g. `http://127.0.0.1:41234`.
    let simBase: String
    /// The accounts, in creation order, with the API key broker-sim knows each by.
    let accounts: [UUID]
    let apiKeys: [UUID: String]
    private let workers = Locked<[ChildProcess]>([])
    private var started = 0
    let logDirectory: URL
    let simulatorLog: String

    init(accounts count: Int = 2, brokerTimeout: String = "2s") async throws {
        self.brokerTimeout = brokerTimeout
        database = try TestDatabase(migrated: true, prefix: "tm_worker")
        db = try database.connect()
        scratch = try ScratchOrdersQueue(prefix: "w")
        queue = scratch.name
        queueDirectory = scratch.directory
        catalog = scratch.catalog
        shards = scratch.shards
        logDirectory = queueDirectory.appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        let key = try SecretKey.generate()
        secretKey = key.exportBase64()
        keyring = try SecretKeyring(current: key)

        simulatorLog = logDirectory.appendingPathComponent("broker-sim.log").path
        let launched = try BrokerSimProcess(arguments: ["--no-rate-limits"], logFile: simulatorLog)
        simulator = launched.process
        simBase = launched.base

        try db.simpleQuery("INSERT INTO instruments (exchange, symbol, lot_size, tick_size, tradable) VALUES ('NSE', 'INFY', 1, 0.05, true)")
        var ids: [UUID] = []
        var keys: [UUID: String] = [:]
        let client = try HTTPClient()
        for n in 0..<count {
            let apiKey = "key\(n)-\(UUID().uuidString.prefix(8))"
            let secret = "secret\(n)", token = "token\(n)-\(apiKey)"
            // One trader per account: the router places an order among its user's own accounts only.
            try db.execute("INSERT INTO users (email, display_name) VALUES (\("chaos\(n)@test.local"), 'Chaos')")
            let id = try AccountAdministration.add(db, keyring: keyring, userEmail: "chaos\(n)@test.local", broker: .kite, label: "acct\(n)",
                                                   credentials: .init(apiKey: apiKey, apiSecret: secret, accessToken: token))
            let body = #"{"broker":"kite","api_key":"\#(apiKey)","api_secret":"\#(secret)","access_token":"\#(token)"}"#
            let reply = try client.send(HTTPRequest(.post, simBase + "/admin/accounts", body: .json(Data(body.utf8))))
            guard reply.status == 200 else { throw Refused(what: "adding an account to broker-sim: HTTP \(reply.status)") }
            ids.append(id)
            keys[id] = apiKey
        }
        accounts = ids
        apiKeys = keys
        // What the real risk book needs to pass these orders on their merits: positions synced just
        // now and ample funds. Their orders are alike (1 INFY at 100), so the duplicate window is off.
        try db.execute("UPDATE broker_accounts SET last_sync_at = now()")
        try db.execute("INSERT INTO account_funds (account_id, currency, available, as_of) SELECT id, 'INR', 1e12, now() FROM broker_accounts")
        try db.execute("UPDATE platform_trading_controls SET duplicate_window = interval '0'")
        // A last price for the market orders (market data's part, issue 12): a flat INFY line as sync stores it.
        try db.execute("""
            INSERT INTO positions (account_id, symbol, exchange, quantity, average_price, last_price, as_of)
            SELECT id, 'INFY', 'NSE', 0, 0, 1500, now() FROM broker_accounts
            """)
        try await resetCircuit()
    }

    let brokerTimeout: String

    struct Refused: Error, CustomStringConvertible {
        let what: String
        var description: String { what }
    }

    // MARK: Workers

    /// The environment of a `tm order-worker` of this harness.
    var workerEnvironment: [String: String] {
        get throws {
            var env = ProcessInfo.processInfo.environment
            env["TM_ENV_FILE"] = "/dev/null"
            env["TM_DATABASE_URL"] = database.url
            env["TM_REDIS_URL"] = try TestServers.redisURL
            env["TM_SECRET_KEY"] = secretKey
            env["TM_QUEUES_DIR"] = queueDirectory.path
            env["TM_BROKER_TIMEOUT"] = brokerTimeout
            env["TM_LOG_LEVEL"] = "info"
            for (name, _) in BrokerEndpoints.variables { env[name] = nil }
            env["TM_KITE_BASE_URL"] = simBase + "/kite"
            return env
        }
    }

    /// Starts a worker; its log (stdout and stderr) goes to a file of its own (`log(of:)`).
    @discardableResult
    func startWorker() throws -> ChildProcess {
        started += 1
        let log = logDirectory.appendingPathComponent("worker-\(started).log").path
        let tm = TestServers.productsDirectory.appendingPathComponent("tm").path
        let worker = try ChildProcess(tm, ["order-worker", "--queue", queue], environment: try workerEnvironment, logFile: log)
        workers.withLock { $0.append(worker) }
        logs.withLock { $0[worker.pid] = log }
        return worker
    }

    private let logs = Locked<[pid_t: String]>([:])

    /// The worker's log so far.
    func log(of worker: ChildProcess) -> String {
        guard let path = logs.withLock({ $0[worker.pid] }) else { return "" }
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// The shards a worker holds by its own log: "shard taken", not followed by "shard stopped" or
    /// "shard handed back" for the same shard.
    func shardsHeld(by worker: ChildProcess) -> Set<Int> {
        var held = Set<Int>()
        for line in log(of: worker).split(separator: "\n") {
            guard let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let message = record["msg"] as? String, let shard = (record["shard"] as? String).flatMap(Int.init) else { continue }
            switch message {
            case "shard taken": held.insert(shard)
            case "shard stopped", "shard handed back": held.remove(shard)
            default: break
            }
        }
        return held
    }

    // MARK: Orders

    var producer: QueueProducer { QueueProducer(redis: redis, catalog: catalog) }
    var intake: OrderIntake { OrderIntake(db: db, producer: producer, queue: queue) }

    /// A limit buy far below the market: it rests at the broker (ACCEPTED), so it can be cancelled.
    func restingOrder(_ account: UUID, key: String = "k-\(UUID().uuidString.prefix(13))") -> PlaceOrder {
        PlaceOrder(idempotencyKey: key, accountID: account, symbol: "INFY", exchange: "NSE", side: .buy, quantity: 1, type: .limit, limitPrice: 100)
    }

    /// Enqueues a place through the intake (its idempotency key enqueues once).
    @discardableResult
    func place(_ order: PlaceOrder) async throws -> OrderReceipt { try await intake.submit(.place(order)) }

    /// Enqueues the command again as a new message, bypassing the intake's idempotency key: the same
    /// message delivered twice, as far as the worker can tell.
    func enqueueAgain(_ command: OrderCommand) async throws {
        _ = try await producer.enqueue(queue, OutgoingMessage(payload: Array(command.json.text.utf8)))
    }

    /// How many requests broker-sim's fault rules have met so far (its log's "fault applied" lines):
    /// a request counted here has reached the broker, whatever becomes of its caller.
    func faultsApplied() -> Int {
        ((try? String(contentsOfFile: simulatorLog, encoding: .utf8)) ?? "").components(separatedBy: "fault applied").count - 1
    }

    /// Broker-sim's count of orders per client order id for one account.
    func brokerOrders(_ account: UUID) throws -> [String: Int] {
        let reply = try HTTPClient().send(HTTPRequest(.get, simBase + "/admin/truth?broker=kite&api_key=\(apiKeys[account]!)"))
        guard reply.status == 200, let truth = try? JSONValue.parse(Array(reply.body)) else {
            throw Refused(what: "broker-sim's truth: HTTP \(reply.status)")
        }
        var counts: [String: Int] = [:]
        for (id, count) in truth["orders_per_client_id"]?.objectFields ?? [] { counts[id] = count.intValue ?? 0 }
        return counts
    }

    /// Broker-sim's orders of one account (order id and client order id).
    func brokerOrderList(_ account: UUID) throws -> [(orderID: String, clientOrderID: String?, status: String)] {
        let reply = try HTTPClient().send(HTTPRequest(.get, simBase + "/admin/truth?broker=kite&api_key=\(apiKeys[account]!)"))
        let truth = try JSONValue.parse(Array(reply.body))
        return (truth["orders"]?.arrayValue ?? []).map {
            ($0["order_id"]?.stringValue ?? "", $0["client_order_id"]?.stringValue, $0["status"]?.stringValue ?? "")
        }
    }

    /// The client order id the key's order carries at the broker.
    func clientID(_ key: String) -> String { ClientOrderID.derive(idempotencyKey: key, for: .kite) }

    /// Adds a broker-sim fault rule (JSON body of POST /admin/faults); returns its id.
    @discardableResult
    func fault(_ json: String) throws -> String {
        let reply = try HTTPClient().send(HTTPRequest(.post, simBase + "/admin/faults", body: .json(Data(json.utf8))))
        guard reply.status == 200, let id = (try? JSONValue.parse(Array(reply.body)))?["id"]?.stringValue else {
            throw Refused(what: "adding a fault: HTTP \(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
        }
        return id
    }

    func clearFaults() throws {
        _ = try HTTPClient().send(HTTPRequest(.delete, simBase + "/admin/faults"))
    }

    /// Fills a resting order at broker-sim by hand.
    func fill(_ account: UUID, brokerOrderID: String) throws {
        let reply = try HTTPClient().send(HTTPRequest(.post, simBase + "/admin/orders/kite/\(apiKeys[account]!)/\(brokerOrderID)/fill",
                                                      body: .json(Data("{}".utf8))))
        guard reply.status == 200 else { throw Refused(what: "filling: HTTP \(reply.status) \(String(decoding: reply.body, as: UTF8.self))") }
    }

    struct Row {
        let id: UUID
        let key: String
        let account: UUID
        let state: String
        let unknownReason: String?
        let submitAttempts: Int
    }

    func order(key: String) throws -> Row? { try rows(where: "idempotency_key = '\(key.replacingOccurrences(of: "'", with: "''"))'").first }

    func rows(where condition: String = "true") throws -> [Row] {
        try db.query(PostgresQuery(unsafeSQL: """
            SELECT id, idempotency_key, account_id, state, unknown_reason, submit_attempts FROM orders WHERE \(condition) ORDER BY created_at
            """)).rows.map {
            Row(id: try $0.decode("id"), key: try $0.decode("idempotency_key"), account: try $0.decode("account_id"), state: try $0.decode("state"),
                unknownReason: try $0.decode("unknown_reason"), submitAttempts: try $0.decode("submit_attempts"))
        }
    }

    /// An order's state changes, oldest first.
    func events(_ order: UUID) throws -> [String] {
        try db.query("SELECT to_state FROM order_event_details WHERE order_id = \(order) ORDER BY id").rows.map { try $0.decode("to_state") }
    }

    func count(_ sql: String) throws -> Int { try db.query(PostgresQuery(unsafeSQL: sql)).rows[0].decode(0, as: Int.self) }

    /// Nothing waiting, in flight or delayed on any shard (dead letters aside).
    func backlogDone() async throws -> Bool {
        let totals = try await QueueInspector(redis: redis, catalog: catalog).status(of: queue).totals
        return totals.pending == 0 && totals.delayed == 0 && (totals.undelivered ?? 1) == 0
    }

    func shard(of account: UUID) -> Int { QueueKeys.shard(for: account.uuidString.lowercased(), shards: shards) }

    func removeFault(_ id: String) throws {
        _ = try HTTPClient().send(HTTPRequest(.delete, simBase + "/admin/faults/\(id)"))
    }

    /// Closes Kite's circuit breaker. It is one per broker for every process sharing this Redis (the
    /// test servers): a test's injected failures must not leave it open for the next test.
    func resetCircuit() async throws {
        _ = try await redis.send("DEL", CircuitBreaker(name: BrokerKind.kite.rawValue, redis: redis).key)
    }

    /// Dead letters of the harness's queue.
    var deadLetters: DeadLetterQueue { get throws { DeadLetterQueue(redis: redis, manifest: try catalog.manifest(queue)) } }

    func cleanUp() async {
        for worker in workers.withLock({ $0 }) where worker.isRunning { worker.kill() }
        simulator.kill()
        await scratch.remove(redis: redis, keepDirectory: ProcessInfo.processInfo.environment["TM_KEEP_WORKER_LOGS"] != nil)
        _ = try? await redis.send("DEL", QueueKeys.shardWorkers(queue: queue))
        try? await resetCircuit()
        redis.close()
        db.close()
        database.drop()
    }
}
