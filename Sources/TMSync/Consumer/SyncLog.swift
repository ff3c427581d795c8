import Foundation
import TMCore
import TMPostgres

/// The `sync_logs` row of one sync run: inserted when it starts, finished with its counts and
/// outcome, so a run that died midway is visible as one that never finished.
enum SyncLog {
    static func start(_ pool: PostgresPool, account: UUID, messageID: String) async throws -> Int64 {
        try await pool.query("INSERT INTO sync_logs (account_id, message_id) VALUES (\(account), \(messageID)) RETURNING id")
            .rows[0].decode("id", as: Int64.self)
    }

    static func finish(_ db: PostgresConnection, logID: Int64, report: SyncConsumer.SyncReport, duration: Duration) throws {
        try db.execute("""
            UPDATE sync_logs SET finished_at = greatest(now(), started_at), fetched_count = \(report.fetched), created_count = \(report.created),
              updated_count = \(report.updated), skipped_count = \(report.skipped), duration_ms = \(duration.milliseconds), outcome = 'ok'
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
