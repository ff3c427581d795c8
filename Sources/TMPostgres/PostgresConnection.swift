import CLibpq
import Foundation
import TMCore

/// A synchronous connection to Postgres over libpq, for command-line tools and for the pool's threads.
///
/// Guarantees: statements are sent with `PQexecParams` and text-format parameters (values never
/// enter the SQL text), except `simpleQuery`, which is for trusted multi-statement scripts;
/// `transaction` commits only when its body returns and rolls back when it throws; a failure caused by
/// a lost connection is reported with kind `.connection` and never retried here (the statement may
/// have run). Not thread-safe: use it from one thread at a time (the pool confines each to a thread).
public final class PostgresConnection {
    public let configuration: PostgresConfiguration
    private var handle: OpaquePointer?
    private var savepointDepth = 0
    /// Set by the notice receiver when the server announces it is closing this session (an idle-time
    /// FATAL such as `terminating connection due to administrator command`).
    private let serverNotices = ServerNotices()

    /// Opens a connection; blocks up to `configuration.connectTimeout`.
    public init(configuration: PostgresConfiguration) throws {
        self.configuration = configuration
        let handle = try Self.open(configuration)
        self.handle = handle
        // Notices would otherwise be printed to stderr, which belongs to the JSON logs; the receiver
        // only watches for FATAL ones. `serverNotices` lives as long as the handle.
        PQsetNoticeReceiver(handle, Self.noticeReceiver, Unmanaged.passUnretained(serverNotices).toOpaque())
    }

    private static let noticeReceiver: PQnoticeReceiver = { context, result in
        guard let context, let result, let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V"))) else { return }
        let level = String(cString: severity)
        if level == "FATAL" || level == "PANIC" {
            Unmanaged<ServerNotices>.fromOpaque(context).takeUnretainedValue().sessionEnding = true
        }
    }

    /// Opens a connection from `TM_DATABASE_URL`.
    public static func connect(environment: TMEnvironment = .current()) throws -> PostgresConnection {
        try PostgresConnection(configuration: try PostgresConfiguration.fromEnvironment(environment))
    }

    deinit {
        close()
    }

    private static func open(_ configuration: PostgresConfiguration) throws -> OpaquePointer {
        let pairs = configuration.libpqParameters
        // strdup'd C strings, NULL-terminated arrays, as PQconnectdbParams expects.
        let keys = pairs.map { strdup($0.0) } + [nil]
        let values = pairs.map { strdup($0.1) } + [nil]
        defer {
            for p in keys { free(p) }
            for p in values { free(p) }
        }
        let conn: OpaquePointer? = keys.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 0)
            }
        }
        guard let conn else { throw PostgresError.connection("libpq could not allocate a connection") }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.libpqMessage(conn) ?? "connection failed"
            PQfinish(conn)
            throw PostgresError.connection("cannot connect to \(configuration): \(message)")
        }
        return conn
    }

    static func libpqMessage(_ conn: OpaquePointer) -> String? {
        guard let raw = PQerrorMessage(conn) else { return nil }
        let text = String(cString: raw).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text.replacingOccurrences(of: "\n", with: "; ")
    }

    // MARK: Status

    /// True while the connection is open and libpq has not seen it fail. Cheap: no round trip. It reads
    /// whatever the server has already sent (libpq's socket is non-blocking), so a connection the server
    /// closed while idle is noticed here.
    public var isAlive: Bool {
        guard let handle else { return false }
        guard PQstatus(handle) == CONNECTION_OK, !serverNotices.sessionEnding else { return false }
        // Read what the server sent while we were idle. A terminated session sends a FATAL message
        // and then closes: the first read gets the message, PQisBusy parses it (libpq hands an idle
        // error to the notice receiver), and a second read sees the end of the stream.
        if PQconsumeInput(handle) == 0 { return false }
        _ = PQisBusy(handle)
        if serverNotices.sessionEnding { return false }
        if PQconsumeInput(handle) == 0 { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// True after `close()`.
    public var isClosed: Bool { handle == nil }

    /// Checks the connection with a round trip (`SELECT 1`).
    public func healthCheck() throws {
        _ = try query("SELECT 1")
    }

    /// The server version as libpq reports it, e.g. `150004` for 15.4.
    public var serverVersionNumber: Int {
        guard let handle else { return 0 }
        return Int(PQserverVersion(handle))
    }

    /// The server version as text, e.g. `15.4`.
    public var serverVersion: String {
        let v = serverVersionNumber
        return v >= 100000 ? "\(v / 10000).\(v % 10000)" : "\(v / 10000).\(v / 100 % 100).\(v % 100)"
    }

    /// Whether a transaction block is open (or failed and awaiting ROLLBACK).
    public var isInTransaction: Bool {
        guard let handle else { return false }
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    var transactionStatus: PGTransactionStatusType {
        guard let handle else { return PQTRANS_UNKNOWN }
        return PQtransactionStatus(handle)
    }

    /// Closes this session (if any) and opens a new one with the same configuration, for command-line
    /// tools that outlive a server restart. Session state (SET, temp tables) does not carry over.
    public func reconnect() throws {
        close()
        savepointDepth = 0
        serverNotices.sessionEnding = false
        let fresh = try PostgresConnection(configuration: configuration)
        // Take over the new handle and its notice receiver context.
        handle = fresh.handle
        fresh.handle = nil
        PQsetNoticeReceiver(handle, Self.noticeReceiver, Unmanaged.passUnretained(serverNotices).toOpaque())
    }

    /// Closes the connection. Idempotent.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    // MARK: Statements

    /// Runs one statement with bind parameters and returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) throws -> PostgresResult {
        let handle = try liveHandle()
        let count = query.binds.count
        guard count <= 65535 else { throw PostgresError.client("too many bind parameters (\(count); at most 65535)") }
        var types: [Oid] = []
        types.reserveCapacity(count)
        var values: [UnsafeMutablePointer<CChar>?] = []
        values.reserveCapacity(count)
        defer { for v in values { free(v) } }
        for (i, bind) in query.binds.enumerated() {
            types.append(Oid(bind.type.rawValue))
            guard let bytes = bind.bytes else {
                values.append(nil)
                continue
            }
            // Text-format parameters are C strings; Postgres cannot store NUL in text anyway.
            if bytes.contains(0) {
                throw PostgresError.client("parameter $\(i + 1) (\(bind.type)) contains a NUL byte; use [UInt8]/Data (bytea) for binary data")
            }
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            bytes.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count) }
            }
            buffer[bytes.count] = 0
            values.append(buffer)
        }
        let result: OpaquePointer? = types.withUnsafeBufferPointer { typePointer in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { valuePointer in
                PQexecParams(
                    handle, query.sql, Int32(count),
                    count == 0 ? nil : typePointer.baseAddress,
                    count == 0 ? nil : valuePointer.baseAddress,
                    nil, nil, 0)
            }
        }
        return try consume(result, handle: handle)
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: PostgresQuery) throws -> Int {
        try self.query(query).affectedRows
    }

    /// Runs trusted SQL text that may hold several statements (a migration file) with `PQexec`.
    /// Without an explicit BEGIN the statements run in one implicit transaction: all or nothing.
    /// No parameters: never build this string from input.
    public func simpleQuery(_ sql: String) throws {
        let handle = try liveHandle()
        let result = PQexec(handle, sql)
        _ = try consume(result, handle: handle)
    }

    /// Runs `body` inside a transaction: COMMIT when it returns, ROLLBACK (then rethrow) when it throws.
    /// Nested calls use savepoints, so an inner failure undoes only the inner work. A transaction the
    /// server already aborted (a statement failed and the body swallowed the error) is rolled back and
    /// reported as an error, never as a successful commit.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        if isInTransaction {
            return try savepoint(body)
        }
        try simpleQuery("BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            rollbackQuietly("ROLLBACK")
            throw error
        }
        if transactionStatus == PQTRANS_INERROR {
            rollbackQuietly("ROLLBACK")
            throw PostgresError(
                kind: .server, message: "transaction rolled back: a statement in it failed and the error was not propagated",
                sqlState: "25P02")
        }
        let handle = try liveHandle()
        let commit = PQexec(handle, "COMMIT")
        let result = try consume(commit, handle: handle)
        // The server answers COMMIT of an aborted transaction with the tag ROLLBACK.
        if result.commandTag == "ROLLBACK" {
            throw PostgresError(kind: .server, message: "COMMIT was turned into ROLLBACK by the server", sqlState: "25P02")
        }
        return value
    }

    private func savepoint<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        let name = "tm_savepoint_\(savepointDepth)"
        try simpleQuery("SAVEPOINT \(name)")
        let value: T
        do {
            value = try body(self)
        } catch {
            rollbackQuietly("ROLLBACK TO SAVEPOINT \(name)")
            throw error
        }
        try simpleQuery("RELEASE SAVEPOINT \(name)")
        return value
    }

    /// Best effort: when the connection is gone the server has rolled back already.
    private func rollbackQuietly(_ sql: String) {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return }
        if let result = PQexec(handle, sql) { PQclear(result) }
    }

    func liveHandle() throws -> OpaquePointer {
        guard let handle else { throw PostgresError.connection("connection is closed") }
        guard PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError.connection("connection is broken: \(Self.libpqMessage(handle) ?? "lost")")
        }
        return handle
    }

    /// Thread-confined like the connection; a class so libpq's callback can reach it by pointer.
    private final class ServerNotices {
        var sessionEnding = false
    }

    /// Turns a PGresult into a `PostgresResult` or an error, and frees it.
    private func consume(_ result: OpaquePointer?, handle: OpaquePointer) throws -> PostgresResult {
        guard let result else {
            throw connectionOrClientError(handle, fallback: "no result from libpq")
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return Self.materialise(result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            // Abandoning a COPY leaves the protocol mid-stream; the connection is not reusable.
            close()
            throw PostgresError.client("COPY must run through copyOut/copyIn, not query/execute")
        default:
            throw error(from: result, handle: handle)
        }
    }

    private func connectionOrClientError(_ handle: OpaquePointer, fallback: String) -> PostgresError {
        let message = Self.libpqMessage(handle) ?? fallback
        return PostgresError.connection(message)
    }

    func error(from result: OpaquePointer, handle: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let raw = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: raw)
        }
        let sqlState = field("C")
        let primary = field("M")
            ?? String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
        var error = PostgresError(
            kind: .server, message: primary.isEmpty ? (Self.libpqMessage(handle) ?? "unknown error") : primary,
            sqlState: sqlState, detail: field("D"), hint: field("H"), constraint: field("n"),
            schema: field("s"), table: field("t"), column: field("c"))
        // Class 08 is a connection exception; 57P01-03 are the server shutting down or restarting.
        let lostConnection = PQstatus(handle) != CONNECTION_OK
            || sqlState?.hasPrefix("08") == true
            || ["57P01", "57P02", "57P03"].contains(sqlState ?? "")
        if lostConnection { error.kind = .connection }
        return error
    }

    private static func materialise(_ result: OpaquePointer) -> PostgresResult {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [PostgresColumn] = []
        columns.reserveCapacity(columnCount)
        for c in 0..<columnCount {
            let name = PQfname(result, Int32(c)).map { String(cString: $0) } ?? "?column?"
            columns.append(PostgresColumn(name: name, type: PostgresDataType(UInt32(PQftype(result, Int32(c))))))
        }
        let columnSet = PostgresColumnSet(columns)
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var values: [[UInt8]?] = []
            values.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                if PQgetisnull(result, Int32(r), Int32(c)) != 0 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, Int32(r), Int32(c)))
                    let pointer = PQgetvalue(result, Int32(r), Int32(c))!
                    values.append(pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
                        Array(UnsafeBufferPointer(start: $0, count: length))
                    })
                }
            }
            rows.append(PostgresRow(columnSet: columnSet, values: values))
        }
        let tag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        let affected = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
        return PostgresResult(columns: columns, rows: rows, affectedRows: affected, commandTag: tag)
    }
}
