import Foundation

/// Tells a runtime (the queue consumer, the function runtime) whether an error is worth retrying.
/// Errors that do not adopt it are retried (a transient failure is the common case); bad input
/// and revoked credentials are not.
public protocol RetryClassifying: Error {
    var isRetryable: Bool { get }
}

/// A failure that did nothing and can do nothing before `retryNotBefore` — a broker whose circuit
/// is open, a budget spent until then. A runtime that can (the queue consumer) runs the work again
/// at that time WITHOUT counting the attempt against its retry limit, within a bound of its own
/// (a queue's `max_deferral`), so a dependency that is briefly unhealthy cannot use up the retries
/// of work that never ran, and one that never recovers still ends it.
///
/// Conform only where nothing can have happened: an error whose effect may have taken place (an
/// outcome unknown) must stay an ordinary, counted retry.
public protocol RetryDeferring: RetryClassifying {
    /// The earliest time (wall clock) a retry can succeed.
    var retryNotBefore: Date { get }
}

extension RetryDeferring {
    public var isRetryable: Bool { true }
}
