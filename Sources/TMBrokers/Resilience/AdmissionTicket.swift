import Foundation
import TMCore
import TMHTTP
import TMRedis

/// One broker call's admission (`BrokerAdmission`: its circuit and one unit of its budget), handed
/// from `ResilientBrokerAdapter` down to the transport that sends the call's first request, which
/// runs it in the same job as the request (`BrokerLanes`): one hop where there were two.
///
/// Guarantees: carried task-locally for the duration of one guarded call only; claimed by at most
/// one request (the call's first; later requests of the call go on that admission, as they always
/// did); a request that claims it is sent only after the admission granted it — through the lanes,
/// or, for a transport the lanes do not serve, after the admission ran apart; what the admission
/// said (`state`) is what the caller acts on: a refusal or a failed admission sent nothing.
final class AdmissionTicket: Sendable {
    @TaskLocal static var current: AdmissionTicket?

    /// Nothing was sent: the admission refused the call or could not be run (see `state`).
    enum NotSent: Error, CustomStringConvertible {
        case refused
        var description: String { "the call was not admitted" }
    }

    enum State: Sendable {
        /// No request claimed the ticket (so none was sent under it).
        case unclaimed
        /// A request claimed it; the admission has not answered yet.
        case claimed
        /// Admitted; the request went out. `spent`: the admission's own time (not the broker's).
        case admitted(recordSuccess: Bool, spent: Duration)
        case refused(BrokerAdmission.Outcome)
        /// The admission itself failed (Redis unreachable...): nothing was sent. The error's text.
        case failed(String)
    }

    let lanes: BrokerLanes
    let redis: RedisClient
    let breaker: CircuitBreaker
    let budget: (key: String, limits: [RateLimit])
    private let recorded = Locked<State>(.unclaimed)

    init(lanes: BrokerLanes, redis: RedisClient, breaker: CircuitBreaker, budget: (key: String, limits: [RateLimit])) {
        self.lanes = lanes
        self.redis = redis
        self.breaker = breaker
        self.budget = budget
    }

    var state: State { recorded.withLock { $0 } }

    /// The admission's own time when it granted the call (zero otherwise).
    var admissionTime: Duration {
        if case .admitted(_, let spent) = state { return spent }
        return .zero
    }

    /// Whether the call was stopped before anything was sent (refused, or the admission failed).
    var stoppedBeforeSending: Bool {
        switch state {
        case .refused, .failed: return true
        case .unclaimed, .claimed, .admitted: return false
        }
    }

    /// Takes the ticket for the request about to be sent: true once, for the call's first request.
    func claim() -> Bool {
        recorded.withLock { state in
            guard case .unclaimed = state else { return false }
            state = .claimed
            return true
        }
    }

    /// Admits the claimed request and sends it: on a lane of `lanes` (one job) when they serve `http`,
    /// else the admission apart, then `http`. Throws `NotSent` (or the admission's error, recorded)
    /// when nothing was sent; the request's own failure is the result's.
    func send(_ request: HTTPRequest, http: AsyncHTTPClient) async throws -> Result<HTTPResponse, HTTPClientError> {
        if lanes.serves(http) {
            do {
                return try await lanes.send(request) { connect in
                    let start = ContinuousClock.now
                    let outcome: BrokerAdmission.Outcome
                    do { outcome = try BrokerAdmission.run(on: try connect(), breaker: self.breaker, budget: self.budget) } catch { throw self.failed(error) }
                    return self.settle(outcome, spent: ContinuousClock.now - start)
                }
            } catch let stopped as BlockingThread.Stopped {
                // The lanes were shut down: the admission never ran and nothing was sent, which the
                // caller and the router must hear as such (not as the broker's failure).
                throw failed(stopped)
            }
        }
        let start = ContinuousClock.now
        let outcome: BrokerAdmission.Outcome
        do { outcome = try await BrokerAdmission.run(redis, breaker: breaker, budget: budget) } catch { throw failed(error) }
        guard settle(outcome, spent: ContinuousClock.now - start) else { throw NotSent.refused }
        do throws(HTTPClientError) { return .success(try await http.send(request)) } catch { return .failure(error) }
    }

    /// Records a failed admission; the error to throw (nothing was sent).
    private func failed(_ error: any Error) -> NotSent {
        recorded.withLock { $0 = .failed("\(error)") }
        return .refused
    }

    /// Records what the admission said; true when the request may go.
    private func settle(_ outcome: BrokerAdmission.Outcome, spent: Duration) -> Bool {
        recorded.withLock { state in
            if case .admitted(_, let recordSuccess) = outcome {
                state = .admitted(recordSuccess: recordSuccess, spent: spent)
                return true
            }
            state = .refused(outcome)
            return false
        }
    }
}
