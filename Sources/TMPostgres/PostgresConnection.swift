import CLibpq
import Foundation
import TMCore

/// A synchronous connection to Postgres over libpq, for command-line tools and for the pool's threads.
///
/// Guarantees: statements are sent with `PQexecParams` (or, for a `prepared` query, parsed once per
/// session and run with `PQexecPrepared`) and text-format parameters — binary for the array types of
/// `PostgresArrayBinary` — (values never enter the SQL text), except `simpleQuery`, which is for trusted multi-statement scripts; `transaction` commits
/// only when its body returns and rolls back when it throws; a failure caused by a lost connection is
/// reported with kind `.connection` and never retried here (the statement may have run). Not
/// thread-safe: use it from one thread at a time (the pool confines each to a thread).
///
/// Round trips: a transaction's BEGIN, and statements given to `send(_:check:)` (a fence check, a
/// write whose result nobody reads), are not sent alone: they travel in ONE pipeline with the next
/// statement that needs its answer, or with the COMMIT — in order, in the same transaction, each
/// one's error or failed check thrown before anything later is used, so the transaction rolls back.
public final class PostgresConnection {
    public let configuration: PostgresConfiguration
    private var handle: OpaquePointer?
    private var savepointDepth = 0
    /// Statements waiting to go with the next round trip (`send`), in order.
    private var waiting: [Waiting] = []
    /// A sent check failed inside the open transaction. The server's transaction is healthy (a check
    /// is not an error to it), so COMMIT is refused here even if the body swallowed the refusal.
    private var checkFailed = false
    /// The open transaction's BEGIN is among `waiting` (not sent yet).
    private var beginWaiting = false
    /// Statement names of this session's prepared queries, by SQL text and parameter types.
    private var preparedNames: [PreparedKey: String] = [:]
    /// Names handed out on this session (never reused: a forgotten statement may still exist there).
    private var preparedSerial = 0
    /// A prepared statement's plan went stale inside the open transaction (see `forgetIfStale`): the
    /// transaction is run once more, the statement prepared afresh.
    private var stalePlanInTransaction = false
    /// Round trips made (each flush of a pipeline counts once), for tests and profiles.
    public private(set) var roundTrips = 0
    /// Statements sent on this session (BEGIN and COMMIT included; parses of prepared statements
    /// not), for tests and profiles.
    public private(set) var statementsSent = 0
    /// Statements parsed as named prepared statements on this session, for tests.
    public private(set) var preparedCount = 0
    /// The column sets (and name indexes) of this session's recent results: a result whose columns
    /// equal one of them shares it (`RecentColumnSets`).
    private var recentColumnSets = RecentColumnSets()
    /// Column sets built on this session — results that did not share a recent one's — for tests and
    /// profiles.
    public var columnSets: Int { recentColumnSets.built }

    private struct Waiting {
        let query: PostgresQuery
        let check: ((PostgresResult) throws -> Void)?
        /// Hands the result over when it arrives; unlike a check it cannot refuse, so it may travel
        /// with the COMMIT (`send(_:reading:)`).
        var read: ((PostgresResult) -> Void)? = nil
    }

    /// A prepared statement's identity: its SQL text's bytes and its parameter types. Hashed by the
    /// text's length and three 64-byte windows of it (start, middle, end), compared in full with
    /// `memcmp`: hashing a lone order's statements whole (several kB each) cost ~8k instructions a
    /// statement. Texts equal in their hashed bytes only meet in one bucket and are told apart by the
    /// comparison. Byte equality, not `String`'s canonical equivalence: two spellings of one text
    /// are two statements, which the server would parse alike.
    struct PreparedKey: Hashable {
        let sql: String
        let types: [UInt32]
        init(_ query: PostgresQuery) {
            sql = query.sql
            types = query.binds.map { $0.type.rawValue }
        }

        init(sql: String, types: [UInt32]) {
            self.sql = sql
            self.types = types
        }

        static let window = 64

        static func == (a: PreparedKey, b: PreparedKey) -> Bool {
            guard a.types == b.types else { return false }
            var x = a.sql, y = b.sql
            return x.withUTF8 { x in
                y.withUTF8 { y in
                    x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
                }
            }
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(types)
            var sql = sql
            sql.withUTF8 { bytes in
                let count = bytes.count, window = Self.window
                hasher.combine(count)
                guard count > 3 * window else {
                    hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
                    return
                }
                func combine(from start: Int) {
                    hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<(start + window)])))
                }
                combine(from: 0)
                combine(from: (count - window) / 2)
                combine(from: count - window)
            }
        }
    }
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

    /// Whether a transaction block is open (or failed and awaiting ROLLBACK), or begun and its BEGIN
    /// waiting to go with the first statement.
    public var isInTransaction: Bool {
        if beginWaiting { return true }
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
        waiting = []
        beginWaiting = false
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
        preparedNames = [:]
        preparedSerial = 0
    }

    // MARK: Statements

    /// Runs one statement with bind parameters and returns its rows (in one round trip with the
    /// statements waiting to go, if any: each of theirs is checked first).
    @discardableResult
    public func query(_ query: PostgresQuery) throws -> PostgresResult {
        let handle = try openHandle()
        if waiting.isEmpty {
            do {
                return try runAlone(query, handle: handle)
            } catch let error as PostgresError where query.isPrepared && forgetIfStale(query, error) && transactionStatus == PQTRANS_IDLE {
                // Outside a transaction nothing ran: prepared afresh and run once more.
                return try runAlone(query, handle: handle)
            }
        }
        return try pipeline(handle, waitingWith: query)!
    }

    /// One statement in a round trip of its own (nothing waits to go with it).
    private func runAlone(_ query: PostgresQuery, handle: OpaquePointer) throws -> PostgresResult {
        roundTrips += 1
        statementsSent += 1
        let name = query.isPrepared ? try preparedName(query, handle: handle) : nil
        let result = try withParameters(query) { count, types, values, lengths, formats in
            if let name { return PQexecPrepared(handle, name, count, values, lengths, formats, 0) }
            return PQexecParams(handle, query.sql, count, count == 0 ? nil : types, count == 0 ? nil : values, lengths, formats, 0)
        }
        return try consume(result, handle: handle)
    }

    /// A prepared statement the server refuses to run because its result type changed since it was
    /// prepared (`ALTER … TYPE`, a column added under `SELECT *`: SQLSTATE 0A000, "cached plan must
    /// not change result type") or no longer has (`DEALLOCATE ALL`, `DISCARD ALL` on the session:
    /// 26000) is forgotten, so its next use prepares it again; returns whether it was. Inside a
    /// transaction it marks the transaction to be run once more (it is aborted now).
    private func forgetIfStale(_ query: PostgresQuery, _ error: Error) -> Bool {
        guard let state = (error as? PostgresError)?.sqlState, state == "0A000" || state == "26000" else { return false }
        guard preparedNames.removeValue(forKey: PreparedKey(query)) != nil else { return false }
        if transactionStatus != PQTRANS_IDLE { stalePlanInTransaction = true }
        return true
    }

    /// Queues a statement to go with the next round trip (the next `query`, or the COMMIT) instead of
    /// alone, in an open transaction: for statements whose result the caller does not need now. Its
    /// error, or `check`'s on its result, is thrown by that round trip before anything later is used,
    /// so the transaction rolls back. Outside a transaction it runs at once.
    public func send(_ query: PostgresQuery, check: ((PostgresResult) throws -> Void)? = nil) throws {
        guard isInTransaction else {
            let result = try self.query(query)
            try check?(result)
            return
        }
        waiting.append(Waiting(query: query, check: check))
    }

    /// Queues a statement like `send(_:check:)`, and hands its result to `read` when it arrives —
    /// possibly in the same round trip as the COMMIT, so `read` must not decide anything the
    /// transaction depends on (only an error, which aborts the pipeline and so the COMMIT, can stop
    /// it). `read` is not called when the statement, or one before it, failed; it may have been
    /// called when a later statement or the COMMIT fails — the transaction then throws, so a caller
    /// must use what `read` saw only after the transaction returned. Outside a transaction it runs
    /// at once.
    public func send(_ query: PostgresQuery, reading read: @escaping (PostgresResult) -> Void) throws {
        guard isInTransaction else {
            read(try self.query(query))
            return
        }
        waiting.append(Waiting(query: query, check: nil, read: read))
    }

    /// Sends what waits (and `last`, when given) in one pipeline, reads every answer in order and
    /// throws the first error or failed check; returns `last`'s result.
    @discardableResult
    private func pipeline(_ handle: OpaquePointer, waitingWith last: PostgresQuery?) throws -> PostgresResult? {
        let queued = waiting + (last.map { [Waiting(query: $0, check: nil)] } ?? [])
        guard !queued.isEmpty else { return nil }
        // Named statements are parsed before the pipeline starts (once per session). A failed parse
        // leaves the BEGIN and the checks waiting: they still go, in order, before anything later.
        var names: [String?] = []
        for item in queued {
            names.append(item.query.isPrepared ? try preparedName(item.query, handle: handle) : nil)
        }
        waiting = []
        beginWaiting = false
        roundTrips += 1
        statementsSent += queued.count
        guard PQenterPipelineMode(handle) == 1 else { throw connectionOrClientError(handle, fallback: "cannot enter pipeline mode") }
        do {
            for (item, name) in zip(queued, names) {
                let ok = try withParameters(item.query) { count, types, values, lengths, formats -> Int32 in
                    if let name { return PQsendQueryPrepared(handle, name, count, values, lengths, formats, 0) }
                    return PQsendQueryParams(handle, item.query.sql, count, count == 0 ? nil : types, count == 0 ? nil : values, lengths, formats, 0)
                }
                guard ok == 1 else { throw abandonPipeline(handle, "could not send a pipelined statement") }
            }
        } catch {
            if self.handle != nil { _ = abandonPipeline(handle, "") }
            throw error
        }
        guard PQpipelineSync(handle) == 1 else { throw abandonPipeline(handle, "could not sync the pipeline") }
        var firstError: Error?
        var lastResult: PostgresResult?
        for (index, item) in queued.enumerated() {
            guard let raw = PQgetResult(handle) else {
                let error = abandonPipeline(handle, "the pipeline ended early")
                throw firstError ?? error
            }
            while let extra = PQgetResult(handle) { PQclear(extra) }  // NULL ends this statement's results
            if PQresultStatus(raw) == PGRES_PIPELINE_ABORTED {
                PQclear(raw)  // skipped after an earlier error, which is the one to report
                if firstError == nil { firstError = PostgresError(kind: .server, message: "pipelined statement skipped", sqlState: "25P02") }
                continue
            }
            do {
                let result = try consume(raw, handle: handle)
                if firstError == nil, let check = item.check {
                    do { try check(result) } catch { checkFailed = true; throw error }
                }
                if firstError == nil { item.read?(result) }
                if index == queued.count - 1 { lastResult = result }
            } catch {
                if item.query.isPrepared { _ = forgetIfStale(item.query, error) }
                if firstError == nil { firstError = error }
            }
        }
        // The sync point, then out of pipeline mode. Without a BEGIN (`transaction(sentAsOne:)`) the
        // server commits the statements' implicit transaction here: a failure to commit arrives as an
        // error result (then NULL, which ends it) before the sync point's own result, which is read
        // too, so no reply is left for the connection's next statement. Two NULLs in a row, or a
        // connection gone, mean nothing more will come.
        var ended = false
        while true {
            guard let sync = PQgetResult(handle) else {
                if ended || PQstatus(handle) != CONNECTION_OK { break }
                ended = true
                continue
            }
            ended = false
            if PQresultStatus(sync) == PGRES_PIPELINE_SYNC { PQclear(sync); break }
            do { _ = try consume(sync, handle: handle) } catch { if firstError == nil { firstError = error } }
        }
        if PQexitPipelineMode(handle) != 1 {
            while let extra = PQgetResult(handle) { PQclear(extra) }
        }
        if PQpipelineStatus(handle) != PQ_PIPELINE_OFF && PQexitPipelineMode(handle) != 1 {
            let error = abandonPipeline(handle, "cannot leave pipeline mode")
            throw firstError ?? error
        }
        if let firstError { throw firstError }
        return lastResult
    }

    /// A pipeline left half-read cannot be reused: the connection is closed (the pool replaces it).
    /// Returns the error to throw (read before the handle is freed).
    private func abandonPipeline(_ handle: OpaquePointer, _ fallback: String) -> PostgresError {
        let error = connectionOrClientError(handle, fallback: fallback)
        close()
        return error
    }

    /// The statement name of a prepared query on this session, parsing it on first use.
    private func preparedName(_ query: PostgresQuery, handle: OpaquePointer) throws -> String {
        let types = query.binds.map { Oid($0.type.rawValue) }
        let key = PreparedKey(query)
        if let name = preparedNames[key] { return name }
        preparedSerial += 1
        let name = "tm_\(preparedSerial)"
        roundTrips += 1
        let result = types.withUnsafeBufferPointer { PQprepare(handle, name, query.sql, Int32(types.count), types.isEmpty ? nil : $0.baseAddress) }
        _ = try consume(result, handle: handle)
        preparedNames[key] = name
        preparedCount += 1
        return name
    }

    /// The query's parameters as libpq wants them (types, NUL-terminated text values; for binary
    /// ones — `PostgresDataType.isBinary` — their lengths and formats too, else nil), for `body`.
    /// The values, their pointers and their types share ONE buffer (a statement of a lone order has
    /// ~40 parameters: at most one allocation, not one each).
    private func withParameters<R>(_ query: PostgresQuery,
                                   _ body: (Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?,
                                            UnsafePointer<Int32>?, UnsafePointer<Int32>?) throws -> R) throws -> R {
        let count = query.binds.count
        guard count <= 65535 else { throw PostgresError.client("too many bind parameters (\(count); at most 65535)") }
        var size = 0, binary = false
        for (i, bind) in query.binds.enumerated() {
            if bind.type.isBinary { binary = true }
            guard let bytes = bind.bytes else { continue }
            // Text-format parameters are C strings: one with a NUL would reach the server cut short, so it
            // is refused here. (A NUL inside a binary array's text or jsonb element is the server's to
            // refuse: 22021, as loud, from the other side.)
            if !bind.type.isBinary && bytes.contains(0) {
                throw PostgresError.client("parameter $\(i + 1) (\(bind.type)) contains a NUL byte; use [UInt8]/Data (bytea) for binary data")
            }
            size += bytes.count + 1
        }
        if count == 0 { return try body(0, nil, nil, nil, nil) }
        // One temporary buffer (on the stack when it fits): the value pointers, the type OIDs, with
        // binary parameters their lengths and formats, then every value's bytes NUL-terminated; libpq
        // copies them all while `body` runs.
        let pointerBytes = count * MemoryLayout<UnsafePointer<CChar>?>.stride
        let typeBytes = count * MemoryLayout<Oid>.stride
        let formatBytes = binary ? 2 * count * MemoryLayout<Int32>.stride : 0
        return try withUnsafeTemporaryAllocation(byteCount: pointerBytes + typeBytes + formatBytes + size,
                                                 alignment: MemoryLayout<UnsafePointer<CChar>?>.alignment) { raw in
            let base = raw.baseAddress!
            let values = base.bindMemory(to: UnsafePointer<CChar>?.self, capacity: count)
            let types = (base + pointerBytes).bindMemory(to: Oid.self, capacity: count)
            let lengths = binary ? (base + pointerBytes + typeBytes).bindMemory(to: Int32.self, capacity: 2 * count) : nil
            let buffer = (base + pointerBytes + typeBytes + formatBytes).bindMemory(to: CChar.self, capacity: size)
            var offset = 0
            for (i, bind) in query.binds.enumerated() {
                types[i] = Oid(bind.type.rawValue)
                if let lengths {
                    lengths[i] = Int32(bind.bytes?.count ?? 0)
                    lengths[count + i] = bind.type.isBinary ? 1 : 0
                }
                guard let bytes = bind.bytes else {
                    values[i] = nil
                    continue
                }
                let start = buffer + offset
                bytes.withUnsafeBufferPointer { src in
                    if let source = src.baseAddress { UnsafeMutableRawPointer(start).copyMemory(from: source, byteCount: bytes.count) }
                }
                start[bytes.count] = 0
                values[i] = UnsafePointer(start)
                offset += bytes.count + 1
            }
            return try body(Int32(count), UnsafePointer(types), UnsafePointer(values), lengths.map { UnsafePointer($0) },
                            lengths.map { UnsafePointer($0 + count) })
        }
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
        roundTrips += 1
        statementsSent += 1
        let result = PQexec(handle, sql)
        _ = try consume(result, handle: handle)
    }

    /// Runs `body` inside a transaction: COMMIT when it returns, ROLLBACK (then rethrow) when it throws.
    /// Nested calls use savepoints, so an inner failure undoes only the inner work. A transaction the
    /// server already aborted (a statement failed and the body swallowed the error) is rolled back and
    /// reported as an error, never as a successful commit. A transaction that failed because one of
    /// its prepared statements went stale (its result type changed) is rolled back and run once more,
    /// the statement prepared afresh: nothing of the first run was committed.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try transaction(sentAsOne: false, body)
    }

    /// `transaction`, with one difference when `sentAsOne` and `body` only SENDS its statements
    /// (`send(_:reading:)`, `send(_:check:)` without a check) and none waits for an answer: they go
    /// in one pipeline WITHOUT the BEGIN and the COMMIT. The server runs a pipeline's statements up
    /// to its sync point as one implicit transaction — all or nothing, committed at the sync point,
    /// rolled back there when one fails (the rest are skipped) — so it is the same transaction
    /// with two statements fewer to parse and run (the order path's lone writes: PROFILE.md,
    /// session 23). A body that runs a `query` (or a check) gets the BEGIN sent with its first
    /// round trip and the COMMIT at the end, as `transaction` does. Nested: a savepoint, as always.
    /// Only for bodies of plain DML and function calls: outside a transaction block the server
    /// refuses `LOCK TABLE` and `SAVEPOINT`, and `SET LOCAL` has no effect (a warning).
    public func transaction<T>(sentAsOne: Bool, _ body: (PostgresConnection) throws -> T) throws -> T {
        if isInTransaction {
            return try savepoint(body)
        }
        stalePlanInTransaction = false
        do {
            return try topLevelTransaction(sentAsOne: sentAsOne, body)
        } catch {
            guard stalePlanInTransaction else { throw error }
            stalePlanInTransaction = false
            return try topLevelTransaction(sentAsOne: sentAsOne, body)
        }
    }

    private func topLevelTransaction<T>(sentAsOne: Bool, _ body: (PostgresConnection) throws -> T) throws -> T {
        // BEGIN goes with the first statement that needs an answer (one round trip for both).
        _ = try openHandle()
        waiting = [Waiting(query: "BEGIN", check: nil)]
        beginWaiting = true
        checkFailed = false
        defer { checkFailed = false }
        let value: T
        do {
            value = try body(self)
        } catch {
            rollbackQuietly("ROLLBACK")
            throw error
        }
        if checkFailed || (!beginWaiting && transactionStatus == PQTRANS_INERROR) {
            rollbackQuietly("ROLLBACK")
            throw PostgresError(
                kind: .server,
                message: "transaction rolled back: a \(checkFailed ? "check" : "statement") in it failed and the error was not propagated",
                sqlState: "25P02")
        }
        if sentAsOne && beginWaiting && !waiting.contains(where: { $0.check != nil }) {
            return try commitImplicitly(value)
        }
        // COMMIT goes with the statements still waiting (a write nobody reads): one round trip. A
        // check still waiting is answered first: the server would run the COMMIT whatever a check
        // finds, while only an error stops a pipeline.
        let result: PostgresResult
        do {
            if waiting.contains(where: { $0.check != nil }) { try pipeline(try openHandle(), waitingWith: nil) }
            result = try pipeline(try openHandle(), waitingWith: "COMMIT")!
        } catch {
            rollbackQuietly("ROLLBACK")
            throw error
        }
        // The server answers COMMIT of an aborted transaction with the tag ROLLBACK.
        if result.commandTag == "ROLLBACK" {
            throw PostgresError(kind: .server, message: "COMMIT was turned into ROLLBACK by the server", sqlState: "25P02")
        }
        return value
    }

    /// The end of a `sentAsOne` transaction none of whose statements left yet: they go without
    /// their BEGIN and without a COMMIT, the server's implicit transaction ending at the sync point.
    private func commitImplicitly<T>(_ value: T) throws -> T {
        precondition(beginWaiting && waiting.first?.query.sql == "BEGIN", "the BEGIN of a transaction none of whose statements left")
        waiting.removeFirst()
        beginWaiting = false
        guard !waiting.isEmpty else { return value }
        do {
            try pipeline(try openHandle(), waitingWith: nil)
        } catch {
            // Rolled back by the server at the sync point (or the connection is gone): nothing to send.
            waiting = []
            throw error
        }
        // Out of any transaction once the sync point is read: the implicit one committed.
        guard transactionStatus == PQTRANS_IDLE else {
            rollbackQuietly("ROLLBACK")
            throw PostgresError(kind: .server, message: "an implicit transaction did not end at its sync point", sqlState: "25P02")
        }
        return value
    }

    private func savepoint<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        let name = "tm_savepoint_\(savepointDepth)"
        try simpleQuery("SAVEPOINT \(name)")
        let checkFailedBefore = checkFailed
        let value: T
        do {
            value = try body(self)
            // What the body queued belongs inside the savepoint: sent (and checked) before RELEASE.
            if !waiting.isEmpty { try pipeline(try openHandle(), waitingWith: nil) }
        } catch {
            rollbackQuietly("ROLLBACK TO SAVEPOINT \(name)")
            checkFailed = checkFailedBefore  // what the failed check guarded is rolled back with the savepoint
            throw error
        }
        try simpleQuery("RELEASE SAVEPOINT \(name)")
        return value
    }

    /// Best effort: when the connection is gone the server has rolled back already. What still waits
    /// is dropped unsent (a transaction whose BEGIN never left has nothing to roll back).
    private func rollbackQuietly(_ sql: String) {
        let neverBegun = beginWaiting
        waiting = []
        beginWaiting = false
        if neverBegun && sql == "ROLLBACK" { return }
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return }
        roundTrips += 1
        statementsSent += 1
        if let result = PQexec(handle, sql) { PQclear(result) }
    }

    /// The handle, with whatever waits to be sent sent first (for callers that talk to libpq directly).
    func liveHandle() throws -> OpaquePointer {
        let handle = try openHandle()
        if !waiting.isEmpty { try pipeline(handle, waitingWith: nil) }
        return handle
    }

    private func openHandle() throws -> OpaquePointer {
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
            return materialise(result)
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

    private func materialise(_ result: OpaquePointer) -> PostgresResult {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [PostgresColumn] = []
        columns.reserveCapacity(columnCount)
        for c in 0..<columnCount {
            let name = PQfname(result, Int32(c)).map { String(cString: $0) } ?? "?column?"
            columns.append(PostgresColumn(name: name, type: PostgresDataType(UInt32(PQftype(result, Int32(c))))))
        }
        let columnSet = recentColumnSets.columnSet(for: columns)
        var bytes: [UInt8] = []
        var bounds: [Int] = []
        if rowCount > 0, columnCount > 0 {
            var total = 0
            for r in 0..<rowCount {
                for c in 0..<columnCount { total += Int(PQgetlength(result, Int32(r), Int32(c))) }
            }
            bytes.reserveCapacity(total)
            bounds.reserveCapacity(2 * rowCount * columnCount)
            for r in 0..<rowCount {
                for c in 0..<columnCount {
                    if PQgetisnull(result, Int32(r), Int32(c)) != 0 {
                        bounds.append(-1)
                        bounds.append(-1)
                    } else {
                        let length = Int(PQgetlength(result, Int32(r), Int32(c)))
                        let pointer = PQgetvalue(result, Int32(r), Int32(c))!
                        bounds.append(bytes.count)
                        pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
                            bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
                        }
                        bounds.append(bytes.count)
                    }
                }
            }
        }
        let cells = PostgresCells(bytes: bytes, bounds: bounds)
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            rows.append(PostgresRow(columnSet: columnSet, cells: cells, firstCell: r * columnCount))
        }
        let tag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        let affected = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
        return PostgresResult(columns: columns, rows: rows, affectedRows: affected, commandTag: tag)
    }
}
