import Foundation
import Testing
import TestSupport
import TMAnalytics
import TMCore
import TMQueue

/// `tm analytics recompute` and `tm analytics status` as an operator runs them: the `tm` process,
/// with the repository's analytics-batch manifest and analytics queue (renamed for this test).
@Suite(.serialized, .timeLimit(.minutes(2))) struct RunCLITests {
    /// A temporary Queues/ and Functions/ holding the shipped analytics queue and analytics-batch
    /// manifest, renamed to the fixture's queue; the environment `tm` and `tm dispatch` need.
    static func environment(_ f: RunFixture, root: URL, extra: [String: String] = [:]) throws -> [String: String] {
        for folder in ["Queues", "Functions/analytics-batch", "Schedules"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let repository = TestServers.repositoryRoot
        let queue = try String(contentsOf: repository.appendingPathComponent("Queues/analytics.yaml"), encoding: .utf8)
        try queue.replacingOccurrences(of: "\nname: analytics\n", with: "\nname: \(f.queue.name)\n")
            .replacingOccurrences(of: "visibility_timeout: 30s", with: "visibility_timeout: 3s")
            .write(to: root.appendingPathComponent("Queues/\(f.queue.name).yaml"), atomically: true, encoding: .utf8)
        var function = try String(contentsOf: repository.appendingPathComponent("Functions/analytics-batch/function.yaml"), encoding: .utf8)
        function = function.replacingOccurrences(of: "  queue: analytics\n", with: "  queue: \(f.queue.name)\n")
            .replacingOccurrences(of: "  ANALYTICS_RUN_QUEUE: analytics\n", with: "  ANALYTICS_RUN_QUEUE: \(f.queue.name)\n")
            .replacingOccurrences(of: "  ANALYTICS_RUN_CHUNK_USERS: \"500\"\n", with: "  ANALYTICS_RUN_CHUNK_USERS: \"4\"\n")
            .replacingOccurrences(of: "  ANALYTICS_RUN_BATCH_USERS: \"50\"\n", with: "  ANALYTICS_RUN_BATCH_USERS: \"2\"\n")
            .replacingOccurrences(of: "backoff: {base: 2s, cap: 1m, jitter: full}", with: "backoff: {base: 100ms, cap: 500ms, jitter: full}")
        for (name, value) in extra.sorted(by: { $0.key < $1.key }) { function = function.replacingOccurrences(of: "environment:\n", with: "environment:\n  \(name): \(value)\n") }
        try function.write(to: root.appendingPathComponent("Functions/analytics-batch/function.yaml"), atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = f.database.url
        environment["TM_QUEUES_DIR"] = root.appendingPathComponent("Queues").path
        environment["TM_FUNCTIONS_DIR"] = root.appendingPathComponent("Functions").path
        environment["TM_SCHEDULES_DIR"] = root.appendingPathComponent("Schedules").path
        return environment
    }

    static var tm: String { TestServers.productsDirectory.appendingPathComponent("tm").path }

    @Test func statusShowsTheLatestRunAndRecomputeStartsAManualRunCutLikeTheNightly() async throws {
        let f = try await RunFixture(users: 9)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("analytics-cli"))
        defer { try? FileManager.default.removeItem(at: root) }
        let environment = try Self.environment(f, root: root)

        let none = try await runProcess(Self.tm, ["analytics", "status"], environment: environment)
        #expect(none.status == 0 && none.output.contains("no analytics run yet"), "\(none.output)")

        let started = try await runProcess(Self.tm, ["analytics", "recompute"], environment: environment)
        #expect(started.status == 0 && started.output.contains("started (manual): 9 user(s) in 3 chunk(s)"), "\(started.output)")
        #expect(try await f.queuedMessages() == 3, "chunked by the manifest's ANALYTICS_RUN_CHUNK_USERS, on its queue")
        let run: UUID = try await f.pool.query("SELECT id FROM analytics_runs").rows[0].decode("id")

        let again = try await runProcess(Self.tm, ["analytics", "recompute"], environment: environment)
        #expect(again.status != 0 && again.output.contains("skipped: run \(run.uuidString.lowercased()) is still running"), "\(again.output)")

        // One chunk done: status says so, plain lines (stdout is a pipe), and as JSON.
        _ = try await AnalyticsChunkWorker(pool: f.pool, recomputer: CountingRecomputer(), batchUsers: 2).process(run: run, chunk: 0, fence: nil)
        let status = try await runProcess(Self.tm, ["analytics", "status"], environment: environment)
        #expect(status.status == 0, "\(status.output)")
        #expect(status.output.contains("run \(run.uuidString.lowercased()) (manual): running"))
        #expect(status.output.contains("users: 4 / 9 done (44.4%); chunks: 1 / 3; fills: 40"))
        #expect(status.output.contains("users/s") && status.output.contains("; ETA "))
        #expect(!status.output.contains("[#") && !status.output.contains("\u{1B}"), "no bar, no escapes when not a terminal")
        let json = try await runProcess(Self.tm, ["analytics", "status", "--json"], environment: environment)
        let document = try JSONValue.parse(json.output)
        #expect(document["users_done"] == .number("4") && document["users_total"] == .number("9") && document["state"] == .string("running"))
        #expect(document["eta_seconds"] != .null)
        await f.cleanUp()
    }

    /// One user now, without a run: their analytics rows written (no run id), the summary printed.
    @Test func recomputeOneUserNow() async throws {
        let f = try await RunFixture(users: 2)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("analytics-cli"))
        defer { try? FileManager.default.removeItem(at: root) }
        let environment = try Self.environment(f, root: root)
        let (user, bystander) = (f.users[0], f.users[1])
        let email: String = try await f.pool.withConnection { db in
            let account: UUID = try db.query("INSERT INTO broker_accounts (user_id, broker, label) VALUES (\(user), 'kite', 'main') RETURNING id").rows[0].decode("id")
            try db.execute("""
                INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, fees, traded_at) VALUES
                  (\(account), 'T1', 'INFY', 'NSE', 'buy', 10, 100, 1, '2026-12-01T04:00:00Z'),
                  (\(account), 'T2', 'INFY', 'NSE', 'sell', 10, 110, 1, '2026-12-02T04:00:00Z')
                """)
            return try db.query("SELECT email FROM users WHERE id = \(user)").rows[0].decode("email")
        }
        let result = try await runProcess(Self.tm, ["analytics", "recompute", "--user", email.uppercased()], environment: environment)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("recomputed \(email.uppercased()) (\(user.uuidString.lowercased())): 2 fill(s) in 1 currency group(s), "), "\(result.output)")
        let rows = try await f.pool.query("SELECT count(*) AS n, count(run_id) AS with_run, sum(realized_pnl) FILTER (WHERE period = 'all') AS pnl FROM analytics WHERE user_id = \(user)").rows[0]
        #expect(try rows.decode("n", as: Int.self) > 0 && rows.decode("with_run", as: Int.self) == 0)
        #expect(try rows.decode("pnl", as: Decimal.self) == 98, "(110 - 100) x 10 - 2 fees")
        #expect(result.output.contains("\(try rows.decode("n", as: Int.self)) analytics row(s) written"))
        #expect(try await f.pool.query("SELECT count(*) AS n FROM analytics WHERE user_id = \(bystander)").rows[0].decode("n", as: Int.self) == 0)
        #expect(try await f.pool.query("SELECT count(*) AS n FROM analytics_runs").rows[0].decode("n", as: Int.self) == 0, "no run")
        await f.cleanUp()
    }

    @Test func badInputNamesTheFieldAndTheReason() async throws {
        let f = try await RunFixture(users: 1)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("analytics-cli"))
        defer { try? FileManager.default.removeItem(at: root) }
        let environment = try Self.environment(f, root: root)
        let nobody = try await runProcess(Self.tm, ["analytics", "recompute", "--user", "nobody@test.tm.local"], environment: environment)
        #expect(nobody.status != 0 && nobody.output.contains("--user: no user 'nobody@test.tm.local'"), "\(nobody.output)")
        let both = try await runProcess(Self.tm, ["analytics", "recompute", "--user", "x@y.z", "--wait"], environment: environment)
        #expect(both.status != 0 && both.output.contains("--wait: only for a run of every user"), "\(both.output)")
        #expect(try await f.pool.query("SELECT count(*) AS n FROM analytics_runs").rows[0].decode("n", as: Int.self) == 0)
        await f.cleanUp()
    }
}
