import Foundation
import TMCore
import TMLocks

/// One uninterrupted holding of the leader lease, shared by the renewal task and the firing loop.
///
/// Guarantees: `authority()` throws `LockError.leaseLost` once a renewal failed or the local,
/// conservative expiry estimate of the latest renewal has passed — so a leader that was paused
/// (SIGSTOP, a stall) refuses to write the instant it runs again, before any renewal is tried.
/// The fencing token never changes within a term; Postgres refuses it once a newer term wrote.
public final class LeaderTerm: Sendable {
    public let identity: LeaderIdentity
    private let state: Locked<(lease: LockLease, lost: Bool)>

    init(lease: LockLease, identity: LeaderIdentity) {
        self.identity = identity
        self.state = Locked((lease, false))
    }

    public var lease: LockLease { state.current.lease }

    public var isValid: Bool {
        let (lease, lost) = state.current
        return !lost && !lease.mayHaveExpired
    }

    /// The authority to write firings under, while the term lasts.
    @Sendable public func authority() throws -> FiringAuthority {
        let lease = state.current.lease
        guard isValid else { throw LockError.leaseLost(resource: lease.resource) }
        return .leader(lease, identity: identity.description)
    }

    func renewed(_ lease: LockLease) { state.withLock { $0.lease = lease } }

    func lose() { state.withLock { $0.lost = true } }
}
