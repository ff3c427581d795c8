import TMCore

/// Why a lock could not be used. Descriptions name the resource, never the lease's random token.
public enum LockError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another holder kept the lock for the whole wait.
    case notAcquired(resource: String, waited: Duration)
    /// The lease expired or was taken over while its holder was working; the work was cancelled.
    case leaseLost(resource: String)
    /// A newer holder (lock holder, or delivery of the same message) has already written under
    /// `resource`: this (older) one must not write.
    case staleFencingToken(resource: String, token: Int64)

    public var description: String {
        switch self {
        case .notAcquired(let resource, let waited):
            return "lock '\(resource)' is held by another owner (waited \(waited.milliseconds) ms)"
        case .leaseLost(let resource):
            return "lease on lock '\(resource)' was lost (expired or taken over); the work was cancelled"
        case .staleFencingToken(let resource, let token):
            return "fencing token \(token) for '\(resource)' is stale: a newer holder has written; rolled back"
        }
    }
}
