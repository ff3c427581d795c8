import TMCore

/// A lease as its keeper (`DistributedLock.hold` / `withLock`) last renewed it: what a holder asks
/// before each write.
///
/// Guarantees: `isValid` turns false for good once a renewal found the lock gone (or could not
/// confirm it before the lease's estimated expiry), or once that estimate has passed — so a holder
/// that was paused refuses to write the instant it runs again, before any renewal is tried. The
/// fencing token never changes; pass it to `FencingGuard` all the same, since a pause can outlast any timer.
public final class HeldLease: Sendable {
    private let state: Locked<(lease: LockLease, lost: Bool)>

    /// A lease not yet renewed by anyone.
    public init(_ lease: LockLease) { state = Locked((lease, false)) }

    /// The latest renewal (the same resource, tokens and ttl; a later expiry).
    public var lease: LockLease { state.current.lease }

    public var isValid: Bool {
        let (lease, lost) = state.current
        return !lost && !lease.mayHaveExpired
    }

    /// Throws `LockError.leaseLost` unless the lease is still valid.
    public func check() throws {
        guard isValid else { throw LockError.leaseLost(resource: lease.resource) }
    }

    /// Marks the lease lost for good (its keeper found the lock gone, or the holder stepped down).
    public func lose() { state.withLock { $0.lost = true } }

    func renewed(_ lease: LockLease) { state.withLock { $0.lease = lease } }
}
