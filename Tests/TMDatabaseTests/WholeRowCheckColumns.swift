import TMPostgres

/// The columns a whole-row check function (0048's rules, 0050's outbox form) reads as `r.<column>`,
/// and those of them its table no longer has: Postgres ties such a check to the table, not to the
/// columns, so a migration renaming or dropping one would make every write of the table fail.
enum WholeRowCheckColumns {
    static func read(by function: String, of table: String, _ db: PostgresConnection) throws -> (read: Set<String>, missing: Set<String>) {
        let source = try db.query("SELECT prosrc FROM pg_proc WHERE proname = \(function)").rows[0].decode("prosrc", as: String.self)
        let read = Set(source.matches(of: /\br\.([a-z_]+)/).map { String($0.output.1) })
        let columns = Set(try db.query("""
            SELECT attname FROM pg_attribute WHERE attrelid = \(table)::regclass AND attnum > 0 AND NOT attisdropped
            """).rows.map { try $0.decode("attname", as: String.self) })
        return (read, read.subtracting(columns))
    }
}
