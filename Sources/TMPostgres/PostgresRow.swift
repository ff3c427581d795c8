import Foundation

/// One column of a result: its name (as the server labelled it) and its type OID, which decoders use
/// to describe and check values. A plain value: equal columns compare equal.
public struct PostgresColumn: Sendable, Hashable {
    public var name: String
    public var type: PostgresDataType
    public init(name: String, type: PostgresDataType) {
        self.name = name
        self.type = type
    }
}

/// The column list shared by all rows of a result, with a name index built once.
final class PostgresColumnSet: Sendable {
    let columns: [PostgresColumn]
    let indexByName: [String: Int]

    init(_ columns: [PostgresColumn]) {
        self.columns = columns
        var index: [String: Int] = [:]
        // The first column of a name wins, as in `SELECT a.id, b.id`.
        for (i, column) in columns.enumerated() where index[column.name] == nil { index[column.name] = i }
        self.indexByName = index
    }
}

/// A connection's column sets of its recent results, most recently used first: a result whose
/// columns (names AND types, in order) equal one of them shares it instead of building its name
/// index again. A lone order's statements return up to ~50 columns each, and hashing every name of
/// every result cost ~26k instructions a result; a statement's results have the same columns each
/// time, so a session sees few distinct sets. Equality, not a statement's identity, decides: a
/// result never gets another's columns, whatever changed in the schema. Bounded (`limit`); confined
/// to the connection's thread like the connection.
struct RecentColumnSets {
    static let limit = 16
    private static let none = PostgresColumnSet([])
    private var sets: [PostgresColumnSet] = []
    /// Sets built (not found among the recent ones).
    private(set) var built = 0

    /// Equal types and name BYTES, in order: `String`'s `==` would call canonically equivalent names
    /// (NFC `é` and `e` + U+0301) equal, and the second result's rows would report the first's bytes.
    static func same(_ a: [PostgresColumn], _ b: [PostgresColumn]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.type == $1.type && sameBytes($0.name, $1.name) }
    }

    /// Whether two names have the same UTF-8 bytes: their counts, then one `memcmp` of their
    /// storage. Walking the two `utf8` views byte by byte cost ~800 instructions a name, ~66k an
    /// order at 1,000/s's shape (~9 results an order, each compared name by name; session 35).
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    }

    mutating func columnSet(for columns: [PostgresColumn]) -> PostgresColumnSet {
        if columns.isEmpty { return Self.none }
        if let index = sets.firstIndex(where: { Self.same($0.columns, columns) }) {
            let set = sets[index]
            if index > 0 {
                sets.remove(at: index)
                sets.insert(set, at: 0)
            }
            return set
        }
        built += 1
        let set = PostgresColumnSet(columns)
        sets.insert(set, at: 0)
        if sets.count > Self.limit { sets.removeLast() }
        return set
    }
}

/// Every cell of a result, copied out of libpq into one buffer: its rows are windows on it, so a
/// result costs a few allocations whatever its size (an array per cell made most of a result's).
struct PostgresCells: Sendable {
    /// The cells' text, one after another in row-major order.
    let bytes: [UInt8]
    /// Cell `i` is `bytes[bounds[2i]..<bounds[2i + 1]]`; a start of -1 marks SQL NULL.
    let bounds: [Int]

    func value(_ cell: Int) -> ArraySlice<UInt8>? {
        let start = bounds[2 * cell]
        return start < 0 ? nil : bytes[start..<bounds[2 * cell + 1]]
    }
}

/// One row of a result, copied out of libpq so it outlives the connection and crosses threads.
///
/// Guarantees: decoding a NULL into a non-optional type, an unknown column, or an unparsable value
/// throws a `.decoding` `PostgresError` whose `column` and message name the column and the reason
/// (never the value of a text column in full).
public struct PostgresRow: Sendable {
    let columnSet: PostgresColumnSet
    let cells: PostgresCells
    /// The index in `cells` of this row's first column.
    let firstCell: Int

    init(columnSet: PostgresColumnSet, cells: PostgresCells, firstCell: Int) {
        self.columnSet = columnSet
        self.cells = cells
        self.firstCell = firstCell
    }

    private func value(_ index: Int) -> ArraySlice<UInt8>? { cells.value(firstCell + index) }

    public var columns: [PostgresColumn] { columnSet.columns }
    public var columnNames: [String] { columnSet.columns.map(\.name) }
    public var count: Int { columnSet.columns.count }

    public func index(of column: String) throws -> Int {
        guard let index = columnSet.indexByName[column] else {
            throw PostgresError(
                kind: .decoding,
                message: "no column '\(column)' in result (columns: \(columnNames.joined(separator: ", ")))",
                column: column)
        }
        return index
    }

    /// Whether the row's first columns are `names`, in order: a reader of a fixed column list may
    /// then decode by position instead of looking each name up (a hash per column per row).
    public func columnsBegin(with names: [String]) -> Bool {
        let columns = columnSet.columns
        guard columns.count >= names.count else { return false }
        for (column, name) in zip(columns, names) where column.name != name { return false }
        return true
    }

    public func isNull(_ column: String) throws -> Bool { value(try index(of: column)) == nil }

    public func isNull(_ index: Int) throws -> Bool {
        try checkIndex(index)
        return value(index) == nil
    }

    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try decode(try index(of: column), as: type)
    }

    /// Inlinable, so a reader in another module gets it specialized for the type it decodes:
    /// unspecialized, every call went through the type's witnesses and metadata (~450 instructions
    /// of its own a call, 44 calls an order in `OrderRecord(row:)` alone; session 35). What does
    /// not depend on `T` — the index check, the cell, the refusal — stays here, not inlined.
    @inlinable
    public func decode<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws -> T {
        let cell = try cell(index)
        do {
            guard let bytes = cell.bytes else { return try T.decodeNull() }
            return try T.decodePostgres(bytes, type: cell.type)
        } catch {
            throw decodingError(error, column: index, as: T.self)
        }
    }

    /// Column `index`'s bytes (nil for NULL) and type, after the index is checked.
    @usableFromInline
    func cell(_ index: Int) throws -> (bytes: ArraySlice<UInt8>?, type: PostgresDataType) {
        try checkIndex(index)
        return (value(index), columnSet.columns[index].type)
    }

    /// What a failed decode of column `index` as `type` throws: a decoding failure as a
    /// `PostgresError` naming the column and the type, a `PostgresError` as it is.
    @usableFromInline
    func decodingError(_ error: any Error, column index: Int, as type: Any.Type) -> any Error {
        let column = columnSet.columns[index]
        switch error {
        case let failure as PostgresDecodingFailure:
            return PostgresError(kind: .decoding, message: "column '\(column.name)' as \(type): \(failure.reason)", column: column.name)
        case let error as PostgresError:
            return error
        default:
            return PostgresError(kind: .decoding, message: "column '\(column.name)' as \(type): \(error)", column: column.name)
        }
    }

    /// The raw text-format bytes of a column (nil for NULL).
    public func raw(_ index: Int) throws -> [UInt8]? {
        try checkIndex(index)
        return value(index).map(Array.init)
    }

    private func checkIndex(_ index: Int) throws {
        guard (0..<count).contains(index) else {
            throw PostgresError(kind: .decoding, message: "column index \(index) out of range 0..<\(count)")
        }
    }
}

/// The outcome of one statement: its rows (possibly none), columns, and affected-row count.
///
/// Guarantees: fully materialised and independent of the connection (safe to keep and send across
/// tasks); `affectedRows` is the count the server reported for INSERT/UPDATE/DELETE/SELECT/..., 0 otherwise.
public struct PostgresResult: Sendable, RandomAccessCollection {
    public let columns: [PostgresColumn]
    public let rows: [PostgresRow]
    public let affectedRows: Int
    /// The command tag, e.g. `INSERT 0 1`.
    public let commandTag: String

    init(columns: [PostgresColumn], rows: [PostgresRow], affectedRows: Int, commandTag: String) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PostgresRow { rows[position] }

    /// The first row, or nil when there is none.
    public var firstRow: PostgresRow? { rows.first }

    /// Decodes the first column of the first row: convenient for `SELECT count(*)`-style queries.
    /// Throws when there is no row.
    public func scalar<T: PostgresDecodable>(as type: T.Type = T.self) throws -> T {
        guard let row = rows.first else {
            throw PostgresError(kind: .decoding, message: "expected a row, the query returned none")
        }
        return try row.decode(0, as: type)
    }
}
