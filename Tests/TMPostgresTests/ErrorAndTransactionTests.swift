import Foundation
import Testing
import TMCore
import TMPostgres

@Suite struct ErrorAndTransactionTests {
    @Test func uniqueViolationIsRecognised() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("users")
        try conn.simpleQuery("CREATE TABLE \(table) (id serial PRIMARY KEY, email text NOT NULL CONSTRAINT \(table)_email_key UNIQUE)")
        try conn.execute("INSERT INTO \(identifier: table) (email) VALUES (\("dup@example.com"))")
        do {
            try conn.execute("INSERT INTO \(identifier: table) (email) VALUES (\("dup@example.com"))")
            Issue.record("expected a unique violation")
        } catch let error as PostgresError {
            #expect(error.isUniqueViolation)
            #expect(error.kind == .server)
            #expect(error.sqlState == "23505")
            #expect(error.constraint == "\(table)_email_key")
            #expect(error.table == table)
            // The server echoes the key in DETAIL; it must not leak into logs via description.
            #expect(error.detail?.contains("dup@example.com") == true)
            #expect(!"\(error)".contains("dup@example.com"))
            #expect("\(error)".contains("\(table)_email_key"))
        }
        // The connection is still usable after a server error.
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 1)
    }

    @Test func otherConstraintViolations() throws {
        let conn = try TestServer.connect()
        let parent = uniqueName("parent")
        let child = uniqueName("child")
        try conn.simpleQuery("""
            CREATE TABLE \(parent) (id int PRIMARY KEY);
            CREATE TABLE \(child) (id int PRIMARY KEY, parent_id int REFERENCES \(parent)(id), qty int CHECK (qty > 0));
            """)
        #expect { try conn.execute("INSERT INTO \(identifier: child) VALUES (1, \(99), 1)") } throws: {
            ($0 as? PostgresError)?.isForeignKeyViolation == true
        }
        #expect { try conn.execute("INSERT INTO \(identifier: child) VALUES (1, NULL, \(-1))") } throws: {
            ($0 as? PostgresError)?.isCheckViolation == true
        }
    }

    @Test func invalidInputValueIsNotInDescription() throws {
        let conn = try TestServer.connect()
        do {
            try conn.query("SELECT \("secret-token-123")::int")
            Issue.record("expected an error")
        } catch let error as PostgresError {
            #expect(error.sqlState == "22P02")
            #expect(!"\(error)".contains("secret-token-123"))
        }
    }

    @Test func decodeErrorNamesTheColumn() throws {
        let conn = try TestServer.connect()
        let row = try conn.query("SELECT 'abc'::text AS price, NULL::int AS qty")[0]
        do {
            _ = try row.decode("price", as: Int.self)
            Issue.record("expected a decoding error")
        } catch let error as PostgresError {
            #expect(error.kind == .decoding)
            #expect(error.column == "price")
            #expect("\(error)".contains("price"))
            #expect("\(error)".contains("Int"))
        }
        #expect { try row.decode("qty", as: Int.self) } throws: { "\($0)".contains("qty") && "\($0)".contains("NULL") }
        #expect { try row.decode("nope", as: Int.self) } throws: { "\($0)".contains("nope") }
    }

    @Test func throwingTransactionLeavesNoRows() throws {
        struct Boom: Error {}
        let conn = try TestServer.connect()
        let table = uniqueName("tx")
        try conn.simpleQuery("CREATE TABLE \(table) (id int)")
        #expect(throws: Boom.self) {
            try conn.transaction { tx in
                try tx.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
                try tx.execute("INSERT INTO \(identifier: table) VALUES (\(2))")
                throw Boom()
            }
        }
        #expect(!conn.isInTransaction)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 0)

        // A returning body commits, and the value comes back.
        let inserted = try conn.transaction { tx in
            try tx.execute("INSERT INTO \(identifier: table) VALUES (\(1)), (\(2))")
        }
        #expect(inserted == 2)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 2)
    }

    @Test func nestedTransactionsUseSavepoints() throws {
        struct Boom: Error {}
        let conn = try TestServer.connect()
        let table = uniqueName("nest")
        try conn.simpleQuery("CREATE TABLE \(table) (id int)")
        try conn.transaction { tx in
            try tx.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
            _ = try? tx.transaction { inner in
                try inner.execute("INSERT INTO \(identifier: table) VALUES (\(2))")
                throw Boom()
            }
            _ = try tx.transaction { inner in
                try inner.execute("INSERT INTO \(identifier: table) VALUES (\(3))")
            }
        }
        let ids = try conn.query("SELECT id FROM \(identifier: table) ORDER BY id").map { try $0.decode(0, as: Int.self) }
        #expect(ids == [1, 3])
    }

    @Test func swallowedFailureInsideTransactionDoesNotCommit() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("swallow")
        try conn.simpleQuery("CREATE TABLE \(table) (id int PRIMARY KEY)")
        #expect {
            try conn.transaction { tx in
                try tx.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
                _ = try? tx.execute("INSERT INTO \(identifier: table) VALUES (\(1))")  // fails, error dropped
            }
        } throws: { ($0 as? PostgresError)?.sqlState == "25P02" }
        #expect(!conn.isInTransaction)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 0)
    }

    @Test func injectionAttemptIsStoredLiterally() throws {
        let conn = try TestServer.connect()
        let table = uniqueName("users")
        try conn.simpleQuery("CREATE TABLE \(table) (name text)")
        let evil = "'); DROP TABLE \(table); --"
        let evil2 = "x' OR '1'='1"
        try conn.execute("INSERT INTO \(identifier: table) (name) VALUES (\(evil)), (\(evil2))")
        #expect(try conn.query("SELECT name FROM \(identifier: table) WHERE name = \(evil)").scalar(as: String.self) == evil)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table) WHERE name = \(evil2)").scalar(as: Int.self) == 1)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 2)
        #expect(try conn.query("SELECT to_regclass(\(table)) IS NOT NULL").scalar(as: Bool.self))
    }

    @Test func connectionBasics() throws {
        let server = try TestServer.server()
        let env = TMEnvironment(process: ["TM_DATABASE_URL": server.url], envFile: nil)
        let conn = try PostgresConnection.connect(environment: env)
        #expect(conn.serverVersion.hasPrefix("15."))
        #expect(conn.serverVersionNumber >= 150000)
        #expect(conn.isAlive)
        try conn.healthCheck()
        let result = try conn.query("SELECT generate_series(1, 3) AS n")
        #expect(result.count == 3)
        #expect(result.affectedRows == 3)
        #expect(result.columns.map(\.name) == ["n"])
        #expect(result.commandTag == "SELECT 3")
        // simpleQuery runs several statements; execute reports affected rows.
        let table = uniqueName("multi")
        try conn.simpleQuery("CREATE TABLE \(table) (id int); INSERT INTO \(table) VALUES (1), (2), (3);")
        #expect(try conn.execute("UPDATE \(identifier: table) SET id = id + \(10) WHERE id > \(1)") == 2)
        #expect(try conn.execute("DELETE FROM \(identifier: table)") == 3)
        conn.close()
        #expect(!conn.isAlive)
        #expect { try conn.query("SELECT 1") } throws: { ($0 as? PostgresError)?.kind == .connection }
        try conn.reconnect()
        #expect(try conn.query("SELECT 7").scalar(as: Int.self) == 7)
    }

    @Test func connectionRefusedIsConnectionKind() throws {
        var config = try TestServer.configuration()
        config.port = 1  // nothing listens there
        config.password = "hunter2-secret"
        #expect {
            try PostgresConnection(configuration: config)
        } throws: { error in
            (error as? PostgresError)?.kind == .connection && !"\(error)".contains("hunter2-secret")
        }
    }
}
