import Foundation
import Logging
import Testing
import TestSupport
import TMPostgres
import TMQueue
@testable import TMSync

/// The relay's two prepared statements — the read of the oldest rows and the delete of the sent ones —
/// are planned once per session, not at every pass, and with a large backlog the read's plan walks the
/// primary key: it never scans the whole outbox.
///
/// Postgres plans a prepared statement's first 5 runs with their values (custom plans) and keeps its
/// generic plan from the 6th only if the generic plan's estimated cost is no higher than the custom
/// plans' average. The read's custom plans saw its limit (a pass's few rows of a large outbox looked
/// cheaper than the generic plan's tenth of the table) and the delete's saw its array's length (fewer
/// than the generic plan's 10 ids): every pass was planned afresh (session 35). Both read their values
/// through sub-SELECTs, which no plan sees.
@Suite(.serialized, .timeLimit(.minutes(2))) struct OutboxRelayPlanTests {
    /// A backlog of `count` one-message text batch rows (the order path's form since 0035), analyzed,
    /// keyed `plan:<n>` in id order.
    private func backlog(_ f: SyncFixture, _ count: Int) throws {
        let conn = try f.db.connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO trade_event_outbox (account_id, event_key, messages, batch)
            SELECT NULL, 'batch:plan:' || g, 1, 'plan:' || g || E'\\t' || jsonb_build_object('event', 'order.state', 'n', g)::text
            FROM generate_series(1, \(count)) g ORDER BY g
            """)
        try conn.simpleQuery("ANALYZE trade_event_outbox")
    }

    /// The relay's statements on its only connection: (generic plans, custom plans, name) per statement.
    private func plans(_ pool: PostgresPool, _ like: String) async throws -> [(generic: Int, custom: Int, name: String)] {
        try await pool.query(PostgresQuery(unsafeSQL: """
            SELECT generic_plans::int AS generic, custom_plans::int AS custom, name FROM pg_prepared_statements
            WHERE statement LIKE '\(like)'
            """)).rows.map { (try $0.decode("generic", as: Int.self), try $0.decode("custom", as: Int.self), try $0.decode("name", as: String.self)) }
    }

    private static let read = "%WITH head AS (SELECT id, messages%"
    private static let delete = "DELETE FROM trade_event_outbox WHERE id = ANY%"

    /// An outbox whose statements all run on one connection, so `pg_prepared_statements` shows them.
    private func loneConnectionOutbox(_ f: SyncFixture) throws -> (TradeEventOutbox, PostgresPool) {
        let pool = PostgresPool(configuration: f.db.configuration, size: 1)
        var outbox = TradeEventOutbox(pool: pool, producer: try f.producer)
        outbox.queue = f.tradeEvents
        return (outbox, pool)
    }

    /// 12 passes of 3 rows over a backlog of 20,000: every message goes out once and in order, each
    /// pass deletes exactly its rows; each statement is prepared once, planned with its values at
    /// most 5 times, and every later pass runs its generic plan.
    @Test func theRelaysStatementsKeepTheirGenericPlansAcrossPasses() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let (outbox, pool) = try loneConnectionOutbox(f)
        defer { Task { await pool.shutdown() } }
        try backlog(f, 20_000)
        let passes = 12
        var published = 0
        for _ in 0..<passes {
            let report = await outbox.publish(account: nil, limit: 3, logger: Logger(label: "test"))
            #expect(report.refusal == nil, "\(report)")
            published += report.published
        }
        #expect(published == 3 * passes)
        #expect(try await f.publishedKeys() == (1...(3 * passes)).map { "plan:\($0)" }, "each message once, in order")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 20_000 - 3 * passes, "exactly the sent rows deleted")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox WHERE split_part(event_key, ':', 3)::int <= \(3 * passes)") == 0)
        for (statement, like) in [("read", Self.read), ("delete", Self.delete)] {
            let counts = try await plans(pool, like)
            #expect(counts.count == 1, "the \(statement) prepared once on the session: \(counts)")
            // Custom plans only for the first 5 runs; every later pass runs the generic plan.
            #expect((counts.first?.custom ?? -1) <= 5, "\(statement): \(counts)")
            #expect((counts.first?.generic ?? 0) >= passes - 5, "\(statement): \(counts)")
        }
    }

    /// Over a backlog of 100,000 rows (where a join of the taken rows back to the outbox was planned as a
    /// hash join against a scan of it), the read's generic plan takes the oldest rows by the primary key —
    /// no scan of the outbox, no hash join of the taken rows against it, each taken row by it — and the
    /// delete finds its ids by it.
    @Test func theGenericPlansWalkThePrimaryKeyOverALargeBacklog() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let (outbox, pool) = try loneConnectionOutbox(f)
        defer { Task { await pool.shutdown() } }
        try backlog(f, 100_000)
        let report = await outbox.publish(account: nil, limit: 3, logger: Logger(label: "test"))
        #expect(report.published == 3 && report.refusal == nil, "\(report)")
        guard let read = try await plans(pool, Self.read).first, let delete = try await plans(pool, Self.delete).first else {
            Issue.record("the relay's statements are not prepared on its session")
            return
        }
        let explained = try await pool.withConnection { conn -> [String] in
            try conn.simpleQuery("SET plan_cache_mode = force_generic_plan")
            defer { try? conn.simpleQuery("RESET plan_cache_mode") }
            return try [read.name + "(1000, 1000)", delete.name + "('{1,2,3}')"].map { call in
                try conn.query(PostgresQuery(unsafeSQL: "EXPLAIN EXECUTE \(call)")).rows
                    .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
            }
        }
        let readPlan = explained[0], deletePlan = explained[1]
        let scans = readPlan.split(separator: "\n").filter { $0.contains("Seq Scan on trade_event_outbox") && !$0.contains("_quarantine") }
        #expect(scans.isEmpty, "\(readPlan)")
        #expect(!readPlan.contains("Hash Join"), "\(readPlan)")
        // The head, in id order, by the primary key; the taken rows by it, as an array of ids.
        #expect(readPlan.contains("Index Scan using trade_event_outbox_pkey"), "\(readPlan)")
        #expect(readPlan.contains("Index Cond: (id = ANY ("), "\(readPlan)")
        #expect(!deletePlan.contains("Seq Scan"), "\(deletePlan)")
        #expect(deletePlan.contains("trade_event_outbox_pkey"), "\(deletePlan)")
    }
}
