/// Tells a runtime (the queue consumer, the function runtime) whether an error is worth retrying.
/// Errors that do not adopt it are retried (a transient failure is the common case); bad input
/// and revoked credentials are not.
public protocol RetryClassifying: Error {
    var isRetryable: Bool { get }
}
