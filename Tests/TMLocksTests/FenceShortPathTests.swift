import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// A lone order's fences — its message's first delivery and one lease — are checked by
/// `tm_fence_first_delivery` (migration 0054, sent by `FencingGuard.send`) with 0046's answers: the
/// same refusals (SQLSTATE, message, DETAIL), advisory locks, row locks and rows as
/// `tm_advance_fences_or_raise(ARRAY[m, l], ARRAY[1, t])` for every argument and state, and the same
/// waits between real connections.
@Suite struct FenceShortPathTests {
    struct Lease: Fence {
        let resource: String
        let fencingToken: Int64
    }

    final class Bench: @unchecked Sendable {
        let database: TestDatabase
        let holder: PostgresConnection
        let observer: PostgresConnection
        let pool: PostgresPool
        let message = TestServers.uniqueName("short")
        let lease = TestServers.uniqueName("shard:short")

        init() throws {
            database = try TestDatabase(migrated: true, prefix: "tm_locks")
            holder = try database.connect()
            observer = try database.connect()
            pool = PostgresPool(configuration: database.configuration, size: 1)
        }

        func delivery(_ epoch: Int64, of message: String? = nil) -> MessageFence {
            MessageFence(queue: "orders", messageID: message ?? self.message, epoch: epoch)
        }

        /// A lone order's fence call on `holder` (as `FencingGuard.send` sends it): its message's first
        /// delivery and the lease at `token`.
        func holderFences(lease token: Int64) throws {
            do {
                _ = try holder.query("SELECT tm_fence_first_delivery(\(delivery(1).resource)::text, \(lease)::text, \(token)::bigint)")
            } catch {
                throw FencingGuard.refusal(error)
            }
        }

        /// An earlier order writes the lease row at 1; then `holder` opens a transaction and fences a lone
        /// order, which takes the short path (its lease row holds its token), holding its locks.
        func holdALoneOrderOnTheShortPath() async throws {
            try await write([delivery(1, of: "earlier"), Lease(resource: lease, fencingToken: 1)])
            try holder.simpleQuery("BEGIN")
            try holderFences(lease: 1)
        }

        /// The pool's fenced transaction (the order path's one round trip).
        func write(_ fences: [any Fence]) async throws {
            try await pool.transaction(fencedInOneRoundTrip: fences) { db in
                try db.send("SELECT 1")
                return { () }
            }
        }

        /// Sessions of this database waiting for a lock of `locktype` (`advisory`; `transactionid`: a row lock).
        func waiters(_ locktype: String) throws -> Int {
            try observer.query("""
                SELECT count(*)::int AS n FROM pg_locks
                WHERE locktype = \(locktype) AND NOT granted
                  AND pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database())
                """).rows[0].decode("n", as: Int.self)
        }

        func token(_ resource: String) throws -> Int64? {
            try observer.query("SELECT token FROM lock_fences WHERE resource = \(resource)").rows.first.map { try $0.decode("token", as: Int64.self) }
        }

        func close() async {
            await pool.shutdown()
            holder.close()
            observer.close()
            database.drop()
        }
    }

    /// Every message argument (a message, a row fence, NULL), lease (after or before the message in
    /// resource order, a message, NULL) and lease token (NULL, -1 to 3) against every state of the two
    /// rows (absent, 0–3): the outcome — SQLSTATE, message and DETAIL of a refusal, or the advisory
    /// locks and row-lock modes held after the call — and the rows left are the same by 0054's function
    /// and by 0046's, in READ COMMITTED and REPEATABLE READ. And a lone order whose lease row holds its
    /// token takes the short path (0046's function not called).
    @Test func theShortPathAnswersAs0046ForEveryArgumentAndState() async throws {
        let b = try Bench()
        try b.observer.simpleQuery("CREATE EXTENSION IF NOT EXISTS pgrowlocks")
        try b.observer.simpleQuery(Self.outcomeFunction)
        try b.observer.simpleQuery(Self.cases)
        let compared = """
            SELECT count(*)::int AS cases,
                   count(*) FILTER (WHERE pgfence_outcome(general, state, state_tok) IS DISTINCT FROM pgfence_outcome(short, state, state_tok))::int AS differ,
                   count(*) FILTER (WHERE pgfence_outcome(short, state, state_tok) LIKE 'TMF01%')::int AS stale,
                   count(*) FILTER (WHERE pgfence_outcome(short, state, state_tok) LIKE 'ok%')::int AS passed
            FROM pgfence_cases
            """
        for begin in ["BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ"] {
            try b.observer.simpleQuery(begin)
            let row = try b.observer.query(PostgresQuery(unsafeSQL: compared)).rows[0]
            try b.observer.simpleQuery("ROLLBACK")
            #expect(try row.decode("cases", as: Int.self) == 1800, "\(begin)")
            #expect(try row.decode("differ", as: Int.self) == 0, "\(begin)")
            #expect(try row.decode("stale", as: Int.self) > 200, "\(begin)")
            #expect(try row.decode("passed", as: Int.self) > 200, "\(begin)")
        }

        try b.observer.simpleQuery("BEGIN")
        try b.observer.simpleQuery("SET LOCAL track_functions = 'pl'")
        try b.observer.simpleQuery("INSERT INTO lock_fences (resource, token) VALUES ('shard:orders.1', 1)")
        _ = try b.observer.query("SELECT tm_fence_first_delivery('message:orders/lone', 'shard:orders.1', 1)")
        let general = try b.observer.query("""
            SELECT count(*)::int AS n FROM pg_stat_xact_user_functions WHERE funcname = 'tm_advance_fences_or_raise'
            """).rows[0].decode("n", as: Int.self)
        try b.observer.simpleQuery("ROLLBACK")
        #expect(general == 0, "a lone order whose lease holds its token takes the short path")
        await b.close()
    }

    /// A first delivery on the short path (its lease row written by an earlier order) holds its shared
    /// lock to its commit: a newer delivery of the message (sent with the lease, as the order path
    /// does) waits for it, then writes its row.
    @Test func aNewerDeliveryWaitsForALoneFirstDeliveryInFlight() async throws {
        let b = try Bench()
        try await b.holdALoneOrderOnTheShortPath()
        let newer = Task { try await b.write([b.delivery(2), Lease(resource: b.lease, fencingToken: 1)]) }
        try await eventually("the newer delivery waiting for the first one's lock") { try b.waiters("advisory") == 1 }
        #expect(try b.token(b.delivery(1).resource) == nil, "a first delivery writes no row")
        try b.holder.simpleQuery("COMMIT")
        try await newer.value
        #expect(try b.token(b.delivery(1).resource) == 2)
        await b.close()
    }

    /// The lease's row serializes its holder's transactions on the short path: a second lone order
    /// waits for the first's row lock, and goes on when it commits.
    @Test func theLeaseRowSerializesLoneOrders() async throws {
        let b = try Bench()
        try await b.holdALoneOrderOnTheShortPath()
        let other = Task { try await b.write([b.delivery(1, of: "other"), Lease(resource: b.lease, fencingToken: 1)]) }
        try await eventually("the other order waiting for the lease row") { try b.waiters("transactionid") == 1 }
        try b.holder.simpleQuery("COMMIT")
        try await other.value
        #expect(try b.token(b.lease) == 1)
        await b.close()
    }

    /// A first delivery coming while a newer one holds the fence waits on the short path, then its
    /// check (a later statement) sees the newer row and refuses it — not the lease, which is current.
    /// With the lease row written first (`leaseRowFirst`) the short path's own look-up is what refuses:
    /// its snapshot is taken after the shared lock's wait.
    @Test(arguments: [false, true]) func aLoneFirstDeliveryWaitsForANewerOneThenIsRefused(leaseRowFirst: Bool) async throws {
        let b = try Bench()
        if leaseRowFirst { try await b.write([b.delivery(1, of: "earlier"), Lease(resource: b.lease, fencingToken: 1)]) }
        try b.holder.simpleQuery("BEGIN")
        _ = try b.holder.query("SELECT tm_advance_fences_or_raise(\(PostgresData.array([b.delivery(2).resource]))::text[], '{2}')")
        let first = Task { try await b.write([b.delivery(1), Lease(resource: b.lease, fencingToken: 1)]) }
        try await eventually("the first delivery waiting for the newer one's lock") { try b.waiters("advisory") == 1 }
        try b.holder.simpleQuery("COMMIT")
        await #expect(throws: LockError.staleFencingToken(resource: b.delivery(1).resource, token: 1)) { try await first.value }
        await b.close()
    }

    /// Under REPEATABLE READ the lone shape keeps 0046's rows-only rule: the first delivery's row is written.
    @Test func aRepeatableReadLoneFirstDeliveryWritesItsRow() async throws {
        let b = try Bench()
        try b.holder.simpleQuery("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try b.holderFences(lease: 1)
        try b.holder.simpleQuery("COMMIT")
        #expect(try b.token(b.delivery(1).resource) == 1)
        #expect(try b.token(b.lease) == 1)
        await b.close()
    }

    /// One call's outcome in a subtransaction rolled back after: the refusal, or the advisory locks and
    /// row-lock modes held; then the rows of the resources in play (`@now`: stamped by the call).
    static let outcomeFunction = """
        CREATE FUNCTION pgfence_outcome(call text, state text[], state_tok bigint[]) RETURNS text
        LANGUAGE plpgsql AS $f$
        DECLARE r text; locks text; rows text;
        BEGIN
          BEGIN
            DELETE FROM lock_fences WHERE resource IN ('message:m/1', 'message:m/2', 'row:x', 'shard:s.1', 'a:lease');
            INSERT INTO lock_fences (resource, token, updated_at)
              SELECT s, t, '2000-01-01' FROM unnest(state, state_tok) AS x (s, t);
            BEGIN
              EXECUTE call;
              SELECT string_agg(mode || ':' || objid, ',' ORDER BY objid, mode) INTO locks FROM pg_locks
                WHERE pid = pg_backend_pid() AND locktype = 'advisory';
              SELECT coalesce(string_agg(l.modes::text, ',' ORDER BY l.modes::text), '') INTO rows FROM pgrowlocks('lock_fences') l;
              r := 'ok rowlocks[' || rows || ']';
            EXCEPTION WHEN others THEN
              GET STACKED DIAGNOSTICS locks = PG_EXCEPTION_DETAIL;
              r := sqlstate || '|' || sqlerrm || '|' || locks;
              locks := '';
            END;
            SELECT string_agg(resource || '=' || token || CASE WHEN updated_at = now() THEN '@now'
                                                                WHEN updated_at = '2000-01-01' THEN '' ELSE '@?' END,
                              ',' ORDER BY resource) INTO rows
              FROM lock_fences WHERE resource IN ('message:m/1', 'message:m/2', 'row:x', 'shard:s.1', 'a:lease');
            RAISE EXCEPTION USING ERRCODE = 'P0009',
              MESSAGE = r || ' locks[' || coalesce(locks, '') || '] rows[' || coalesce(rows, '') || ']';
          EXCEPTION WHEN SQLSTATE 'P0009' THEN
            RETURN sqlerrm;
          END;
        END $f$
        """

    /// The calls by both functions, and the states of the message's and the lease's rows.
    static let cases = """
        CREATE TABLE pgfence_cases AS
        WITH m (m) AS (VALUES ('message:m/1'), ('row:x'), (NULL)),
             l (l) AS (VALUES ('shard:s.1'), ('a:lease'), ('message:m/2'), (NULL)),
             t (tok) AS (VALUES (NULL::bigint), (-1), (0), (1), (2), (3)),
             st (held) AS (VALUES (NULL::bigint), (0), (1), (2), (3))
        SELECT format('SELECT tm_fence_first_delivery(%L, %L, %s)', m, l, coalesce(tok::text, 'NULL')) AS short,
               format('SELECT tm_advance_fences_or_raise(ARRAY[%L, %L]::text[], ARRAY[1, %s]::bigint[])', m, l, coalesce(tok::text, 'NULL')) AS general,
               array_remove(ARRAY[CASE WHEN ms.held IS NOT NULL THEN 'message:m/1' END, CASE WHEN ls.held IS NOT NULL THEN coalesce(l, 'shard:s.1') END], NULL) AS state,
               array_remove(ARRAY[ms.held, ls.held], NULL) AS state_tok
        FROM m, l, t, st ms, st ls
        """
}
