import ArgumentParser
import Foundation
import TMCore
import TMDatabase
import TMPostgres

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the schema migrations that have not been applied yet.",
        discussion: "Safe to run from several machines at once: a Postgres advisory lock serializes the runs.")

    @Flag(help: "List applied and pending migrations without applying anything.")
    var status = false

    func run() throws {
        let environment = TMEnvironment.current()
        let connection = try PostgresConnection(configuration: PostgresConfiguration.fromEnvironment(environment))
        defer { connection.close() }
        let migrator = Migrator(connection: connection, migrations: try MigrationCatalog.bundled())
        if status {
            let applied = try migrator.appliedMigrations()
            for record in applied {
                print("applied  \(String(format: "%04d", record.version))_\(record.name)  \(ISO8601DateFormatter().string(from: record.appliedAt))")
            }
            for migration in try migrator.pendingMigrations() {
                print("pending  \(String(format: "%04d", migration.version))_\(migration.name)")
            }
            return
        }
        let report = try migrator.migrate()
        for migration in report.applied {
            print("applied \(String(format: "%04d", migration.version))_\(migration.name)")
        }
        print(report.applied.isEmpty
              ? "schema up to date (\(report.alreadyApplied) migrations applied earlier)"
              : "\(report.applied.count) migration(s) applied; schema up to date")
    }
}
