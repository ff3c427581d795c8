/// Proof of holding a distributed lock, returned by `DistributedLock`.
///
/// Guarantees: `token` is 128 random bits unique to this acquisition, so only this holder's
/// release/extend scripts match it; `fencingToken` is strictly greater than that of every earlier
/// holder of the same resource (an INCR done atomically with the acquisition), so Postgres can refuse
/// writes of an ex-holder (`FencingGuard`). `expiresAt` is a conservative local estimate: it is
/// measured from *before* the command was sent, so it is never later than Redis's own expiry
/// (clock drift aside). A lease does not stay valid by itself: use `withLock`, or `extend` it.
public struct LockLease: Sendable, Hashable, CustomStringConvertible {
    public let resource: String
    /// The random owner token stored in Redis (lowercase hex, 32 characters).
    public let token: String
    /// Strictly increasing per resource across holders; pass it to `FencingGuard` before writing.
    public let fencingToken: Int64
    /// The lease time the lock was taken (or last extended) with.
    public let ttl: Duration
    /// When the acquisition (or last extension) was sent.
    public let acquiredAt: ContinuousClock.Instant
    /// Local, conservative estimate of when Redis drops the lock unless it is extended.
    public let expiresAt: ContinuousClock.Instant

    init(resource: String, token: String, fencingToken: Int64, ttl: Duration, acquiredAt: ContinuousClock.Instant) {
        self.resource = resource
        self.token = token
        self.fencingToken = fencingToken
        self.ttl = ttl
        self.acquiredAt = acquiredAt
        self.expiresAt = acquiredAt + ttl
    }

    /// True once the local estimate says the lock may have expired.
    public var mayHaveExpired: Bool { ContinuousClock.now >= expiresAt }

    /// The random token stays out: with it anyone could release the lock.
    public var description: String { "LockLease(\(resource), fencing token \(fencingToken))" }
}
