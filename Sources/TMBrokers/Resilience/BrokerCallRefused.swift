import Foundation
import TMCore

/// A broker call the resilience layer refused before sending anything: the broker's circuit is
/// open, or the call's rate budget is spent for longer than the adapter may wait. Nothing reached
/// the broker, and nothing can before `retryAfter` has passed — so the work may be deferred to
/// then without counting as a failed attempt (`RetryDeferring`).
///
/// Only a caller that asks for it (`BrokerCallRefused.distinguishing`) receives this error; every
/// other caller keeps the one error model of `ResilientBrokerAdapter` (`brokerError`:
/// `.unavailable` for an open circuit, `.rateLimited` for a spent budget). It is never thrown for
/// a call that may have been sent: an outcome unknown stays `BrokerError.unknownOutcome`.
public struct BrokerCallRefused: Error, RetryDeferring, CustomStringConvertible, Sendable {
    public enum Reason: String, Sendable { case circuitOpen = "circuit_open", budgetSpent = "budget_spent" }

    public let broker: BrokerKind
    public let reason: Reason
    /// When a call may be admitted again, as the admission saw it.
    public let retryAfter: Duration
    /// The wall-clock time that is.
    public let retryNotBefore: Date
    /// What a caller that did not ask to distinguish refusals receives.
    public let brokerError: BrokerError

    init(broker: BrokerKind, reason: Reason, retryAfter: Duration, brokerError: BrokerError, now: Date = Date()) {
        self.broker = broker
        self.reason = reason
        self.retryAfter = retryAfter
        self.retryNotBefore = now.addingTimeInterval(Double(retryAfter.milliseconds) / 1000)
        self.brokerError = brokerError
    }

    public var description: String { "not sent: \(brokerError)" }

    /// Whether the calls of this task want a refusal as `BrokerCallRefused` (see `distinguishing`).
    @TaskLocal static var wanted = false

    /// Runs `body` with its broker calls' refusals thrown as `BrokerCallRefused`, not `BrokerError`.
    public static func distinguishing<T>(_ body: () async throws -> T) async rethrows -> T {
        try await $wanted.withValue(true) { try await body() }
    }

    /// The error to throw for a refusal: this one when the caller asked for it, else `brokerError`.
    static func thrown(broker: BrokerKind, _ reason: Reason, retryAfter: Duration, brokerError: BrokerError) -> any Error {
        wanted ? BrokerCallRefused(broker: broker, reason: reason, retryAfter: retryAfter, brokerError: brokerError) : brokerError
    }
}
