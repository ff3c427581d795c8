import Foundation

/// One versioned SQL migration: `NNNN_description.sql`, applied once, in version order, inside a
/// transaction of its own.
public struct Migration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// A fingerprint of the SQL text, stored when applied so that editing an applied migration is
    /// caught instead of silently diverging between databases. (FNV-1a 64: stable, no dependency.)
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// Errors in the set of migration files themselves.
public struct MigrationCatalogError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let reason: String
    public var description: String { "migration \(file): \(reason)" }
}

/// The migrations shipped with this build (the `.sql` files in `Sources/TMDatabase/Migrations`), or
/// those of a directory given by `TM_MIGRATIONS_DIR`.
public enum MigrationCatalog {
    /// The migrations bundled as resources of this module.
    public static func bundled() throws -> [Migration] {
        guard let url = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationCatalogError(file: "Migrations", reason: "the bundled migrations folder is missing from this build")
        }
        return try load(directory: url)
    }

    /// Reads `NNNN_description.sql` files from `directory`, sorted by version; versions must be unique.
    public static func load(directory: URL) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        var migrations: [Migration] = []
        var seen: [Int: String] = [:]
        for file in files {
            let stem = String(file.dropLast(4))
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0 else {
                throw MigrationCatalogError(file: file, reason: "the name must be NNNN_description.sql with a positive version")
            }
            if let other = seen[version] {
                throw MigrationCatalogError(file: file, reason: "version \(version) is also used by \(other)")
            }
            seen[version] = file
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        return migrations.sorted { $0.version < $1.version }
    }
}
