import Foundation
import Testing
import TestSupport
import TMDatabase
import TMPostgres

/// The outbox row's form is one CHECK (migration 0050), refusing exactly the rows 0028's and 0035's three
/// checks refused (`messages > 0`; a jsonb array payload exactly when no account; a row is either a
/// payload or a text batch, and a batch names no account): Postgres reads every CHECK of a table back
/// from its node text at the first row of every statement, and the three cost a lone order's two
/// outbox rows ~146k instructions (Benchmarks/OrderBench/PROFILE.md, session 29 (pgtx)).
@Suite(.serialized) struct PgOutboxFormCheckTests {
    static let user = UUID(), account = UUID()

    /// Every combination of the columns the form reads: each value that makes a rule hold, break, or
    /// be unknown (NULL).
    static let rows: [(accountID: String, payload: String, batch: String, messages: String)] = {
        let accounts = ["NULL", "'\(account.uuidString)'"]
        let payloads = ["NULL", "'[[\"k\", {}]]'", "'{\"event\": \"x\"}'", "'\"text\"'", "'null'"]
        let batches = ["NULL", "'k\t{}'", "''"]
        let counts = ["1", "3", "0", "-1"]
        return accounts.flatMap { a in payloads.flatMap { p in batches.flatMap { b in counts.map { (a, p, b, $0) } } } }
    }()

    static func database(through version: Int? = nil) throws -> (TestDatabase, PostgresConnection) {
        let database = try TestDatabase(prefix: "tm_outbox_form")
        let db = try database.connect()
        let all = try MigrationCatalog.bundled()
        try Migrator(connection: db, migrations: all.filter { version == nil || $0.version <= version! }).migrate()
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'outbox@example.com')")
        try db.execute("INSERT INTO broker_accounts (id, user_id, broker, label) VALUES (\(account), \(user), 'manual', 'outbox')")
        return (database, db)
    }

    /// The SQLSTATE and constraint refusing the row, nil when it was written (rolled back either way).
    static func refusal(_ db: PostgresConnection, _ row: (accountID: String, payload: String, batch: String, messages: String)) throws -> String? {
        struct Undo: Error {}
        do {
            try db.transaction { db in
                try db.execute(PostgresQuery(unsafeSQL: """
                    INSERT INTO trade_event_outbox (account_id, event_key, payload, batch, messages)
                    VALUES (\(row.accountID), 'form-\(UUID().uuidString)', \(row.payload)::jsonb, \(row.batch), \(row.messages))
                    """))
                throw Undo()
            }
        } catch is Undo {
            return nil
        } catch let error as PostgresError where error.kind == .server {
            return "\(error.sqlState ?? "?") \(error.constraint ?? "?") \(error.table ?? "?") \(error.schema ?? "?") \(error.message)"
        }
        return nil
    }

    @Test func theOneCheckRefusesExactlyWhatTheThreeChecksRefused() throws {
        let (oldDatabase, old) = try Self.database(through: 49)
        defer { old.close(); oldDatabase.drop() }
        let (newDatabase, new) = try Self.database()
        defer { new.close(); newDatabase.drop() }
        var refused = 0
        for row in Self.rows {
            let was = try Self.refusal(old, row), now = try Self.refusal(new, row)
            #expect(was == now, "\(row): three checks \(was ?? "accepted"), one check \(now ?? "accepted")")
            #expect(was == nil || was?.hasPrefix("23514 trade_event_outbox_") == true, "\(row): \(was ?? "")")
            if was != nil { refused += 1 }
        }
        // Both kinds are in the matrix: the comparison is not vacuous.
        #expect(refused > 0 && refused < Self.rows.count, "\(refused) of \(Self.rows.count) refused")
        // The order path's and sync's own forms are written.
        #expect(try Self.refusal(new, ("NULL", "NULL", "'k\t{}'", "3")) == nil)
        #expect(try Self.refusal(new, ("'\(Self.account.uuidString)'", "'{\"event\": \"x\"}'", "NULL", "1")) == nil)
    }

    /// A session whose search_path does not find the table (pg_restore's is '') gets the same refusal:
    /// the schema named is the row's own, not the session's.
    @Test func aRefusalNamesTheRowsSchemaWhateverTheSearchPath() throws {
        let (database, db) = try Self.database()
        defer { db.close(); database.drop() }
        let broken = ("NULL", "NULL", "'k\t{}'", "0")
        let plain = try Self.refusal(db, broken)
        #expect(plain?.hasPrefix("23514 trade_event_outbox_messages_check trade_event_outbox public new row") == true, "\(plain ?? "accepted")")
        try db.execute("SET search_path = ''")
        let refusal: String?
        do {
            struct Undo: Error {}
            try db.transaction { db in
                try db.execute(PostgresQuery(unsafeSQL: "INSERT INTO public.trade_event_outbox (event_key, batch, messages) VALUES ('form-path', 'k\t{}', 0)"))
                throw Undo()
            }
            refusal = nil
        } catch let error as PostgresError where error.kind == .server {
            refusal = "\(error.sqlState ?? "?") \(error.constraint ?? "?") \(error.table ?? "?") \(error.schema ?? "?") \(error.message)"
        }
        #expect(refusal == plain)
    }

    /// The form reads its columns through the whole row, which Postgres does not tie to them: a
    /// migration renaming or dropping one would make every outbox write fail.
    @Test func everyColumnTheFormReadsExists() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_outbox_cols")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let (read, missing) = try WholeRowCheckColumns.read(by: "tm_outbox_row_form", of: "trade_event_outbox", db)
        #expect(read == ["payload", "account_id", "messages", "batch"], "the form's columns were found in the function's text: \(read.sorted())")
        #expect(missing.isEmpty, "the form reads columns the outbox no longer has: \(missing.sorted())")
    }

    @Test func theOutboxHasOneCheckWithSmallNodeText() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_outbox_form")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let checks = try db.query("""
            SELECT conname, length(conbin) AS node_text, convalidated
            FROM pg_constraint WHERE conrelid = 'trade_event_outbox'::regclass AND contype = 'c'
            """).rows.map {
                (try $0.decode("conname", as: String.self), try $0.decode("node_text", as: Int.self), try $0.decode("convalidated", as: Bool.self))
            }
        #expect(checks.map(\.0) == ["trade_event_outbox_form"], "\(checks)")
        // The three were 2,138 bytes, read back at every statement's first row.
        #expect((checks.first?.1 ?? .max) < 1_000, "\(checks)")
        #expect(checks.first?.2 == true, "validated (0051): \(checks)")
    }
}
