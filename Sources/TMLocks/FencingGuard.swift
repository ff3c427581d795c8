import TMCore
import TMPostgres

/// Refuses Postgres writes made under a stale fence — a lock lease (`LockLease`) or a message's
/// delivery (`MessageFence`, the epoch every function record carries) — using the `lock_fences`
/// table and `tm_advance_fences` (migration 0021; `tm_advance_fence` of migration 0001 for one).
///
/// Guarantees: call `advance` first inside the transaction that does the guarded writes. It raises
/// the stored fence to `token`, or throws `LockError.staleFencingToken` when a holder with a larger
/// token has already passed it, so the transaction rolls back and none of its writes land. The fence
/// stays locked until commit, so writers of one resource are serialized in token order: a paused
/// ex-holder can never overwrite the work of a newer holder.
/// A message's first delivery (epoch 1, the lowest any delivery carries) writes no row (migration
/// 0046): it holds a shared advisory lock on its resource, which every newer delivery's exclusive
/// one waits for; one that comes while a newer delivery holds the fence waits, then is refused.
/// (Transactions of that one delivery are not serialized among themselves; a lease's fence keeps
/// its row at every token.)
public enum FencingGuard {
    /// Raises the fence of `resource` to `token` in the connection's open transaction, or throws.
    public static func advance(_ db: PostgresConnection, resource: String, token: Int64) throws {
        try advance(db, pairs: [(resource, token)])
    }

    /// `advance` with the fence's resource and token.
    public static func advance(_ db: PostgresConnection, fence: some Fence) throws {
        try advance(db, resource: fence.resource, token: fence.fencingToken)
    }

    /// `advance` for each fence, in one statement (`tm_advance_fences`), in resource order: two
    /// transactions taking the same fences never wait for each other's rows in opposite orders (no
    /// deadlock). A fence given twice with one token counts once; one resource with two different
    /// tokens (two deliveries of one message) is refused for the older token, whatever the rows say,
    /// since only one of the two can be the newest. (`send` is the same check in one round trip with
    /// the rest of the transaction.)
    public static func advance(_ db: PostgresConnection, fences: [any Fence]) throws {
        try advance(db, pairs: fences.map { ($0.resource, $0.fencingToken) })
    }

    private static func advance(_ db: PostgresConnection, pairs: [(resource: String, token: Int64)]) throws {
        guard let ordered = try distinct(db, pairs) else { return }
        let statement: PostgresQuery = """
            SELECT stale_resource, stale_token
            FROM tm_advance_fences(\(PostgresData.array(ordered.map { $0.key }))::text[], \(PostgresData.array(ordered.map { $0.value }))::bigint[])
            """
        if let stale = try db.query(statement.prepared).rows.first {
            throw LockError.staleFencingToken(resource: try stale.decode("stale_resource"), token: try stale.decode("stale_token"))
        }
    }

    /// The fences, each resource once, in resource order; nil when there are none. Throws outside a
    /// transaction, and for one resource given with two tokens.
    private static func distinct(_ db: PostgresConnection, _ pairs: [(resource: String, token: Int64)]) throws -> [(key: String, value: Int64)]? {
        // Outside a transaction the fence would commit on its own and protect nothing after it.
        guard db.isInTransaction else {
            throw PostgresError(kind: .client, message: "FencingGuard.advance must run inside the transaction it guards")
        }
        var tokens: [String: Int64] = [:]
        for (resource, token) in pairs {
            if let other = tokens[resource], other != token {
                throw LockError.staleFencingToken(resource: resource, token: min(other, token))
            }
            tokens[resource] = token
        }
        return tokens.isEmpty ? nil : tokens.sorted { $0.key < $1.key }
    }

    /// `advance` in ONE round trip with everything the transaction sends after it (its COMMIT, or
    /// the sync point of an implicit transaction): the fences go in a statement that RAISES on a
    /// stale one (SQLSTATE `staleSQLState`, `tm_advance_fences_or_raise`, migration 0032) instead of
    /// returning rows. A pipeline stops at its first error, so the statements after it never take
    /// effect and the transaction rolls back — the same refusal as `advance`'s, seen when the round
    /// trip returns.
    /// The caller must pass what it catches through `refusal(_:)` (the server's error becomes
    /// `LockError.staleFencingToken`), and the body's statements run before the refusal is known: it
    /// must have no effect outside the transaction (only statements, whose results it reads after the
    /// commit).
    /// A lone order's fences — its message's first delivery and one lease — go to
    /// `tm_fence_first_delivery` (migration 0054: the same answer, one look-up when nothing is stale).
    public static func send(_ db: PostgresConnection, fences: [any Fence]) throws {
        guard let ordered = try distinct(db, fences.map { ($0.resource, $0.fencingToken) }) else { return }
        if let lone = firstDeliveryWithLease(ordered) {
            let statement: PostgresQuery = """
                SELECT tm_fence_first_delivery(\(lone.message)::text, \(lone.lease.key)::text, \(lone.lease.value)::bigint)
                """
            try db.send(statement.prepared)
            return
        }
        let statement: PostgresQuery = """
            SELECT tm_advance_fences_or_raise(\(PostgresData.array(ordered.map { $0.key }))::text[], \(PostgresData.array(ordered.map { $0.value }))::bigint[])
            """
        try db.send(statement.prepared)
    }

    /// The message resource and the lease when `ordered` is one message fence at the first delivery's
    /// epoch and one other fence (the server checks the shape again and answers any other as 0046 does).
    private static func firstDeliveryWithLease(_ ordered: [(key: String, value: Int64)]) -> (message: String, lease: (key: String, value: Int64))? {
        guard ordered.count == 2 else { return nil }
        let isMessage = ordered.map { $0.key.hasPrefix(MessageFence.resourcePrefix) }
        guard isMessage[0] != isMessage[1] else { return nil }
        let (message, lease) = isMessage[0] ? (ordered[0], ordered[1]) : (ordered[1], ordered[0])
        return message.value == 1 ? (message.key, lease) : nil
    }

    /// The SQLSTATE `tm_advance_fences_or_raise` raises for a stale fence.
    public static let staleSQLState = "TMF01"

    /// `error`, with a stale fence raised by the server (`send`) turned into
    /// `LockError.staleFencingToken` (the resource and the refused token from its DETAIL).
    public static func refusal(_ error: Error) -> Error {
        guard let error = error as? PostgresError, error.sqlState == staleSQLState, let detail = error.detail,
              let space = detail.firstIndex(of: " "), let token = Int64(detail[..<space]) else { return error }
        return LockError.staleFencingToken(resource: String(detail[detail.index(after: space)...]), token: token)
    }

    /// Deletes message fences (`message:…`) not advanced for `age`, at most `limit` rows; returns how
    /// many. Safe once `age` is far beyond the longest an invocation can live (a function's timeout
    /// is at most 15 minutes, then it is killed): no delivery that old can still try to write.
    /// Only redelivered messages have rows (a first delivery writes none, migration 0046).
    /// Lock fences are kept (their tokens come from Redis counters that never restart).
    @discardableResult
    public static func purgeMessageFences(_ db: PostgresConnection, olderThan age: Duration, limit: Int = 10_000) throws -> Int {
        try db.query("SELECT tm_purge_message_fences(\(age.seconds)::double precision, \(limit)::integer) AS purged").scalar(as: Int.self)
    }
}

extension LockLease: Fence {}

extension PostgresConnection {
    /// A transaction whose first statements check its fences (a lock's lease, a message's delivery,
    /// or both): the body runs only when each is still the newest, and everything rolls back when
    /// one is not.
    @discardableResult
    public func transaction<T>(fencedBy fences: [any Fence], _ body: (PostgresConnection) throws -> T) throws -> T {
        try transaction { db in
            try FencingGuard.advance(db, fences: fences)
            return try body(db)
        }
    }

    @discardableResult
    public func transaction<T>(fencedBy fence: some Fence, _ body: (PostgresConnection) throws -> T) throws -> T {
        try transaction(fencedBy: [fence], body)
    }
}

extension PostgresPool {
    /// The async form of `PostgresConnection.transaction(fencedBy:_:)`, on a pooled connection:
    /// e.g. `pool.transaction(fencedBy: record.fence) { db in ... }` in a function's handler.
    @discardableResult
    public func transaction<T: Sendable>(
        fencedBy fences: [any Fence], _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await transaction { db in
            try FencingGuard.advance(db, fences: fences)
            return try body(db)
        }
    }

    @discardableResult
    public func transaction<T: Sendable>(
        fencedBy fence: some Fence, _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await transaction(fencedBy: [fence], body)
    }

    /// A fenced transaction in ONE round trip: the fences (`FencingGuard.send`: a stale one raises) and
    /// every statement `body` sends go in one pipeline, as the server's implicit transaction of that
    /// pipeline — no BEGIN, no COMMIT (`PostgresConnection.transaction(sentAsOne:_:)`; with them when
    /// the body runs a `query`). The fences stay the pipeline's first statement, so they are taken
    /// before anything the body writes, and held until the sync point commits. `body` must only send
    /// (`PostgresConnection.send`, `send(_:reading:)`) — a statement it runs with `query` waits for its
    /// answer and costs a round trip, which is correct but slower — and returns how to read its
    /// result once committed. A stale fence (or any error) stops the pipeline before the COMMIT:
    /// nothing of the transaction lands, and the refusal is thrown as `LockError.staleFencingToken`.
    public func transaction<T: Sendable>(
        fencedInOneRoundTrip fences: [any Fence], _ body: @escaping @Sendable (PostgresConnection) throws -> @Sendable () throws -> T
    ) async throws -> T {
        let committed: @Sendable () throws -> T
        do {
            committed = try await transaction(sentAsOne: true) { (db: PostgresConnection) -> @Sendable () throws -> T in
                try FencingGuard.send(db, fences: fences)
                return try body(db)
            }
        } catch {
            throw FencingGuard.refusal(error)
        }
        return try committed()
    }
}

extension PostgresPool {
    /// `transaction(fencedInOneRoundTrip:_:)` whose outcome goes to `then` on the connection's thread,
    /// the connection already back in the pool (`withConnection(_:then:)`): `then` gets the committed
    /// value (the body's reader run after the sync point's answer), or the error — a stale fence as
    /// `LockError.staleFencingToken` (`FencingGuard.refusal`), a failed or unknown commit as the
    /// server's or the connection's error — and `answer`, which resumes the caller. For a hand-off
    /// that must act only on a committed write (the order path's SUBMITTING row → its broker call)
    /// without a task between the two threads.
    public func transaction<T: Sendable, R: Sendable>(
        fencedInOneRoundTrip fences: [any Fence], _ body: @escaping @Sendable (PostgresConnection) throws -> @Sendable () throws -> T,
        then: @escaping @Sendable (Result<T, Error>, _ answer: @escaping @Sendable (Result<R, Error>) -> Void) -> Void
    ) async throws -> R {
        try await transaction(sentAsOne: true, { (db: PostgresConnection) -> @Sendable () throws -> T in
            try FencingGuard.send(db, fences: fences)
            return try body(db)
        }, then: { (sent: Result<@Sendable () throws -> T, Error>, answer) in
            let committed = sent.mapError { FencingGuard.refusal($0) }.flatMap { read in Result { try read() } }
            then(committed, answer)
        })
    }
}
