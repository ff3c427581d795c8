import Foundation
import TMPostgres

/// The SQL of `analytics_runs` and `analytics_run_users` (migration 0020): starting a run, a
/// chunk's pending users, marking users done, completing the run, and what status shows.
///
/// Guarantees: a slot's run is found before one is made (and `slot_key` is unique), so one slot
/// is one run; a run's users and their chunks are fixed in the transaction that creates it; a
/// user is counted done once (`done_at IS NULL` guards the count); a run is done only once none
/// of its users is pending.
public enum AnalyticsRunStore {
    /// What starting a run did.
    public enum Begin: Sendable, Equatable {
        /// A new run (state `running`, or `done` at once when there are no users).
        case started(AnalyticsRun)
        /// The slot's run already exists (the slot fired again): nothing new.
        case existing(AnalyticsRun)
        /// Another run is still going and the overlap policy is `skip`: the nightly slot's run is
        /// recorded `skipped` (a manual request records nothing: `skipped` is nil).
        case skipped(AnalyticsRun?, runningRun: AnalyticsRun)
    }

    /// Starts a run in the caller's transaction (hold the run lock around it, see `AnalyticsRunStarter`).
    /// A running run without progress for `stallAfter` is marked failed first: its chunks were
    /// dead-lettered or lost, and it must not block every later night.
    public static func begin(_ db: PostgresConnection, _ request: AnalyticsRunRequest, id: UUID = UUID(),
                             chunkUsers: Int, stallAfter: Duration) throws -> Begin {
        precondition(chunkUsers > 0, "a chunk holds at least one user")
        if let key = request.slotKey, let existing = try run(db, where: "r.slot_key = \(key)") {
            return .existing(existing)
        }
        try db.execute("""
            UPDATE analytics_runs SET state = 'failed', finished_at = now(),
                   error = 'stalled: no progress since ' || to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            WHERE state = 'running' AND updated_at < now() - make_interval(secs => \(Double(stallAfter.milliseconds) / 1000))
            """)
        if request.overlap == .skip, let running = try run(db, where: "r.state = 'running'") {
            guard request.kind == .nightly else { return .skipped(nil, runningRun: running) }
            try db.execute("""
                INSERT INTO analytics_runs (id, kind, slot, slot_key, state, finished_at, error)
                VALUES (\(id), \(request.kind.rawValue), \(request.slot), \(request.slotKey), 'skipped', now(),
                        \("run \(running.id.uuidString.lowercased()) was still running (overlap: skip)"))
                """)
            return .skipped(try run(db, id: id), runningRun: running)
        }
        try db.execute("""
            INSERT INTO analytics_runs (id, kind, slot, slot_key, state)
            VALUES (\(id), \(request.kind.rawValue), \(request.slot), \(request.slotKey), 'running')
            """)
        let users = try db.execute("""
            INSERT INTO analytics_run_users (run_id, user_id, chunk)
            SELECT \(id), u.id, ((row_number() OVER (ORDER BY u.id)) - 1) / \(chunkUsers) FROM users u
            """)
        try db.execute("""
            UPDATE analytics_runs SET users_total = \(users), chunks_total = \((users + chunkUsers - 1) / chunkUsers),
                   state = CASE WHEN \(users) = 0 THEN 'done' ELSE 'running' END,
                   finished_at = CASE WHEN \(users) = 0 THEN now() END
            WHERE id = \(id)
            """)
        return .started(try run(db, id: id)!)
    }

    /// The chunks of a run that still have pending users (what a fan-out enqueues).
    public static func pendingChunks(_ db: PostgresConnection, run: UUID) throws -> [Int] {
        try db.query("SELECT DISTINCT chunk FROM analytics_run_users WHERE run_id = \(run) AND done_at IS NULL ORDER BY chunk")
            .rows.map { try $0.decode("chunk") }
    }

    /// The users of one chunk this run has not finished, in id order.
    public static func pendingUsers(_ db: PostgresConnection, run: UUID, chunk: Int) throws -> [UUID] {
        try db.query("""
            SELECT user_id FROM analytics_run_users
            WHERE run_id = \(run) AND chunk = \(chunk) AND done_at IS NULL
            ORDER BY user_id
            """).rows.map { try $0.decode("user_id") }
    }

    /// Counts that the run starts recomputing `users` (before it does: a crash between the two
    /// shows as a second recomputation).
    public static func recordAttempt(_ db: PostgresConnection, run: UUID, users: [UUID]) throws {
        try db.execute("""
            UPDATE analytics_run_users SET recomputations = recomputations + 1
            WHERE run_id = \(run) AND user_id = ANY(\(PostgresArrayText.uuids(users))::uuid[])
            """)
    }

    /// Marks `users` done and adds them (those not done before) and `fills` to the run's progress.
    /// Returns how many were newly done.
    @discardableResult
    public static func markDone(_ db: PostgresConnection, run: UUID, users: [UUID], fills: Int) throws -> Int {
        let done = try db.execute("""
            UPDATE analytics_run_users SET done_at = now()
            WHERE run_id = \(run) AND user_id = ANY(\(PostgresArrayText.uuids(users))::uuid[]) AND done_at IS NULL
            """)
        try db.execute("""
            UPDATE analytics_runs SET users_done = users_done + \(done), fills = fills + \(done > 0 ? fills : 0), updated_at = now()
            WHERE id = \(run)
            """)
        return done
    }

    /// Marks the run done when none of its users is pending. True when this call finished it.
    @discardableResult
    public static func completeIfFinished(_ db: PostgresConnection, run: UUID) throws -> Bool {
        try db.execute("""
            UPDATE analytics_runs SET state = 'done', finished_at = now(), updated_at = now()
            WHERE id = \(run) AND state = 'running'
              AND NOT EXISTS (SELECT 1 FROM analytics_run_users WHERE run_id = \(run) AND done_at IS NULL)
            """) == 1
    }

    /// Keeps a chunk's failure on the run (while it runs, the latest one), for status.
    public static func noteFailure(_ db: PostgresConnection, run: UUID, error: String) throws {
        try db.execute("UPDATE analytics_runs SET error = \(String(error.prefix(500))), updated_at = now() WHERE id = \(run) AND state = 'running'")
    }

    public static func run(_ db: PostgresConnection, id: UUID) throws -> AnalyticsRun? {
        try run(db, where: "r.id = \(id)")
    }

    /// The latest run that did work (skipped slots are not runs to watch), or nil before the first.
    public static func latest(_ db: PostgresConnection) throws -> AnalyticsRun? {
        try run(db, where: "r.state <> 'skipped'")
    }

    /// The database's clock, so rates and ETAs use the same clock as the rows' times.
    public static func now(_ db: PostgresConnection) throws -> Date {
        try db.query("SELECT now() AS now").rows[0].decode("now")
    }

    /// The newest run matching `condition` (on `analytics_runs r`), with its finished chunks counted.
    static func run(_ db: PostgresConnection, where condition: PostgresQuery) throws -> AnalyticsRun? {
        guard let row = try db.query("""
            SELECT r.id, r.kind, r.slot, r.state, r.users_total, r.users_done, r.chunks_total, r.fills,
                   r.started_at, r.updated_at, r.finished_at, r.error,
                   (SELECT count(*) FROM (SELECT 1 FROM analytics_run_users c WHERE c.run_id = r.id
                                          GROUP BY c.chunk HAVING bool_and(c.done_at IS NOT NULL)) d) AS chunks_done
            FROM analytics_runs r WHERE \(fragment: condition)
            ORDER BY r.started_at DESC, r.id LIMIT 1
            """).rows.first else { return nil }
        return AnalyticsRun(
            id: try row.decode("id"), kind: AnalyticsRunKind(rawValue: try row.decode("kind")) ?? .manual, slot: try row.decode("slot"),
            state: AnalyticsRunState(rawValue: try row.decode("state")) ?? .failed, usersTotal: try row.decode("users_total"),
            usersDone: try row.decode("users_done"), chunksTotal: try row.decode("chunks_total"), chunksDone: try row.decode("chunks_done"),
            fills: try row.decode("fills"), startedAt: try row.decode("started_at"), updatedAt: try row.decode("updated_at"),
            finishedAt: try row.decode("finished_at"), error: try row.decode("error"))
    }
}
