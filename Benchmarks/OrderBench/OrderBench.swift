// order-bench: the order path (issue 11) end to end against broker-sim answering at once.
//
//   order-bench [--accounts 200] [--burst 20000] [--rates 200,1000,5000] [--seconds 5] [--serial 1000]
//               [--cold 2000] [--batch 10] [--idle 2] [--group-commit on|off] [--json bench-results/orders.json]
//
// 1. burst: --burst orders over --accounts Kite accounts put on the `orders` queue by the intake
//    (`OrderIntake.submitBatch`, the library call behind `tm orders place`, --intake-batch commands a
//    call, --intake-lanes intakes at once) before the worker starts: the intake's rate and CPU per order; then ONE in-process
//    OrderWorker (8 shards × 16 handlers, the same object `tm order-worker` runs) drains them:
//    orders/s from the moment it owns every shard to the last ACCEPTED commit, and the CPU per order
//    of each process on the path (this process, broker-sim, the database's Postgres backends,
//    redis-server; `/proc/<pid>/stat`), so what bounds the rate is read from the bench itself;
// 2. open loop: orders due at each --rates for --seconds into an idle worker, sent by the intake in
//    one batch per millisecond (every order due by then) from a thread of its own (`SenderThread`:
//    the generator takes no thread of the worker's pool; its CPU is shown apart); latency = the order's `accepted_at`
//    (Postgres now() of the answer's transaction) − the wall time the order was DUE (so the sender's
//    batching and any lag count against it), read after the run from the rows, so nothing polls
//    while it runs; "orders/s" is what the worker carried (orders ÷ first due → last ACCEPTED);
// 3. serial profile: --serial orders one at a time straight through OrderPlacer.handle (no queue),
//    each order's wall time split by in-process stamps (`HopStamps`, `LoneOrderSplit`) into the task's
//    own runs, the hops to C-handle threads and back, and the jobs there (Postgres, admission, HTTP);
//    then (--idle seconds) the idle worker's CPU per second;
// 4. cold: --cold orders through OrderPlacerFunction in batches of --batch, one invocation at a time
//    (reserved concurrency 1, as its manifest must), each invocation opening its accounts afresh.
// Risk + route alone is risk-bench's figure (bench-results/risk.json), quoted when present.
//
// The orders are market orders of 1 INFY, spread round-robin over the accounts: broker-sim fills them
// at once, so the answer's commit moves SUBMITTING → FILLED and stamps accepted_at (with filled_at).
// Resting limit orders would measure broker-sim instead: it rescans every working limit order each
// tick under its one lock, and copies an account's order list on every place.
//
// Needs TM_REDIS_URL and TM_DATABASE_URL (or TM_ENV_FILE; `make bench` uses the test servers): it
// creates its own database (dropped at the end) and uses Redis database 10. broker-sim must sit next
// to this binary. Risk is a pass-through (as `tm order-worker`'s interim state), routing the requested account.
import BenchFixtures
import BenchSupport
import Foundation
import Logging
import TMBrokers
import TMCore
import TMCrypto
import TMDatabase
import TMFunctionRuntime
import TMHTTP
import TMOrders
import TMPostgres
import TMQueue
import TMRedis
import TMSync

struct Figure: Codable {
    var name: String
    var orders: Int
    var ordersPerSecond: Double?
    var offeredPerSecond: Double?
    var p50Millis: Double?
    var p99Millis: Double?
    var p999Millis: Double?
    var maxMillis: Double?
    var notAccepted: Int
    var note: String
}

func wallSeconds() -> Double { Date().timeIntervalSince1970 }

@main
enum OrderBench {
    static let usage = """
        order-bench [--accounts 200] [--burst 20000] [--rates 200,1000,5000] [--seconds 5] [--serial 1000]
                    [--cold 2000] [--batch 10] [--intake-batch 1000] [--intake-lanes 2] [--idle 2] [--group-commit on|off]
                    [--task-executor resuming|pool] [--json bench-results/orders.json]
        Needs TM_REDIS_URL and TM_DATABASE_URL (or TM_ENV_FILE) and broker-sim next to this binary.
        """

    static func main() async {
        await BenchCommand.run("order-bench", usage: usage) { try await run() }
    }

    static func run() async throws {
        setenv("TM_LOG_LEVEL", "error", 0)
        JSONLogHandler.bootstrap()
        let accountCount = option("--accounts", 200)
        let burst = option("--burst", 20000)
        let rates = option("--rates", [200, 1000, 5000])
        let seconds = option("--seconds", Double(5))
        let serial = option("--serial", 1000)
        let cold = option("--cold", 2000)
        let batch = option("--batch", 10)
        let intakeBatch = option("--intake-batch", 1000)
        let intakeLanes = option("--intake-lanes", 2)
        let jsonPath = option("--json", "bench-results/orders.json")
        // `--group-commit off`: one transaction per write, as before group commit (to compare in one run).
        let groupCommit = option("--group-commit", "on") != "off"
        // `--lone-write off`: a write with none other in flight goes through the group too (the A/B of `OrderCommits`' lone write).
        let loneWrites = option("--lone-write", "on") != "off"
        // `--task-executor pool`: the worker's and the serial row's tasks on Swift's pool, not resumed on
        // the thread that answered them (the A/B of `ResumingThreadExecutor`).
        let taskExecutor: (any TaskExecutor)? = option("--task-executor", "resuming") == "pool" ? nil : ResumingThreadExecutor.shared
        let environment = TMEnvironment.current()

        // --- broker-sim answering at once; a database of its own, migrated, with the accounts (sealed
        // credentials), each known to broker-sim.
        let sim = try BenchBrokerSim(arguments: ["--no-rate-limits"])
        defer { sim.stop() }
        let simURL = sim.url
        let database = try BenchDatabase(prefix: "tm_order_bench", environment: environment)
        defer { database.drop() }
        let benchDB = database.configuration
        let db = try PostgresConnection(configuration: benchDB)
        let key = try SecretKey.generate()
        let keyring = try SecretKeyring(current: key)
        // One trader per account (the router chooses among a user's own accounts), each synced just
        // now with ample funds, so the real risk book passes the orders on their merits.
        var accounts: [UUID] = []
        for i in 0..<accountCount {
            let apiKey = "order-bench-\(i)"
            try db.execute("INSERT INTO users (email, display_name) VALUES (\("bench-\(i)@test.local"), 'Bench')")
            try sim.post("/admin/accounts", #"{"broker":"kite","api_key":"\#(apiKey)","api_secret":"secret-\#(i)","access_token":"token-\#(i)"}"#)
            accounts.append(try AccountAdministration.add(db, keyring: keyring, userEmail: "bench-\(i)@test.local", broker: .kite, label: "acct-\(i)",
                                                          credentials: .init(apiKey: apiKey, apiSecret: "secret-\(i)", accessToken: "token-\(i)")))
        }
        try db.execute("UPDATE broker_accounts SET last_sync_at = now()")
        try db.execute("INSERT INTO account_funds (account_id, currency, available, as_of) SELECT id, 'INR', 1e12, now() FROM broker_accounts")
        try db.execute("INSERT INTO instruments (exchange, symbol, lot_size, tick_size, currency) VALUES ('NSE', 'INFY', 1, 0.05, 'INR') ON CONFLICT DO NOTHING")
        // The bench sends the same market order again and again: not a duplicate here.
        try db.execute("UPDATE platform_trading_controls SET duplicate_window = interval '0'")

        // --- the order path's services, as `tm order-worker` opens them, on this database and Redis db 10.
        var redisConfiguration = try RedisConfiguration.fromEnvironment(environment)
        redisConfiguration.database = 10
        var values = environment.values
        values["TM_DATABASE_URL"] = database.url
        values["TM_REDIS_URL"] = redisConfiguration.url
        values["TM_SECRET_KEY"] = key.exportBase64()
        values["TM_KITE_BASE_URL"] = "\(simURL)/kite"
        values["TM_QUEUES_DIR"] = values["TM_QUEUES_DIR"] ?? FileManager.default.currentDirectoryPath + "/Queues"
        let services = try await OrderServices.open(environment: TMEnvironment(process: values, envFile: nil))
        try await services.redis.send("FLUSHDB")
        let times = PhaseTimes()
        let logger = Logger(label: "order-bench")
        let gateway = BrokerGateway(keyring: services.keyring, redis: services.redis, makeAdapter: { TimedAdapter(base: services.makeAdapter($0), times: times) },
                                    observe: { _, elapsed, _ in times.add("broker call (adapter)", elapsed) }, lanes: services.lanes)
        // The real resident state (risk book, live routes), as `tm order-worker` keeps it.
        @Sendable func residentState(_ accounts: [UUID]) async throws -> ResidentState {
            let state = try ResidentState(pool: services.pool, redis: services.redis, environment: services.environment)
            try await state.load(accounts: accounts)
            state.risk.setLastPrice(1500, symbol: "INFY", exchange: "NSE")  // market data's part (issue 12)
            return state
        }
        let state = try await residentState(accounts)
        let placer = OrderPlacer(pool: services.pool, risk: state.risk, routes: state.routes, gateway: gateway, producer: services.producer,
                                 settings: OrderPlacer.Settings(brokerTimeout: services.timeouts.total), logger: logger)
        print("order-bench: group commit \(groupCommit ? "on" : "off"), lone writes \(loneWrites ? "at once" : "through the group"); \(accountCount) Kite accounts at broker-sim (no added latency, no rate limits); Postgres \(benchDB.host):\(benchDB.port), Redis db 10; load \(loadAverage())")

        let accountIDs = accounts
        func command(_ run: String, _ index: Int) -> (key: String, command: OrderCommand) {
            let key = "\(run)-\(index)"
            return (key, .place(PlaceOrder(idempotencyKey: key, accountID: accountIDs[index % accountIDs.count], symbol: "INFY", exchange: "NSE",
                                           side: .buy, quantity: 1, type: .market)))
        }
        func order(_ run: String, _ index: Int) -> (key: String, payload: [UInt8]) {
            let (key, command) = command(run, index)
            return (key, Array(command.json.text.utf8))
        }

        /// Waits until every order of `run` has its answer committed (or `timeout`), then reads each one's
        /// accepted_at; returns the latencies (ms) against `sent` and how many did not reach ACCEPTED.
        // Progress is polled in process (the broker answers the bench's adapter saw, no Postgres), and only
        // then, when every order has its answer, Postgres by the run's keys (the unique index): so the
        // CPU figures are the order path's alone (until session 21 a `LIKE` scan of `orders` every 200 ms).
        func collect(_ run: String, count: Int, answeredBefore: Int, sent: [String: Double], timeout: Duration) async throws -> (latencies: [Double], notAccepted: Int, last: Double, split: LatencySplit) {
            let deadline = ContinuousClock.now + timeout
            let keys = PostgresData.array((0..<count).map { (index: Int) -> String in "\(run)-\(index)" })
            let answered = { times.count("broker HTTP (place)") }
            let target = answeredBefore + count
            while ContinuousClock.now < deadline, answered() < target {
                try await Task.sleep(for: .milliseconds(20))
            }
            while ContinuousClock.now < deadline {
                let done: Int = try db.query("SELECT count(*)::int AS n FROM orders WHERE idempotency_key = ANY(\(keys)::text[]) AND accepted_at IS NOT NULL")
                    .rows[0].decode("n")
                if done >= count { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let rows = try db.query("""
                SELECT idempotency_key, extract(epoch FROM accepted_at)::float8 AS at,
                       extract(epoch FROM submitted_at)::float8 AS submitted FROM orders
                WHERE idempotency_key = ANY(\(keys)::text[]) AND accepted_at IS NOT NULL
                """).rows
            var latencies: [Double] = []
            var split = LatencySplit()
            var last = 0.0
            for row in rows {
                let key: String = try row.decode("idempotency_key")
                let at: Double = try row.decode("at")
                last = max(last, at)
                guard let start = sent[key] else { continue }
                latencies.append((at - start) * 1000)
                if let submitted = try row.decode("submitted", as: Double?.self) { split.add(total: (at - start) * 1000, before: (submitted - start) * 1000) }
            }
            if rows.count < count {
                // What the rest is doing, to tell a slow run from a stuck one.
                let states = try db.query("""
                    SELECT state, count(*)::int AS n FROM orders WHERE idempotency_key = ANY(\(keys)::text[]) AND accepted_at IS NULL GROUP BY state ORDER BY state
                    """).rows.map { "\(try $0.decode("state", as: String.self)) \(try $0.decode("n", as: Int.self))" }
                print("  \(run): \(count - rows.count) not accepted by the deadline; rows without acceptance: \(states.joined(separator: ", "))")
            }
            return (latencies, count - rows.count, last, split)
        }

        var figures: [Figure] = []
        func histogramFigure(_ name: String, orders: Int, perSecond: Double?, offered: Double?, latencies: [Double], notAccepted: Int, note: String) -> Figure {
            let h = LatencyHistogram(millis: latencies)
            return Figure(name: name, orders: orders, ordersPerSecond: perSecond, offeredPerSecond: offered, p50Millis: h.millis(atPercentile: 50),
                          p99Millis: h.millis(atPercentile: 99), p999Millis: h.millis(atPercentile: 99.9), maxMillis: h.maxMillis,
                          notAccepted: notAccepted, note: note)
        }

        // --- 3 first (no worker running): the serial profile of one order's time.
        // Every hop and job of each order stamped in process (`HopStamps`): the split adds up to the wall time.
        times.reset()
        var serialTotal = LatencyHistogram()
        var split = LoneOrderSplit()
        let serialCommits = groupCommit ? OrderCommits(pool: services.pool, maxBatch: 128) : nil
        let showTimeline = option("--timeline", -1)  // prints that serial order's stamps
        let serialStarted = ContinuousClock.now
        HopStamps.record(serial > 0)
        try await withTaskExecutorPreference(taskExecutor) {
        for i in 0..<serial {
            let (_, payload) = order("serial", i)
            // As the worker places a message's first delivery: no look-up first, its writes through the group commit.
            let fences = PlacementFences(fences: [MessageFence(queue: "orders", messageID: UUID().uuidString, epoch: 1)], commits: serialCommits,
                                         firstDelivery: true)
            _ = HopStamps.take()
            let start = HopStamps.now()
            _ = try? await placer.handle(payload, fences: fences)
            let end = HopStamps.now()
            let stamps = HopStamps.take()
            split.add(start: start, end: end, stamps: stamps)
            if i == showTimeline { print(LoneOrderSplit.timeline(start: start, end: end, stamps: stamps)) }
            serialTotal.record(millis: Double(end - start) / 1e6)
        }
        }
        HopStamps.record(false)
        let serialElapsed = (ContinuousClock.now - serialStarted).seconds
        let phases = times.snapshot
        let perOrder = serialElapsed / Double(max(1, serial)) * 1_000_000
        let serialKeys = PostgresData.array((0..<serial).map { (index: Int) -> String in "serial-\(index)" })
        let serialNotAccepted: Int = try db.query("SELECT count(*)::int AS n FROM orders WHERE idempotency_key = ANY(\(serialKeys)::text[]) AND accepted_at IS NULL").rows[0].decode("n")
        figures.append(histogramFigure("serial, OrderPlacer.handle direct (1 at a time)", orders: serial, perSecond: Double(serial) / serialElapsed, offered: nil,
                                       latencies: [], notAccepted: serialNotAccepted,
                                       note: String(format: "loop %.0f µs per order (the bench's own command + fence ids between orders); look-ups %d\n    ",
                                                    perOrder, phases["broker HTTP (look-up)"]?.count ?? 0) + (serial > 0 ? split.note : "")))
        figures[figures.count - 1].p50Millis = serialTotal.millis(atPercentile: 50)
        figures[figures.count - 1].p99Millis = serialTotal.millis(atPercentile: 99)
        figures[figures.count - 1].p999Millis = serialTotal.millis(atPercentile: 99.9)
        figures[figures.count - 1].maxMillis = serialTotal.maxMillis

        // --- the intake, as the API runs it: --intake-lanes intakes, each with a database connection
        // and a Redis connection of its own (their backends' CPU is the intake's), many commands per call.
        var lanes: [IntakeLane] = []
        for _ in 0..<max(1, intakeLanes) {
            lanes.append(try await IntakeLane(database: benchDB, redis: services.redisConfiguration, catalog: services.catalog))
        }
        defer { lanes.forEach { $0.close() } }
        let intakeBackends = Set(lanes.map(\.backend))
        func cpuNow() async -> PathCPU { await PathCPU.now(redis: services.redis, database: benchDB.database, intakeBackends: intakeBackends) }
        var refused = 0
        let sender = SenderThread()
        defer { sender.shutdown() }

        // --- 1. burst: every order enqueued by the intake first, then ONE worker drains them.
        let manifest = try services.catalog.manifest("orders")
        var workerSettings = OrderWorker.Settings()
        workerSettings.groupCommit = groupCommit
        workerSettings.loneWritesAtOnce = loneWrites
        workerSettings.taskExecutor = taskExecutor
        let worker = OrderWorker(manifest: manifest, redis: services.redisConfiguration, placer: placer, outbox: services.outbox, settings: workerSettings,
                                 refresh: { await state.refresh() }, beforeMessage: { try await state.checkBeforeMessage(consuming: manifest) }, logger: logger)
        var burstNote = ""
        do {
            let commands = (0..<burst).map { command("burst", $0) }
            let before = await cpuNow()
            let first = wallSeconds()
            // Each lane sends every lanes.count-th batch.
            let (laneList, step) = (lanes, intakeBatch * lanes.count)
            refused += try await withThrowingTaskGroup(of: Int.self) { group in
                for (number, lane) in laneList.enumerated() {
                    group.addTask {
                        var refused = 0
                        for chunk in stride(from: number * intakeBatch, to: commands.count, by: step) {
                            refused += try await lane.submit(commands[chunk..<min(chunk + intakeBatch, commands.count)])
                        }
                        return refused
                    }
                }
                var total = 0
                for try await count in group { total += count }
                return total
            }
            let enqueued = wallSeconds() - first
            let intakeCPU = await cpuNow() - before
            burstNote = String(format: "intake: %d orders in %.2f s (%.0f/s, %d a call, %d lanes), CPU per order µs: bench %.1f, its Postgres backends %.1f, redis-server %.1f",
                               burst, enqueued, Double(burst) / enqueued, intakeBatch, lanes.count, intakeCPU.bench * 1e6 / Double(max(burst, 1)),
                               intakeCPU.intakePostgres * 1e6 / Double(max(burst, 1)), intakeCPU.redis * 1e6 / Double(max(burst, 1)))
        }
        times.reset()
        let workerTask = Task { try await worker.run() }
        while worker.ownedShards.count < manifest.shards { try await Task.sleep(for: .milliseconds(5)) }
        if burst > 0 {  // `--burst 0`: the worker idles until the open loop (no drain figure of no orders)
            let before = await cpuNow()
            let memoryBefore = ProcessMemory.now()
            let started = wallSeconds()
            let result = try await collect("burst", count: burst, answeredBefore: 0, sent: [:], timeout: .seconds(max(60, burst / 100)))
            let used = await cpuNow() - before
            let memory = ProcessMemory.now().perOrder(since: memoryBefore, orders: burst)
            let span = result.last - started
            let profile = times.snapshot
            figures.append(Figure(name: "burst through 1 worker (drain)", orders: burst, ordersPerSecond: Double(burst - result.notAccepted) / span,
                                  offeredPerSecond: nil, notAccepted: result.notAccepted,
                                  note: burstNote + "\n    worker: " + used.perOrder(burst - result.notAccepted)
                                      + String(format: " (over %.2f s from the worker owning every shard to the last ACCEPTED, plus the bench's last poll ≤ 20 ms); broker call mean %.0f µs (HTTP %.0f µs)",
                                               span, profile["broker call (adapter)"]?.micros ?? 0, profile["broker HTTP (place)"]?.micros ?? 0)
                                      + (worker.commitCounts.map { counts in
                                          String(format: "; group commit: %d batches of %.1f writers on average, %d fallbacks, %d writes at once (alone)", counts.batches,
                                                 Double(counts.batchedWriters) / Double(max(1, counts.batches)), counts.fallbacks, worker.writesAtOnce ?? 0)
                                      } ?? "") + "; " + memory))
        }

        /// Each run starts from an idle worker: the outbox relay has published what earlier runs wrote.
        func settle() async throws {
            for _ in 0..<600 {
                let waiting: Int = try db.query("SELECT count(*)::int AS n FROM trade_event_outbox").rows[0].decode("n")
                if waiting == 0 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        // --- the idle worker's own CPU (refresh, sweep, relay, rebalance, lease renewals, the consumers'
        // blocking reads): at a low rate it is part of every order's cost. --idle seconds, after the burst settled.
        let idleSeconds = option("--idle", Double(2))
        if idleSeconds > 0 {
            try await settle()
            let before = await cpuNow()
            let clock = ContinuousClock()
            let started = clock.now
            try await Task.sleep(for: .seconds(idleSeconds))
            let used = await cpuNow() - before
            let elapsed = (clock.now - started).seconds
            print(String(format: "idle worker over %.1f s, CPU ms per second: bench %.2f, Postgres %.2f, redis-server %.2f (at 1,000 orders/s: %.1f µs per order in all)",
                         elapsed, used.bench * 1000 / elapsed, used.postgres * 1000 / elapsed, used.redis * 1000 / elapsed,
                         (used.bench + used.postgres + used.redis) / elapsed * 1e6 / 1000))
        }

        // --- 2. open loop at each offered rate (lowest first), into an idle worker: every millisecond
        // the intake sends, in one call, the orders due by then.
        for rate in rates where rate > 0 {  // `--rates 0`: no open loop (not a run of no orders)
            try await settle()
            let run = "open\(rate)"
            let count = Int(Double(rate) * seconds)
            let commands = (0..<count).map { command(run, $0) }
            var sent: [String: Double] = [:]
            let clock = ContinuousClock()
            let started = clock.now
            let startedWall = wallSeconds()
            var maxBehind = Duration.zero
            let before = await cpuNow()
            let answeredBefore = times.count("broker HTTP (place)")
            let (commitsBefore, atOnceBefore, threadsBefore) = (worker.commitCounts, worker.writesAtOnce ?? 0, ThreadCounts.ofThisProcess())
            let memoryBefore = ProcessMemory.now()
            let lane = lanes[0]
            // On the sender's own thread (`SenderThread`): the generator takes no pool thread.
            let sending = Task(executorPreference: sender) { () async throws -> (sent: [String: Double], maxBehind: Duration, refused: Int) in
                var (sent, maxBehind, refused) = ([String: Double](), Duration.zero, 0)
                var next = 0
                while next < count {
                    let nextDue = started + .nanoseconds(Int64(Double(next) / Double(rate) * 1e9))
                    SenderThread.sleep(until: nextDue)
                    let now = clock.now
                    maxBehind = max(maxBehind, now - nextDue)
                    let due = min(count, Int(((now - started).seconds * Double(rate)).rounded(.down)) + 1)
                    for index in next..<due { sent[commands[index].key] = startedWall + Double(index) / Double(rate) }
                    refused += try await lane.submit(commands[next..<due])
                    next = due
                }
                return (sent, maxBehind, refused)
            }
            let outcome = try await sending.value
            (sent, maxBehind) = (outcome.sent, outcome.maxBehind)
            refused += outcome.refused
            let offered = Double(count) / (clock.now - started).seconds
            let result = try await collect(run, count: count, answeredBefore: answeredBefore, sent: sent, timeout: .seconds(max(60, Double(count) / 100)))
            let used = await cpuNow() - before
            let threads = ThreadCounts.ofThisProcess() - threadsBefore
            let switches = Double(threads.switches) / Double(max(count, 1))
            let memory = ProcessMemory.now().perOrder(since: memoryBefore, orders: count)
            var transactions = ""
            if let after = worker.commitCounts, let commitsBefore {
                let (batches, batched) = (after.batches - commitsBefore.batches, after.batchedWriters - commitsBefore.batchedWriters)
                let atOnce = (worker.writesAtOnce ?? 0) - atOnceBefore
                transactions = String(format: "; writes: %d at once, %d in %d batches, the rest alone through the group; bench context switches per order %.1f",
                                      atOnce, batched, batches, switches)
            }
            figures.append(histogramFigure("open loop \(rate)/s, due → ACCEPTED", orders: count, perSecond: Double(count - result.notAccepted) / (result.last - startedWall),
                                           offered: offered, latencies: result.latencies, notAccepted: result.notAccepted,
                                           note: String(format: "sender at most %.1f ms behind schedule; ", maxBehind.seconds * 1000) + used.perOrder(count)
                                               + " (intake included)" + transactions + "; " + memory
                                               + "\n    bench threads by kind (context switches, CPU per order): " + threads.perOrder(count)
                                               + "\n    " + result.split.line))
        }
        if refused > 0 { print("  the intake refused \(refused) orders") }

        worker.stop()
        _ = try? await workerTask.value

        // --- 4. cold: OrderPlacerFunction, one invocation at a time.
        if cold > 0 {
            let function = OrderPlacerFunction(prepare: { accounts in
                let state = try await residentState(accounts)
                return (state.risk, state.routes)
            }, placer: { risk, routes, logger in
                OrderPlacer(pool: services.pool, risk: risk, routes: routes, gateway: gateway, producer: services.producer,
                            settings: OrderPlacer.Settings(brokerTimeout: services.timeouts.total), logger: logger)
            })
            let payloads = (0..<cold).map { order("cold", $0) }
            let answeredBefore = times.count("broker HTTP (place)")
            var sent: [String: Double] = [:]
            var invocation = LatencyHistogram()
            let started = ContinuousClock.now
            for chunk in stride(from: 0, to: payloads.count, by: batch) {
                let slice = payloads[chunk..<min(chunk + batch, payloads.count)]
                let now = wallSeconds()
                let records = slice.map { (key, payload) -> InvocationRecord in
                    sent[key] = now
                    return InvocationRecord(messageID: UUID().uuidString, key: key, queue: "orders", attempt: 1, epoch: 1,
                                            enqueuedAtMillis: Int64(now * 1000), body: String(decoding: payload, as: UTF8.self))
                }
                let request = InvocationRequest(invocationID: UUID().uuidString, function: "order-placer", attempt: 1,
                                                deadlineMillis: Int64((now + 60) * 1000), records: records)
                let start = ContinuousClock.now
                _ = await function.handle(request, context: FunctionContext(request: request, logger: logger))
                invocation.record(millis: (ContinuousClock.now - start).seconds * 1000)
            }
            let elapsed = (ContinuousClock.now - started).seconds
            let result = try await collect("cold", count: cold, answeredBefore: answeredBefore, sent: sent, timeout: .seconds(10))
            figures.append(histogramFigure("cold OrderPlacerFunction, batch \(batch)", orders: cold, perSecond: Double(cold) / elapsed, offered: nil,
                                           latencies: result.latencies, notAccepted: result.notAccepted,
                                           note: String(format: "latency from the invocation's start; invocation p50 %.1f ms, p99 %.1f ms; handler only (no spawn: see functions.json)",
                                                        invocation.millis(atPercentile: 50), invocation.millis(atPercentile: 99))))
        }

        // --- risk + route alone, from risk-bench when it ran.
        let riskPath = URL(fileURLWithPath: jsonPath).deletingLastPathComponent().appendingPathComponent("risk.json")
        if let data = try? Data(contentsOf: riskPath), let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let risk = report["figures"] as? [String: Double] {
            figures.append(Figure(name: "risk check + route alone (risk-bench)", orders: report["orders"] as? Int ?? 0, ordersPerSecond: risk["checksPerSecond"],
                                  offeredPerSecond: nil, p50Millis: risk["p50Micros"].map { $0 / 1000 }, p99Millis: risk["p99Micros"].map { $0 / 1000 },
                                  p999Millis: risk["p999Micros"].map { $0 / 1000 }, maxMillis: risk["maxMicros"].map { $0 / 1000 }, notAccepted: 0,
                                  note: "quoted from \(riskPath.lastPathComponent)"))
        }

        print()
        func column(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        let number = { (value: Double?, format: String) in value.map { String(format: format, $0) } ?? "-" }
        print("run".padding(toLength: 48, withPad: " ", startingAt: 0) + ["orders", "orders/s", "offered/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "not acc."].map { column($0, 10) }.joined())
        for f in figures {
            print(f.name.padding(toLength: 48, withPad: " ", startingAt: 0)
                  + [String(f.orders), number(f.ordersPerSecond, "%.0f"), number(f.offeredPerSecond, "%.0f"), number(f.p50Millis, "%.3f"),
                     number(f.p99Millis, "%.3f"), number(f.p999Millis, "%.3f"), number(f.maxMillis, "%.3f"), String(f.notAccepted)].map { column($0, 10) }.joined())
            print("    " + f.note)
        }
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: jsonPath).deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(figures).write(to: URL(fileURLWithPath: jsonPath))
        print("figures written to \(jsonPath)")
        await services.pool.shutdown()
        services.redis.close()
        db.close()
    }

    static func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    }

}
