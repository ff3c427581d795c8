import Foundation
import TMCore

/// A record's failed attempt as the queue runtime sees it: retried with backoff when retryable,
/// else dead-lettered at once. The description is what the attempt history and the DLQ show.
public struct FunctionFailure: Error, RetryClassifying, CustomStringConvertible, Sendable {
    public let reason: String
    public let isRetryable: Bool
    public var description: String { reason }
}

/// A record that did nothing and can do nothing before `retryNotBefore` (the function said so with
/// `not_before_ms`, from a `RetryDeferring` error): the queue defers its message without using up
/// an attempt, within the queue's `max_deferral`.
public struct FunctionDeferral: Error, RetryDeferring, CustomStringConvertible, Sendable {
    public let reason: String
    public let retryNotBefore: Date
    public var description: String { reason }
}
