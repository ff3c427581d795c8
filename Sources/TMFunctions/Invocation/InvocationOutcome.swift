import Foundation
import TMFunctionRuntime

/// How one invocation ended, as the dispatcher saw it.
///
/// `ok`, `partial` and `error` are what the function itself reported; the others are failures the
/// dispatcher observed: `timeout` (killed at the deadline), `crash` (killed by a signal), `exit`
/// (non-zero exit status), `garbage` (stdout was not a result, or went past `max_output`), `spawn`
/// (could not start).
public struct InvocationOutcome: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case ok, partial, error, timeout, crash, exit, garbage, spawn
    }

    public var kind: Kind
    /// The function's result when it printed one.
    public var result: InvocationResult?
    /// Why the attempt failed (nil for ok).
    public var reason: String?
    public var duration: Duration
    /// Whether a new process was started for this invocation.
    public var cold: Bool
    /// The last lines the function wrote on stderr.
    public var logTail: String
    /// Bytes of stderr over the function's `max_output`, not forwarded (a warm process that
    /// floods its stderr is replaced).
    public var droppedLogBytes: Int

    public init(kind: Kind, result: InvocationResult? = nil, reason: String? = nil, duration: Duration, cold: Bool, logTail: String = "",
                droppedLogBytes: Int = 0) {
        self.kind = kind
        self.result = result
        self.reason = reason
        self.duration = duration
        self.cold = cold
        self.logTail = logTail
        self.droppedLogBytes = droppedLogBytes
    }

    /// The failure of one record: nil when it succeeded, else (error, retryable, and the time
    /// before which nothing can be done when the record said so — a deferral, not an attempt).
    public func failure(of messageID: String) -> (error: String, retryable: Bool, notBefore: Date?)? {
        switch kind {
        case .ok: return nil
        case .partial:
            guard let failure = result?.failures?.first(where: { $0.messageID == messageID }) else { return nil }
            return (failure.error, failure.retryable, failure.notBeforeMillis.map { Date(timeIntervalSince1970: Double($0) / 1000) })
        case .error:
            return (result?.error ?? reason ?? "the function reported an error", result?.retryable ?? true, nil)
        case .timeout, .crash, .exit, .garbage, .spawn:
            return ("\(kind.rawValue): \(reason ?? kind.rawValue)", true, nil)
        }
    }
}
