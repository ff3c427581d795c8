import TMPostgres

/// Refuses Postgres writes made under a stale lock, using the `lock_fences` table and
/// `tm_advance_fence(resource, token)` of migration 0001.
///
/// Guarantees: call `advance` first inside the transaction that does the guarded writes. It raises
/// the stored fence to `token`, or throws `LockError.staleFencingToken` when a holder with a larger
/// token has already passed it, so the transaction rolls back and none of its writes land. The fence
/// row stays locked until commit, so writers of one resource are serialized in token order: a paused
/// ex-holder can never overwrite the work of a newer holder.
public enum FencingGuard {
    /// Raises the fence of `resource` to `token` in the connection's open transaction, or throws.
    public static func advance(_ db: PostgresConnection, resource: String, token: Int64) throws {
        // Outside a transaction the fence would commit on its own and protect nothing after it.
        guard db.isInTransaction else {
            throw PostgresError(kind: .client, message: "FencingGuard.advance must run inside the transaction it guards")
        }
        let passed = try db.query("SELECT tm_advance_fence(\(resource), \(token)) AS passed").scalar(as: Bool.self)
        guard passed else { throw LockError.staleFencingToken(resource: resource, token: token) }
    }

    /// `advance` with the lease's resource and fencing token.
    public static func advance(_ db: PostgresConnection, lease: LockLease) throws {
        try advance(db, resource: lease.resource, token: lease.fencingToken)
    }
}

extension PostgresConnection {
    /// A transaction whose first statement checks the lease's fencing token: the body runs only when
    /// the lease is still the newest holder's, and everything rolls back when it is not.
    @discardableResult
    public func transaction<T>(fencedBy lease: LockLease, _ body: (PostgresConnection) throws -> T) throws -> T {
        try transaction { db in
            try FencingGuard.advance(db, lease: lease)
            return try body(db)
        }
    }
}

extension PostgresPool {
    /// The async form of `PostgresConnection.transaction(fencedBy:_:)`, on a pooled connection.
    @discardableResult
    public func transaction<T: Sendable>(
        fencedBy lease: LockLease, _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await transaction { db in
            try FencingGuard.advance(db, lease: lease)
            return try body(db)
        }
    }
}
