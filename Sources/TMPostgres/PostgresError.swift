import Foundation

/// An error from the Postgres client: a bad configuration, a lost or refused connection, an error
/// reported by the server (with its SQLSTATE and diagnostic fields), or a value that cannot be decoded.
///
/// Guarantees: `description` never contains bound parameter values or passwords. It is built from the
/// SQLSTATE, the server's primary message (with any quoted input value redacted), and the names of the
/// constraint, table and column. `detail` is kept out of `description` because the server echoes row
/// values there (e.g. the duplicate key of a unique violation); read it explicitly when you need it.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What failed, so callers can decide whether to retry, reconnect or give up.
    public enum Kind: Sendable, Hashable {
        /// The configuration (URL, parameters) is invalid.
        case configuration
        /// The connection could not be opened, or it dropped. A statement that failed this way may
        /// or may not have been executed by the server.
        case connection
        /// The server rejected the statement; `sqlState` says why.
        case server
        /// A value could not be decoded into the requested Swift type.
        case decoding
        /// A value could not be encoded as a parameter, or the API was misused.
        case client
    }

    public var kind: Kind
    /// The five-character SQLSTATE code, e.g. `23505` for a unique violation.
    public var sqlState: String?
    /// The primary message. For server errors this is the server's text and may quote an input value.
    public var message: String
    /// The server's DETAIL; may contain row values, so it is not part of `description`.
    public var detail: String?
    public var hint: String?
    public var constraint: String?
    public var schema: String?
    public var table: String?
    /// For server errors, the column the server named; for decoding errors, the result column.
    public var column: String?

    public init(
        kind: Kind, message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil,
        constraint: String? = nil, schema: String? = nil, table: String? = nil, column: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.schema = schema
        self.table = table
        self.column = column
    }

    /// `23505`: a unique or primary-key constraint was violated.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// `23503`: a foreign-key constraint was violated.
    public var isForeignKeyViolation: Bool { sqlState == "23503" }
    /// `23514`: a check constraint was violated.
    public var isCheckViolation: Bool { sqlState == "23514" }
    /// `23502`: a NOT NULL constraint was violated.
    public var isNotNullViolation: Bool { sqlState == "23502" }
    /// `40001`: a serializable transaction must be retried from the start.
    public var isSerializationFailure: Bool { sqlState == "40001" }
    /// `40P01`: the transaction was chosen as a deadlock victim and may be retried.
    public var isDeadlock: Bool { sqlState == "40P01" }
    /// The connection is unusable (dropped, refused, or terminated by the server).
    public var isConnectionError: Bool { kind == .connection }

    public var description: String {
        var text = "Postgres \(kind)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": " + (kind == .server ? Self.redactingQuotedInput(message) : message)
        var names: [String] = []
        if let constraint { names.append("constraint \(constraint)") }
        if let table { names.append("table \(schema.map { "\($0)." } ?? "")\(table)") }
        if let column { names.append("column \(column)") }
        if !names.isEmpty { text += " (" + names.joined(separator: ", ") + ")" }
        if let hint, kind != .server { text += "; hint: \(hint)" }
        return text
    }

    /// Server messages such as `invalid input syntax for type integer: "abc"` end with the offending
    /// input, which may be a bound parameter; replace that quoted tail so logs never carry it.
    static func redactingQuotedInput(_ message: String) -> String {
        guard let range = message.range(of: ": \"") else { return message }
        return message[..<range.lowerBound] + ": \"<redacted>\""
    }

    static func connection(_ message: String, sqlState: String? = nil) -> PostgresError {
        PostgresError(kind: .connection, message: message, sqlState: sqlState)
    }

    static func configuration(_ message: String) -> PostgresError {
        PostgresError(kind: .configuration, message: message)
    }

    static func client(_ message: String) -> PostgresError {
        PostgresError(kind: .client, message: message)
    }
}

/// The reason a single value failed to decode; `PostgresRow` wraps it into a `PostgresError` that
/// names the column, so the decoders themselves need not know where the value came from.
public struct PostgresDecodingFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
