import Foundation
import TMDatabase
import TMPostgres

/// A database of its own on the harness's PostgreSQL, created for one test and dropped after it
/// (by `drop()` or when released), so tests that migrate or write never see each other's data.
public final class TestDatabase: @unchecked Sendable {
    public let name: String
    public let configuration: PostgresConfiguration

    /// Creates the database; with `migrated`, applies every bundled migration to it.
    public init(migrated: Bool = false, prefix: String = "tm_db") throws {
        var admin = try PostgresConfiguration(url: try TestServers.databaseURL)
        admin.database = "postgres"
        name = TestServers.uniqueName(prefix).lowercased()
        let server = try PostgresConnection(configuration: admin)
        defer { server.close() }
        try server.simpleQuery("CREATE DATABASE \(PostgresQuery.quoteIdentifier(name))")
        var configuration = admin
        configuration.database = name
        self.configuration = configuration
        if migrated {
            let db = try PostgresConnection(configuration: configuration)
            defer { db.close() }
            try Migrator(connection: db, migrations: try MigrationCatalog.bundled()).migrate()
        }
    }

    deinit { drop() }

    /// `TM_DATABASE_URL` for this database (for processes a test starts).
    public var url: String { configuration.url }

    public func connect() throws -> PostgresConnection { try PostgresConnection(configuration: configuration) }

    /// Drops the database; safe to call more than once.
    public func drop() {
        var admin = configuration
        admin.database = "postgres"
        if let server = try? PostgresConnection(configuration: admin) {
            try? server.simpleQuery("DROP DATABASE IF EXISTS \(PostgresQuery.quoteIdentifier(name)) WITH (FORCE)")
            server.close()
        }
    }
}
