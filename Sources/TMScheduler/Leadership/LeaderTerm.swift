import Foundation
import TMCore
import TMLocks

/// One uninterrupted holding of the leader lease, shared by the lease's keeper and the firing loop.
///
/// Guarantees: `authority()` throws `LockError.leaseLost` once a renewal failed or the local,
/// conservative expiry estimate of the latest renewal has passed (`HeldLease`) — so a leader that
/// was paused (SIGSTOP, a stall) refuses to write the instant it runs again, before any renewal is
/// tried. The fencing token never changes within a term; Postgres refuses it once a newer term wrote.
public final class LeaderTerm: Sendable {
    public let identity: LeaderIdentity
    let held: HeldLease

    init(held: HeldLease, identity: LeaderIdentity) {
        self.identity = identity
        self.held = held
    }

    convenience init(lease: LockLease, identity: LeaderIdentity) {
        self.init(held: HeldLease(lease), identity: identity)
    }

    public var lease: LockLease { held.lease }

    public var isValid: Bool { held.isValid }

    /// The authority to write firings under, while the term lasts.
    @Sendable public func authority() throws -> FiringAuthority {
        try held.check()
        return .leader(held.lease, identity: identity.description)
    }

    func lose() { held.lose() }
}
