import Foundation
import TMCore

/// Every broker failure mapped to what the caller must do about it.
///
/// Guarantees: no case carries a credential (adapters build reasons from the broker's message and
/// status only); `unknownOutcome` is used whenever the request may have reached the broker and its
/// effect is not known (timeout or 5xx after sending, Kite's "order request timed out", Binance's
/// -1007) — an order in that state must be looked up by client id before anything is sent again.
public enum BrokerError: Error, Sendable, Equatable, CustomStringConvertible, RetryClassifying {
    /// The broker refused the request (bad input, insufficient funds, market closed...): final.
    case rejected(reason: String, code: String?)
    /// The credentials are invalid or expired: the account needs the user; never retried.
    case unauthorized(reason: String)
    /// Too many requests: wait `retryAfter` (when the broker said) before the next call.
    case rateLimited(retryAfter: Duration?)
    /// The broker could not take the request (connection refused, 503 before processing, circuit open).
    case unavailable(reason: String)
    /// The request may have been processed: look it up before retrying anything with effects.
    case unknownOutcome(reason: String)
    /// The broker answered with something the adapter cannot read.
    case invalidResponse(reason: String)
    /// The lookup found nothing (order id or client id unknown to the broker).
    case notFound(reason: String)

    public var isRetryable: Bool {
        switch self {
        case .rejected, .unauthorized, .notFound: return false
        case .rateLimited, .unavailable, .unknownOutcome, .invalidResponse: return true
        }
    }

    public var description: String {
        switch self {
        case .rejected(let reason, let code): return "rejected by the broker\(code.map { " (\($0))" } ?? ""): \(reason)"
        case .unauthorized(let reason): return "unauthorized: \(reason)"
        case .rateLimited(let after): return "rate limited\(after.map { "; retry after \(DurationText.format($0))" } ?? "")"
        case .unavailable(let reason): return "broker unavailable: \(reason)"
        case .unknownOutcome(let reason): return "outcome unknown: \(reason)"
        case .invalidResponse(let reason): return "unreadable broker response: \(reason)"
        case .notFound(let reason): return "not found: \(reason)"
        }
    }
}
