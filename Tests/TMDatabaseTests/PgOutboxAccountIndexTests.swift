import Foundation
import Testing
import TestSupport
import TMCore
import TMDatabase
import TMPostgres

/// The outbox's account index holds the rows of an account only (migration 0058): the order path's
/// rows (a NULL account, one a transaction) are no entry of it — two B-tree inserts and their WAL
/// records a lone order fewer — and the look-ups by account it serves still use it.
@Suite(.serialized) struct PgOutboxAccountIndexTests {
    @Test func theAccountIndexLeavesOutRowsWithoutAnAccountAndServesTheAccountsLookUps() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_outbox_account_idx")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let definition = try db.query("SELECT pg_get_indexdef('trade_event_outbox_account_idx'::regclass) AS d").rows[0].decode("d", as: String.self)
        #expect(definition.hasSuffix("USING btree (account_id, id) WHERE (account_id IS NOT NULL)"), "\(definition)")
        // A generic plan of `account_id = $1` (as the account FK's actions run it, and the pending
        // events' EXISTS per account) proves the index's predicate from the `=`.
        try db.execute("SET enable_seqscan = off")
        try db.execute("SET plan_cache_mode = force_generic_plan")
        try db.execute("PREPARE by_account (uuid) AS SELECT id FROM trade_event_outbox WHERE account_id = $1 ORDER BY id")
        let plan = try db.query("EXPLAIN (COSTS OFF) EXECUTE by_account('00000000-0000-0000-0000-00000000000a')").rows
            .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
        #expect(plan.contains("trade_event_outbox_account_idx"), "\(plan)")
    }

    /// 0058 takes the lock its DROP needs before anything else: a relay pass that locked outbox rows
    /// (ROW SHARE, as `FOR UPDATE` does) and then deletes them (ROW EXCLUSIVE) finishes while the
    /// migration waits, and then the migration runs. Built under SHARE first, the migration's DROP
    /// waited for the pass while the pass's DELETE waited for the SHARE: a deadlock, one aborted.
    @Test func theMigrationWaitsForARelayPassThatLockedRowsAndNeitherIsAborted() throws {
        let database = try TestDatabase(prefix: "tm_outbox_0058_locks")
        defer { database.drop() }
        let all = try MigrationCatalog.bundled()
        let relay = try database.connect(), migrating = try database.connect(), watcher = try database.connect()
        defer { relay.close(); migrating.close(); watcher.close() }
        try Migrator(connection: relay, migrations: all.filter { $0.version <= 57 }).migrate()

        try relay.execute("BEGIN")
        try relay.execute("LOCK TABLE trade_event_outbox IN ROW SHARE MODE")
        let migrated = Locked<Result<Void, any Error>?>(nil)
        // The connection is used by that thread only, until it has set `migrated`.
        nonisolated(unsafe) let onThread = migrating
        let thread = Thread { migrated.withLock { $0 = Result(catching: { _ = try Migrator(connection: onThread, migrations: all).migrate() }) } }
        thread.start()
        // The migration waits on the outbox's lock (whichever mode it asks for first).
        let deadline = Date().addingTimeInterval(20)
        while try watcher.query("""
            SELECT count(*) AS n FROM pg_locks WHERE relation = 'trade_event_outbox'::regclass AND NOT granted
            """).rows[0].decode("n", as: Int.self) == 0 {
            #expect(Date() < deadline, "the migration never waited for the relay's lock")
            if Date() >= deadline { break }
            usleep(10_000)
        }
        // The pass deletes what it locked: it must not wait for the migration.
        try relay.execute("LOCK TABLE trade_event_outbox IN ROW EXCLUSIVE MODE")
        try relay.execute("COMMIT")
        while migrated.withLock({ $0 }) == nil { usleep(10_000) }
        try migrated.withLock { $0! }.get()
        let definition = try watcher.query("SELECT pg_get_indexdef('trade_event_outbox_account_idx'::regclass) AS d").rows[0].decode("d", as: String.self)
        #expect(definition.hasSuffix("WHERE (account_id IS NOT NULL)"), "\(definition)")
    }
}
