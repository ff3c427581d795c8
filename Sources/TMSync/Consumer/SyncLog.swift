import Foundation
import TMCore
import TMPostgres

/// The `sync_logs` row of one sync run: inserted when it starts, finished with its counts and
/// outcome. A run that died midway (SIGKILL, timeout, lost lease) cannot finish its row: the
/// account's next run closes it as `abandoned` (it holds the account's lock, so the earlier run is
/// over), and sync-trigger closes rows left open longer than any run can last (`abandonStale`).
enum SyncLog {
    /// Why an open row is closed by the account's next run.
    static let abandonedByNextRun = "abandoned: the run ended without an outcome (killed, timed out or its lock lost); closed by the account's next sync"

    /// Inserts the run's row and, in the same statement, abandons the account's rows still open.
    /// Call it holding the account's lock: then no other run of the account can be going.
    static func start(_ pool: PostgresPool, account: UUID, messageID: String) async throws -> Int64 {
        try await pool.query("""
            WITH abandoned AS (
              UPDATE sync_logs SET outcome = 'abandoned', finished_at = greatest(now(), started_at), error = \(abandonedByNextRun)
              WHERE account_id = \(account) AND outcome IS NULL
            )
            INSERT INTO sync_logs (account_id, message_id) VALUES (\(account), \(messageID)) RETURNING id
            """).rows[0].decode("id", as: Int64.self)
    }

    /// Closes as `abandoned` every row open longer than `after` (longer than any run can last: the
    /// function's timeout and kill grace), e.g. of an account paused after its run was killed.
    /// Returns how many were closed.
    static func abandonStale(_ pool: PostgresPool, after: Duration) async throws -> Int {
        let (afterMs, seconds) = (after.milliseconds, after.milliseconds / 1000)
        let reason = "abandoned: the run ended without an outcome (killed, timed out or its lock lost); still open after \(seconds) s, closed by sync-trigger"
        return try await pool.execute("""
            UPDATE sync_logs SET outcome = 'abandoned', finished_at = greatest(now(), started_at), error = \(reason)
            WHERE outcome IS NULL AND started_at < now() - \(afterMs)::bigint * interval '1 millisecond'
            """)
    }

    /// `partial` when a part of the sync (the funds) did not land, with the reason; else `ok`.
    static func outcome(_ report: SyncConsumer.SyncReport) -> String { report.fundsError == nil ? "ok" : "partial" }

    static func finish(_ db: PostgresConnection, logID: Int64, report: SyncConsumer.SyncReport, duration: Duration) throws {
        try db.execute("""
            UPDATE sync_logs SET finished_at = greatest(now(), started_at), fetched_count = \(report.fetched), created_count = \(report.created),
              updated_count = \(report.updated), skipped_count = \(report.skipped), orders_updated_count = \(report.ordersUpdated),
              positions_count = \(report.positions), linked_count = \(report.linked), duration_ms = \(duration.milliseconds),
              outcome = \(outcome(report)), error = \(report.fundsError)
            WHERE id = \(logID)
            """)
    }

    static func fail(_ db: PostgresConnection, logID: Int64, error: String, duration: Duration) throws {
        try db.execute("""
            UPDATE sync_logs SET finished_at = greatest(now(), started_at), duration_ms = \(duration.milliseconds), outcome = 'error', error = \(error)
            WHERE id = \(logID) AND outcome IS NULL
            """)
    }

    /// A failed run: its log row, and the account's failure count and last outcome (status unchanged).
    static func fail(_ pool: PostgresPool, logID: Int64, account: UUID, error: String, duration: Duration) async throws {
        try await pool.transaction { db in
            try fail(db, logID: logID, error: error, duration: duration)
            try db.execute("""
                UPDATE broker_accounts SET last_sync_outcome = 'error', consecutive_failures = consecutive_failures + 1 WHERE id = \(account)
                """)
        }
    }
}
