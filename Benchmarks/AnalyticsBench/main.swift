// analytics-bench: the nightly analytics recompute (issue 13) end to end — every user's whole
// history read from Postgres (one binary COPY per chunk), matched and aggregated by
// AnalyticsEngine, the users' rows of `analytics` replaced, their cache keys dropped — for
// 10,000 users × 1,000 fills (10 million) by default.
//
//   analytics-bench [--users 10000] [--fills 1000] [--chunk 100] [--workers 3]
//                   [--write delete-copy|upsert] [--runs 1] [--cold] [--fresh] [--json bench-results/analytics.json]
//
// `--cold` empties `analytics` before each run (every row written); without it a run starts from
// what the previous one left (a second run over the same fills: the warm night, nothing changed,
// nothing rewritten).
//
// The work runs as `--workers` concurrent AnalyticsPipeline.recompute calls in this process (tasks,
// each with a pool connection; the queue fan-out of analytics-batch is not involved), each taking
// the next chunk of `--chunk` users, as the batch's workers would.
//
// The fixture lives in its own database, `tm_analytics_bench_<users>x<fills>` on the configured
// server, kept between runs (`--fresh` rebuilds it). It is generated server-side (INSERT ...
// SELECT over generate_series, in two sessions, indexes built afterwards): 200 NSE instruments;
// each user has a kite account (every fourth user an upstox one as well, taking alternate fills),
// 9 in 10 a capital of 1,000,000 INR, and 8 symbols traded in rounds of four fills — open, add,
// a partial close of 3/4, the rest closed — one round a weekday over a year, one round in three
// held five trading days (swing), one user-round in five short; fees 0.03 % of the notional.
//
// Needs TM_DATABASE_URL and TM_REDIS_URL (or TM_ENV_FILE; `make bench` uses the test servers).
// Redis database 11 (no prices cached: open lots are marked at their last fill).
import BenchFixtures
import BenchSupport
import Foundation
import Logging
import TMAnalytics
import TMCore
import TMDatabase
import TMPostgres
import TMRedis

struct Figures: Codable {
    var users: Int
    var fillsPerUser: Int
    var fills: Int
    var groups: Int
    var rowsWritten: Int
    /// Rows computed but already stored as they are (not rewritten).
    var rowsUnchanged: Int
    /// Whether `analytics` was emptied before the run.
    var cold: Bool
    var chunk: Int
    var workers: Int
    var writeStrategy: String
    var seconds: Double
    var fillsPerSecond: Double
    var usersPerSecond: Double
    /// Summed over the workers (they overlap): each phase's share of the work.
    var readSeconds: Double
    var pricesSeconds: Double
    var engineSeconds: Double
    var writeSeconds: Double
    var cacheSeconds: Double
    /// CPU seconds during the run: this process (parse, engine, encoding) and the Postgres backends.
    var swiftCPUSeconds: Double
    var postgresCPUSeconds: Double?
    var note: String
}

func cpuSecondsOfSelf() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

enum Fixture {
    /// Creates (or reuses) the fixture database; returns its configuration.
    static func prepare(users: Int, fills: Int, fresh: Bool, environment: TMEnvironment) throws -> PostgresConfiguration {
        var server = try PostgresConfiguration.fromEnvironment(environment)
        server.database = "postgres"
        var configuration = server
        configuration.database = "tm_analytics_bench_\(users)x\(fills)"
        let admin = try PostgresConnection(configuration: server)
        defer { admin.close() }
        let exists = try admin.query("SELECT count(*)::int AS n FROM pg_database WHERE datname = \(configuration.database)").rows[0].decode("n", as: Int.self) == 1
        if exists && !fresh {
            let db = try PostgresConnection(configuration: configuration)
            defer { db.close() }
            let ready = try db.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'bench_fixture_ready'").rows[0].decode("n", as: Int.self) == 1
            if ready {
                // Migrations added since the fixture was made (the analytics table's shape).
                try Migrator(connection: db, migrations: try MigrationCatalog.bundled()).migrate()
                print("fixture: reusing \(configuration.database)")
                return configuration
            }
        }
        try admin.simpleQuery("DROP DATABASE IF EXISTS \(configuration.database) WITH (FORCE)")
        try admin.simpleQuery("CREATE DATABASE \(configuration.database)")
        let started = ContinuousClock.now
        let db = try PostgresConnection(configuration: configuration)
        defer { db.close() }
        try Migrator(connection: db, migrations: try MigrationCatalog.bundled()).migrate()
        // Numbered users and their accounts, kept in a table both generating sessions read.
        try db.simpleQuery("""
            INSERT INTO instruments (exchange, symbol, currency, tick_size)
            SELECT 'NSE', 'SYM' || lpad(s::text, 3, '0'), 'INR', 0.01 FROM generate_series(0, 199) s;
            CREATE TABLE bench_accounts AS
            SELECT n, gen_random_uuid() AS user_id, gen_random_uuid() AS kite,
                   CASE WHEN n % 4 = 0 THEN gen_random_uuid() END AS upstox
            FROM generate_series(1, \(users)) n;
            INSERT INTO users (id, email, capital, capital_currency)
            SELECT user_id, 'bench-' || n || '@test.local', CASE WHEN n % 10 <> 0 THEN 1000000 END, CASE WHEN n % 10 <> 0 THEN 'INR' END
            FROM bench_accounts;
            INSERT INTO broker_accounts (id, user_id, broker, label) SELECT kite, user_id, 'kite', 'kite' FROM bench_accounts;
            INSERT INTO broker_accounts (id, user_id, broker, label) SELECT upstox, user_id, 'upstox', 'upstox' FROM bench_accounts WHERE upstox IS NOT NULL;
            ALTER TABLE trades DROP CONSTRAINT trades_pkey, DROP CONSTRAINT trades_broker_trade_id_key;
            DROP INDEX trades_account_traded_idx, trades_unlinked_idx, trades_order_idx;
            """)
        // Two sessions (the machine's two cores), each inserting half of the users' fills.
        let halves = [(1, users / 2), (users / 2 + 1, users)]
        let errors = Locked<[Error]>([])
        let done = DispatchGroup()
        let fixtureConfiguration = configuration
        for range in halves {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do {
                    let session = try PostgresConnection(configuration: fixtureConfiguration)
                    defer { session.close() }
                    try session.simpleQuery(insertSQL(from: range.0, to: range.1, fills: fills))
                } catch {
                    errors.withLock { $0.append(error) }
                }
            }
        }
        done.wait()
        if let error = errors.withLock({ $0.first }) { throw error }
        try db.simpleQuery("""
            SET maintenance_work_mem = '512MB';
            ALTER TABLE trades ADD PRIMARY KEY (id), ADD CONSTRAINT trades_broker_trade_id_key UNIQUE (account_id, broker_trade_id);
            CREATE INDEX trades_account_traded_idx ON trades (account_id, traded_at);
            CREATE INDEX trades_order_idx ON trades (order_id) WHERE order_id IS NOT NULL;
            CREATE INDEX trades_unlinked_idx ON trades (account_id, broker_order_id) WHERE order_id IS NULL;
            """)
        try db.simpleQuery("VACUUM (ANALYZE) trades")
        try db.simpleQuery("ANALYZE")
        try db.simpleQuery("CREATE TABLE bench_fixture_ready (users int, fills int)")
        print("fixture: generated \(configuration.database) (\(users) users × \(fills) fills) in \(format(ContinuousClock.now - started))")
        return configuration
    }

    /// Users `from...to`'s fills, in rounds of four per symbol (see the header).
    static func insertSQL(from: Int, to: Int, fills: Int) -> String {
        """
        INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, fees, traded_at)
        SELECT CASE WHEN a.upstox IS NOT NULL AND k % 2 = 1 THEN a.upstox ELSE a.kite END,
               'T' || k,
               'SYM' || lpad(y.s::text, 3, '0'),
               'NSE',
               CASE WHEN (x.j < 2) = ((x.g + a.n) % 5 <> 0) THEN 'buy' ELSE 'sell' END,
               z.q, z.price, round(z.price * z.q * 0.0003, 2),
               timestamptz '2025-01-06 03:45:00+00' + make_interval(days => (y.d / 5) * 7 + y.d % 5)
                   + x.j * interval '47 minutes' + (a.n % 60) * interval '1 second'
        FROM bench_accounts a
        CROSS JOIN generate_series(0, \(fills - 1)) k
        CROSS JOIN LATERAL (SELECT k / 4 AS g, k % 4 AS j) x
        CROSS JOIN LATERAL (SELECT 2 * (5 + (a.n + x.g) % 45) AS q0,
                                   x.g + CASE WHEN x.j >= 2 AND x.g % 3 = 0 THEN 5 ELSE 0 END AS d,
                                   (a.n * 37 + (x.g % 8) * 13) % 200 AS s) y
        CROSS JOIN LATERAL (SELECT CASE x.j WHEN 0 THEN y.q0 WHEN 1 THEN y.q0 WHEN 2 THEN y.q0 * 3 / 2 ELSE y.q0 / 2 END AS q,
                                   round(((100 + y.s * 10) * (1 + 0.03 * sin(x.g * 0.7 + a.n)
                                       + 0.004 * x.j * CASE WHEN (x.g + a.n) % 3 = 0 THEN -1 ELSE 1 END))::numeric, 2) AS price) z
        WHERE a.n BETWEEN \(from) AND \(to)
        ORDER BY a.n, k
        """
    }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func format(_ d: Duration) -> String { String(format: "%.2f s", seconds(d)) }

@main
enum AnalyticsBench {
    static let usage = """
        analytics-bench [--users 10000] [--fills 1000] [--chunk 100] [--workers 3]
                        [--write delete-copy|upsert] [--runs 1] [--cold] [--fresh] [--json bench-results/analytics.json]
        Needs TM_DATABASE_URL and TM_REDIS_URL (or TM_ENV_FILE).
        """

    static func main() async {
        await BenchCommand.run("analytics-bench", usage: usage) { try await run() }
    }

    static func run() async throws {
        setenv("TM_LOG_LEVEL", "error", 0)
        JSONLogHandler.bootstrap()
        let users = option("--users", 10000)
        let fills = option("--fills", 1000)
        let chunk = option("--chunk", 100)
        let workers = option("--workers", 3)
        let runs = option("--runs", 1)
        let strategyName = option("--write", ReportWriter.Strategy.deleteAndCopy.rawValue)
        guard let strategy = ReportWriter.Strategy(rawValue: strategyName) else {
            FileHandle.standardError.write(Data("analytics-bench: --write is delete-copy or upsert\n".utf8))
            exit(2)
        }
        let jsonPath = option("--json", "bench-results/analytics.json")
        let fresh = CommandLine.arguments.contains("--fresh")
        let cold = CommandLine.arguments.contains("--cold")
        let environment = TMEnvironment.current()

        let configuration = try Fixture.prepare(users: users, fills: fills, fresh: fresh, environment: environment)
        let pool = PostgresPool(configuration: configuration, size: workers)
        var redisConfiguration = try RedisConfiguration.fromEnvironment(environment)
        redisConfiguration.database = 11
        let redis = try await RedisClient(configuration: redisConfiguration, name: "analytics-bench")
        defer { redis.close() }
        let pipeline = AnalyticsPipeline(pool: pool, redis: redis, writeStrategy: strategy)
        let ids: [UUID] = try await pool.query("SELECT id FROM users ORDER BY id").rows.map { try $0.decode("id") }
        let chunks = stride(from: 0, to: ids.count, by: chunk).map { Array(ids[$0..<min($0 + chunk, ids.count)]) }
        print("analytics-bench: \(ids.count) users × \(fills) fills, chunks of \(chunk), \(workers) concurrent pipelines, write \(strategy.rawValue), \(ProcessInfo.processInfo.activeProcessorCount) cores")

        var all: [Figures] = []
        for run in 1...runs {
            if cold { _ = try await pool.execute("TRUNCATE analytics") }
            let backendsBefore = try await backendCPU(pool)
            let cpuBefore = cpuSecondsOfSelf()
            let started = ContinuousClock.now
            let next = Locked(0)
            let total = try await withThrowingTaskGroup(of: RecomputeSummary.self) { group in
                for _ in 0..<workers {
                    group.addTask {
                        var summary = RecomputeSummary()
                        while true {
                            let index = next.withLock { value -> Int in defer { value += 1 }; return value }
                            guard index < chunks.count else { return summary }
                            summary += try await pipeline.recompute(users: chunks[index], runID: UUID())
                        }
                    }
                }
                var total = RecomputeSummary()
                for try await summary in group { total += summary }
                return total
            }
            let elapsed = ContinuousClock.now - started
            let swiftCPU = cpuSecondsOfSelf() - cpuBefore
            let backendsAfter = try await backendCPU(pool)
            let postgresCPU = backendsAfter.map { after in after.reduce(0) { sum, entry in sum + entry.value - (backendsBefore?[entry.key] ?? 0) } }
            let wall = seconds(elapsed)
            let figure = Figures(
                users: total.users, fillsPerUser: fills, fills: total.fills, groups: total.groups, rowsWritten: total.rowsWritten,
                rowsUnchanged: total.rowsUnchanged, cold: cold,
                chunk: chunk, workers: workers, writeStrategy: strategy.rawValue, seconds: wall,
                fillsPerSecond: Double(total.fills) / wall, usersPerSecond: Double(total.users) / wall,
                readSeconds: seconds(total.read), pricesSeconds: seconds(total.prices), engineSeconds: seconds(total.engine),
                writeSeconds: seconds(total.write), cacheSeconds: seconds(total.cache),
                swiftCPUSeconds: swiftCPU, postgresCPUSeconds: postgresCPU,
                note: "run \(run); phases summed over \(workers) concurrent pipelines; CPU = this process + the pool's Postgres backends")
            all.append(figure)
            print(table(figure))
        }
        await pool.shutdown()
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: jsonPath).deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(["figures": all]).write(to: URL(fileURLWithPath: jsonPath))
        print("figures written to \(jsonPath)")
    }

    /// CPU seconds so far of each Postgres backend serving this database (by pid); nil off Linux.
    static func backendCPU(_ pool: PostgresPool) async throws -> [Int: Double]? {
        let pids: [Int] = try await pool.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database()").rows.map { try $0.decode("pid") }
        var result: [Int: Double] = [:]
        for pid in pids {
            guard let cpu = ProcessCPU.stat(Int32(pid))?.seconds else { return nil }
            result[pid] = cpu
        }
        return result
    }

    static func table(_ f: Figures) -> String {
        let phases = f.readSeconds + f.pricesSeconds + f.engineSeconds + f.writeSeconds + f.cacheSeconds
        func share(_ s: Double) -> String { String(format: "%7.2f s  %5.1f %%", s, phases > 0 ? s / phases * 100 : 0) }
        var lines = [
            String(format: "%@ users × %d fills = %d fills (%d user-currency groups) → %d rows written, %d unchanged (%@ table)",
                   "\(f.users)", f.fillsPerUser, f.fills, f.groups, f.rowsWritten, f.rowsUnchanged, f.cold ? "emptied" : "warm"),
            String(format: "  time                %8.2f s   (target ≤ 60 s)", f.seconds),
            String(format: "  fills/s             %10.0f", f.fillsPerSecond),
            String(format: "  users/s             %10.1f", f.usersPerSecond),
            "  phase (summed over workers)   time    share",
            "    read + parse (COPY)   " + share(f.readSeconds),
            "    prices (Redis)        " + share(f.pricesSeconds),
            "    engine (match+agg)    " + share(f.engineSeconds),
            "    write (COPY+replace)  " + share(f.writeSeconds),
            "    cache invalidation    " + share(f.cacheSeconds),
            String(format: "  CPU: Swift process %.2f s", f.swiftCPUSeconds)
                + (f.postgresCPUSeconds.map { String(format: ", Postgres backends %.2f s (of %.2f s wall × 2 cores)", $0, f.seconds) } ?? ""),
        ]
        lines.insert("", at: 0)
        return lines.joined(separator: "\n")
    }
}
