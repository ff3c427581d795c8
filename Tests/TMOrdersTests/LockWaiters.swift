import TMPostgres

extension PostgresConnection {
    /// Sessions of this database waiting on a lock now (whose query is LIKE `queryLike`): how the
    /// group-commit tests see a writer parked on a fence row they hold.
    func lockWaiters(queryLike: String = "%") throws -> Int {
        try query("""
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE \(queryLike)
            """).rows[0].decode("n", as: Int.self)
    }
}
