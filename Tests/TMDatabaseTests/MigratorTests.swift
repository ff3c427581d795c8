import Foundation
import Testing
import TestSupport
import TMCrypto
import TMDatabase
import TMPostgres

@Suite struct MigratorTests {
    func tableCount(_ db: PostgresConnection) throws -> Int {
        try db.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'").rows[0].decode("n", as: Int.self)
    }

    @Test func applyingTwiceChangesNothing() throws {
        let database = try TestDatabase()
        let db = try database.connect()
        defer { db.close() }
        let migrations = try MigrationCatalog.bundled()
        #expect(migrations.count >= 4)
        #expect(migrations.map(\.version) == migrations.map(\.version).sorted())

        let first = try Migrator(connection: db, migrations: migrations).migrate()
        #expect(first.applied.count == migrations.count)
        let tables = try tableCount(db)
        for table in ["users", "broker_accounts", "instruments", "orders", "trades", "positions", "analytics",
                      "price_alerts", "trading_limits", "notifications", "sync_logs", "audit_log", "dlq_replays"] {
            let present = try db.query("SELECT to_regclass(\(table)) IS NOT NULL AS present").rows[0].decode("present", as: Bool.self)
            #expect(present, "table \(table) missing")
        }

        let second = try Migrator(connection: db, migrations: migrations).migrate()
        #expect(second.applied.isEmpty)
        #expect(second.alreadyApplied == migrations.count)
        #expect(try tableCount(db) == tables)
        let rows = try db.query("SELECT count(*)::int AS n FROM schema_migrations").rows[0].decode("n", as: Int.self)
        #expect(rows == migrations.count)
    }

    @Test func twoMigrateProcessesAtOnceBothSucceedAndApplyOnce() throws {
        let database = try TestDatabase()
        let tm = TestServers.productsDirectory.appendingPathComponent("tm").path
        #expect(FileManager.default.isExecutableFile(atPath: tm), "tm not built at \(tm)")
        var environment = ProcessInfo.processInfo.environment
        environment["TM_DATABASE_URL"] = database.url
        environment["TM_ENV_FILE"] = "/nonexistent"

        let processes = (0..<2).map { _ -> (Process, Pipe) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tm)
            process.arguments = ["migrate"]
            process.environment = environment
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            return (process, pipe)
        }
        for (process, _) in processes { try process.run() }
        var outputs: [String] = []
        for (process, pipe) in processes {
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            outputs.append(output)
            #expect(process.terminationStatus == 0, "tm migrate failed: \(output)")
        }
        let db = try database.connect()
        defer { db.close() }
        let migrations = try MigrationCatalog.bundled()
        let recorded = try db.query("SELECT version FROM schema_migrations ORDER BY version").rows.map { try $0.decode("version", as: Int.self) }
        #expect(recorded == migrations.map(\.version))
        // Exactly one of the two did the work; the other found the schema up to date.
        let appliedLines = outputs.map { $0.split(separator: "\n").filter { $0.hasPrefix("applied ") }.count }
        #expect(appliedLines.sorted() == [0, migrations.count])
    }

    @Test func aFailingMigrationRollsBackAndIsNamed() throws {
        let database = try TestDatabase()
        let db = try database.connect()
        defer { db.close() }
        let good = Migration(version: 1, name: "good", sql: "CREATE TABLE a (id int)")
        let bad = Migration(version: 2, name: "bad", sql: "CREATE TABLE b (id int); SELECT * FROM no_such_table;")
        do {
            try Migrator(connection: db, migrations: [good, bad]).migrate()
            Issue.record("the bad migration must fail")
        } catch {
            #expect("\(error)".contains("2_bad"))
            #expect("\(error)".contains("no_such_table"))
        }
        #expect(try db.query("SELECT to_regclass('a') IS NOT NULL AS p").rows[0].decode("p", as: Bool.self))
        #expect(try db.query("SELECT to_regclass('b') IS NULL AS p").rows[0].decode("p", as: Bool.self))
        #expect(try Migrator(connection: db, migrations: [good, bad]).appliedMigrations().map(\.version) == [1])
    }

    @Test func anEditedAppliedMigrationIsRefused() throws {
        let database = try TestDatabase()
        let db = try database.connect()
        defer { db.close() }
        try Migrator(connection: db, migrations: [Migration(version: 1, name: "t", sql: "CREATE TABLE t (id int)")]).migrate()
        let edited = [Migration(version: 1, name: "t", sql: "CREATE TABLE t (id bigint)"),
                      Migration(version: 2, name: "u", sql: "CREATE TABLE u (id int)")]
        #expect(throws: Migrator.MigrationError.self) { try Migrator(connection: db, migrations: edited).migrate() }
        #expect(try db.query("SELECT to_regclass('u') IS NULL AS p").rows[0].decode("p", as: Bool.self))
    }
}

/// The schema's invariants hold in the database itself, whatever code writes to it.
@Suite struct SchemaInvariantTests {
    let database: TestDatabase
    let db: PostgresConnection
    let userID: UUID
    let accountID: UUID

    init() throws {
        database = try TestDatabase(migrated: true)
        db = try database.connect()
        userID = try db.query("INSERT INTO users (email) VALUES ('t@example.com') RETURNING id").rows[0].decode("id", as: UUID.self)
        accountID = try db.query("""
            INSERT INTO broker_accounts (user_id, broker, label) VALUES (\(userID), 'kite', 'main') RETURNING id
            """).rows[0].decode("id", as: UUID.self)
    }

    func violation(_ query: PostgresQuery) -> PostgresError? {
        do {
            try db.execute(query)
            return nil
        } catch let error as PostgresError {
            return error
        } catch {
            return nil
        }
    }

    @Test func tradesAreUniquePerAccountAndBrokerTradeID() throws {
        let insert: PostgresQuery = """
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, traded_at)
            VALUES (\(accountID), 'T-1', 'INFY', 'NSE', 'buy', \(Decimal(10)), \(Decimal(string: "1520.05")!), now())
            """
        try db.execute(insert)
        let error = violation(insert)
        #expect(error?.isUniqueViolation == true)
        #expect(error?.constraint != nil)
    }

    @Test func quantitiesSidesAndStatesAreChecked() throws {
        let zero = violation("""
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, traded_at)
            VALUES (\(accountID), 'T-2', 'INFY', 'NSE', 'buy', \(Decimal(0)), \(Decimal(1)), now())
            """)
        #expect(zero?.isCheckViolation == true)
        let side = violation("""
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, traded_at)
            VALUES (\(accountID), 'T-3', 'INFY', 'NSE', 'hold', \(Decimal(1)), \(Decimal(1)), now())
            """)
        #expect(side?.isCheckViolation == true)
        let broker = violation("INSERT INTO broker_accounts (user_id, broker, label) VALUES (\(userID), 'robinhood', 'x')")
        #expect(broker?.isCheckViolation == true)
        let plaintext = violation("UPDATE broker_accounts SET api_secret_sealed = 'hunter2' WHERE id = \(accountID)")
        #expect(plaintext?.isCheckViolation == true)
        let orphan = violation("""
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, traded_at)
            VALUES (\(UUID()), 'T-4', 'INFY', 'NSE', 'buy', \(Decimal(1)), \(Decimal(1)), now())
            """)
        #expect(orphan?.isForeignKeyViolation == true)
    }

    @Test func demoSeedIsIdempotentAndSealsCredentials() throws {
        let keyring = try SecretKeyring(current: SecretKey.generate())
        let first = try DemoData.seed(db, keyring: keyring)
        #expect(first.users == DemoData.users.count)
        #expect(first.accounts == DemoData.accounts.count)
        let second = try DemoData.seed(db, keyring: keyring)
        #expect(second.users + second.accounts + second.instruments == 0)
        // Upstox places and quotes by instrument key: the demo instruments carry theirs.
        #expect(try db.query("SELECT broker_tokens->>'upstox' AS key FROM instruments WHERE symbol = 'INFY'").rows[0]
            .decode("key", as: String.self) == "NSE_EQ|INE009A01021")

        let row = try db.query("""
            SELECT a.id, a.api_secret_sealed FROM broker_accounts a JOIN users u ON u.id = a.user_id
            WHERE u.email = 'ben@demo.tm.local' AND a.broker = 'binance'
            """).rows[0]
        let id = try row.decode("id", as: UUID.self)
        let sealed = try row.decode("api_secret_sealed", as: String.self)
        #expect(!sealed.contains("demo_binance_secret_ben"))
        #expect(try keyring.openString(sealed, associatedData: DemoData.credentialContext(accountID: id, field: "api_secret")) == "demo_binance_secret_ben")
        // Bound to its account and field: the same sealed text does not open as another field.
        #expect(throws: CryptoError.self) {
            try keyring.openString(sealed, associatedData: DemoData.credentialContext(accountID: id, field: "api_key"))
        }
    }
}
