import Foundation
import TMPostgres
import TestSupport

/// One throwaway server shared by the suite (started on first use). Tests run in parallel, so each
/// test names its own tables via `uniqueName`. Tests that stop a server start their own.
enum TestServer {
    private static let shared: Result<EphemeralPostgres, Error> = Result { try EphemeralPostgres.start(database: "tm_pg_tests") }

    static func server() throws -> EphemeralPostgres { try shared.get() }

    static func configuration() throws -> PostgresConfiguration {
        try PostgresConfiguration(url: try server().url)
    }

    static func connect() throws -> PostgresConnection {
        try PostgresConnection(configuration: try configuration())
    }
}

/// A table or schema name unique to this test run.
func uniqueName(_ prefix: String) -> String {
    "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
}
