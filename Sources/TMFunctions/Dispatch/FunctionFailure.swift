import TMCore

/// A record's failed attempt as the queue runtime sees it: retried with backoff when retryable,
/// else dead-lettered at once. The description is what the attempt history and the DLQ show.
public struct FunctionFailure: Error, RetryClassifying, CustomStringConvertible, Sendable {
    public let reason: String
    public let isRetryable: Bool
    public var description: String { reason }
}
