import Foundation
import TMPostgres

/// Applies migrations to a database exactly once.
///
/// Guarantees:
/// - The whole run holds a Postgres advisory lock, so two `tm migrate` started at once serialize:
///   the second waits, then finds nothing left to do. Both succeed; every migration runs once.
/// - Each migration and its `schema_migrations` row commit in one transaction: a failing migration
///   leaves neither its changes nor its row, and the error names the migration.
/// - A migration that was edited after it was applied (checksum mismatch) stops the run before
///   anything is applied.
public struct Migrator {
    /// An arbitrary, fixed advisory lock key: "tm migrate" as a 64-bit number.
    public static let advisoryLockKey: Int64 = 0x746D_5F6D_6967_7261

    /// A migration recorded in `schema_migrations`.
    public struct Applied: Sendable, Hashable {
        public let version: Int
        public let name: String
        public let checksum: String
        public let appliedAt: Date
    }

    /// What a run did.
    public struct Report: Sendable {
        public let applied: [Migration]
        public let alreadyApplied: Int
    }

    public enum MigrationError: Error, CustomStringConvertible {
        case changedAfterApply(version: Int, name: String)
        case failed(version: Int, name: String, underlying: any Error)

        public var description: String {
            switch self {
            case .changedAfterApply(let version, let name):
                return "migration \(version)_\(name) was edited after it was applied; add a new migration instead"
            case .failed(let version, let name, let underlying):
                return "migration \(version)_\(name) failed and was rolled back: \(underlying)"
            }
        }
    }

    public let connection: PostgresConnection
    public let migrations: [Migration]

    public init(connection: PostgresConnection, migrations: [Migration]) {
        self.connection = connection
        self.migrations = migrations
    }

    /// Applies every pending migration, in version order.
    @discardableResult
    public func migrate() throws -> Report {
        try withMigrationLock {
            try ensureTable()
            let applied = try appliedMigrations()
            try verify(applied)
            let done = Set(applied.map(\.version))
            var ran: [Migration] = []
            for migration in migrations where !done.contains(migration.version) {
                do {
                    try connection.transaction { db in
                        try db.simpleQuery(migration.sql)
                        try db.execute("""
                            INSERT INTO schema_migrations (version, name, checksum)
                            VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                            """)
                    }
                } catch {
                    throw MigrationError.failed(version: migration.version, name: migration.name, underlying: error)
                }
                ran.append(migration)
            }
            return Report(applied: ran, alreadyApplied: done.count)
        }
    }

    /// The migrations recorded as applied (empty when the table does not exist yet).
    public func appliedMigrations() throws -> [Applied] {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        guard try exists.rows.first?.decode("present", as: Bool.self) == true else { return [] }
        return try connection.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
            .rows.map { row in
                Applied(
                    version: try row.decode("version", as: Int.self), name: try row.decode("name", as: String.self),
                    checksum: try row.decode("checksum", as: String.self), appliedAt: try row.decode("applied_at", as: Date.self))
            }
    }

    /// The shipped migrations not yet applied.
    public func pendingMigrations() throws -> [Migration] {
        let done = Set(try appliedMigrations().map(\.version))
        return migrations.filter { !done.contains($0.version) }
    }

    private func verify(_ applied: [Applied]) throws {
        let shipped = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for record in applied {
            if let migration = shipped[record.version], migration.checksum != record.checksum {
                throw MigrationError.changedAfterApply(version: record.version, name: record.name)
            }
        }
    }

    private func ensureTable() throws {
        try connection.simpleQuery("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
    }

    private func withMigrationLock<T>(_ body: () throws -> T) throws -> T {
        try connection.execute("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))") }
        return try body()
    }
}
