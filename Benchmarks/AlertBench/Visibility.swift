import TMPostgres

/// When a notification row became visible: the commit time of the transaction that wrote it
/// (`pg_xact_commit_timestamp(xmin)`), which Postgres records only with `track_commit_timestamp = on`
/// (the test servers of scripts/tm-servers.sh run so). The timestamp is taken as the commit record
/// is written; the row is visible to others microseconds later (with `synchronous_commit = off`, as
/// the test servers run; with it on, after the WAL flush too).
struct Visibility {
    /// Whether the server records commit times.
    let tracked: Bool

    static let untracked = "this Postgres runs without track_commit_timestamp, so when a row became visible (its commit) "
        + "cannot be measured; only the firing transaction's START (created_at) is (scripts/tm-servers.sh up test sets it)"

    init(_ db: PostgresConnection) throws {
        tracked = try db.query("SELECT current_setting('track_commit_timestamp') = 'on' AS tracked").rows[0].decode("tracked")
    }

    /// The commit time in Unix milliseconds (NULL when not tracked).
    var column: PostgresQuery {
        tracked ? "extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 * 1000" : "NULL::float8"
    }
}
