import ArgumentParser
import Foundation
import TMAnalytics
import TMCore
import TMPortfolio
import TMPostgres
import TMQueue
import TMRedis

/// What the run commands open: Postgres, Redis, the queues, and the run settings of the
/// analytics-batch manifest (its `environment:`), so a manual run is cut like the nightly one.
struct AnalyticsRunSystem {
    let pool: PostgresPool
    let redis: RedisClient
    let queues: QueueSystem
    let settings: AnalyticsRunSettings

    static func open() async throws -> AnalyticsRunSystem {
        let queues = try await QueueSystem.open(clientName: "tm-analytics")
        let settings = try AnalyticsRunSettings.fromEnvironment(queues.functions["analytics-batch"]?.environment ?? [:])
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(queues.environment), size: 2)
        return AnalyticsRunSystem(pool: pool, redis: queues.redis, queues: queues, settings: settings)
    }

    var starter: AnalyticsRunStarter {
        AnalyticsRunStarter(pool: pool, redis: redis, producer: QueueProducer(redis: redis, catalog: queues.catalog), settings: settings)
    }

    func latest() async throws -> AnalyticsRunProgress? {
        try await pool.withConnection { db in
            try AnalyticsRunStore.latest(db).map { AnalyticsRunProgress(run: $0, now: try AnalyticsRunStore.now(db)) }
        }
    }

    func progress(of run: UUID) async throws -> AnalyticsRunProgress? {
        try await pool.withConnection { db in
            try AnalyticsRunStore.run(db, id: run).map { AnalyticsRunProgress(run: $0, now: try AnalyticsRunStore.now(db)) }
        }
    }

    func close() async {
        await pool.shutdown()
        queues.close()
    }
}

/// `tm analytics recompute [--user U] [--wait]`.
struct AnalyticsRecompute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recompute", abstract: "Recompute every user's analytics (a manual run), or one user's now.",
        discussion: """
            Without --user: starts a manual run like the nightly one — every user, in chunks on the analytics queue, worked by
            the dispatcher's analytics-batch invocations (make up runs them) — and returns; --wait follows it to the end.
            Refused while another run is going (tm analytics status shows it).
            With --user (email or id): recomputes that user now, in this process, and prints what it wrote.
            """)
    @Option(help: "One user's email or id: recompute now and print a summary.") var user: String?
    @Flag(help: "Wait for the run to finish, showing its progress (not with --user).") var wait = false

    func validate() throws {
        if user != nil && wait { throw ValidationError("--wait: only for a run of every user (--user recomputes at once)") }
        if let user, user.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--user: empty (give an email or a user id)") }
    }

    func run() async throws {
        let system = try await AnalyticsRunSystem.open()
        if let user {
            let id: UUID
            do { id = try await system.pool.withConnection { try PortfolioRows.user($0, named: user) } } catch PortfolioError.noUser {
                throw ValidationError("--user: no user '\(user)' (give an email or a user id)")
            }
            let summary = try await AnalyticsBatchServices.standardRecomputer(pool: system.pool, redis: system.redis, environment: system.queues.environment)
                .recompute(users: [id], runID: nil)
            print("recomputed \(user) (\(id.uuidString.lowercased())): \(summary.fills) fill(s) in \(summary.groups) currency group(s), "
                  + "\(summary.rowsWritten) analytics row(s) written; its cached analytics dropped")
            print("took: read \(DurationText.format(summary.read)), prices \(DurationText.format(summary.prices)), engine \(DurationText.format(summary.engine)), "
                  + "write \(DurationText.format(summary.write)), cache \(DurationText.format(summary.cache))")
            return
        }
        let begun = try await system.starter.start(AnalyticsRunRequest(kind: .manual))
        print(AnalyticsBatchFunction.describe(begun))
        let run: UUID
        switch begun {
        case .started(let started): run = started.id
        case .existing(let existing): run = existing.id
        case .skipped: throw ExitCode(1)
        }
        guard wait else { return }
        let terminal = isatty(STDOUT_FILENO) == 1
        var lastLine = ""
        while true {
            guard let progress = try await system.progress(of: run) else { throw ValidationError("run \(run) disappeared") }
            if terminal {
                print("\r\u{1B}[2K" + progress.bar() + "  " + AnalyticsStatus.summary(progress), terminator: "")
                fflush(nil)  // all streams: `stdout` itself is not concurrency-safe to name
            } else {
                let line = AnalyticsStatus.summary(progress)
                if line != lastLine { print(line); lastLine = line }
            }
            if progress.run.state != .running {
                if terminal { print("") }
                progress.lines.forEach { print($0) }
                if progress.run.state != .done { throw ExitCode(1) }
                return
            }
            try await Task.sleep(for: .seconds(1))
        }
    }
}

/// `tm analytics status [--json]`.
struct AnalyticsStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The latest analytics run: users done / total, rate, ETA.",
        discussion: "With a progress bar when stdout is a terminal; plain lines otherwise (or --json).")
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        let system = try await AnalyticsRunSystem.open()
        guard let progress = try await system.latest() else {
            print(json ? "null" : "no analytics run yet (the analytics-nightly schedule starts one at 02:00 UTC; tm analytics recompute starts one now)")
            return
        }
        if json {
            print(progress.json.prettyText)
            return
        }
        if isatty(STDOUT_FILENO) == 1 { print(progress.bar(width: 40)) }
        progress.lines.forEach { print($0) }
    }

    /// One line of progress: `120 / 1000 users, 12.0 users/s, ETA 1m13s`.
    static func summary(_ progress: AnalyticsRunProgress) -> String {
        var line = "\(progress.run.usersDone) / \(progress.run.usersTotal) users"
        if let rate = progress.usersPerSecond { line += String(format: ", %.1f users/s", rate) }
        if let eta = progress.etaSeconds { line += ", ETA " + DurationText.format(.milliseconds(Int64(eta * 1000))) }
        return line + " (\(progress.run.state.rawValue))"
    }
}
