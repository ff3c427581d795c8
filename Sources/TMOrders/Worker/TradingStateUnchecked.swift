import Foundation
import TMCore

/// The trading state could not be checked before a message (`ResidentState.checkBeforeMessage`:
/// the announcement, or the limits a changed one asks for, could not be read). Nothing was sent:
/// the message is deferred without using up a delivery attempt (`RetryDeferring`), so a Redis or
/// Postgres blip does not dead-letter orders; the queue's `max_deferral` still bounds it.
public struct TradingStateUnchecked: Error, RetryDeferring, CustomStringConvertible, Sendable {
    public let reason: String
    /// The earliest time to run the message again (`ResidentState` asks for `deferralPause` at
    /// least; the default, now, leaves the spacing to the consumer's backoff).
    public let retryNotBefore: Date

    public init(reason: String, retryNotBefore: Date = Date()) {
        self.reason = reason
        self.retryNotBefore = retryNotBefore
    }

    public var description: String { "trading state not checked, nothing sent: \(reason)" }
}
