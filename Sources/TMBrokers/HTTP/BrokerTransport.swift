import Foundation
import TMHTTP

/// Whether a call can change anything at the broker; decides what an uncertain failure means.
enum CallEffect: Sendable, Equatable {
    /// A look-up: repeating it is harmless, so a failure after sending is just `unavailable`.
    case read
    /// Placement or cancellation: a failure after sending leaves the effect unknown.
    case change
}

/// Sends one adapter request with the configured timeouts and turns transport failures into
/// `BrokerError`s.
///
/// Guarantees: a request that certainly never left (`HTTPClientError.notSent`, or a call its
/// admission refused — `AdmissionTicket`: checked in the same job, before the request) is `unavailable`;
/// one that may have reached the broker is `unknownOutcome` for a `.change` and `unavailable` for
/// a `.read`; reasons name the failure kind, method and URL without its query (never headers or
/// body, which carry credentials and signatures). Any HTTP status is returned as a response.
struct BrokerTransport: Sendable {
    let http: AsyncHTTPClient
    let timeouts: BrokerTimeouts

    func send(_ request: HTTPRequest, effect: CallEffect) async throws(BrokerError) -> HTTPResponse {
        var request = request
        request.timeout = request.timeout ?? timeouts.total
        request.connectTimeout = request.connectTimeout ?? timeouts.connect
        let result: Result<HTTPResponse, HTTPClientError>
        if let ticket = AdmissionTicket.current, ticket.claim() {
            // The call's admission goes with its first request, in one job (`BrokerLanes`).
            do { result = try await ticket.send(request, http: http) } catch {
                throw .unavailable(reason: "request not sent: \(error) on \(request.method.rawValue) \(HTTPRequest.redactedURL(request.url))")
            }
        } else {
            do throws(HTTPClientError) { result = .success(try await http.send(request)) } catch { result = .failure(error) }
        }
        switch result {
        case .success(let response):
            return response
        case .failure(let error):
            let failure = error.failure
            let reason = "\(failure.kind.rawValue) on \(failure.method.rawValue) \(failure.url)"
            guard error.mayHaveReachedServer else { throw .unavailable(reason: "request not sent: \(reason)") }
            throw .uncertain("request may have reached the broker: \(reason)", effect: effect)
        }
    }
}

extension BrokerError {
    /// The broker may or may not have acted: unknown for a change, simply unavailable for a read.
    static func uncertain(_ reason: String, effect: CallEffect) -> BrokerError {
        effect == .change ? .unknownOutcome(reason: reason) : .unavailable(reason: reason)
    }

    /// What a status means when the body says nothing the broker-specific mapping recognises.
    static func fromStatus(_ response: HTTPResponse, reason: String?, code: String?, effect: CallEffect) -> BrokerError {
        let status = response.status
        let text = reason ?? "HTTP \(status)"
        switch status {
        case 429: return .rateLimited(retryAfter: RetryAfter.duration(in: response))
        case 401, 403: return .unauthorized(reason: text)
        case 404: return .notFound(reason: text)
        case 500...: return .uncertain("HTTP \(status): \(text)", effect: effect)
        default:
            // A refusal whose reason cannot be read (an HTML error page, a proxy) is not a broker answer.
            guard let reason else { return .invalidResponse(reason: "HTTP \(status) without a readable error body") }
            return .rejected(reason: reason, code: code ?? "HTTP \(status)")
        }
    }
}

/// The broker's own words for an error, tidied for an error message.
enum ErrorText {
    /// Trimmed, single-line and bounded: a reason is for people and logs, not a payload.
    static func clean(_ text: String?) -> String? {
        guard let text else { return nil }
        let single = text.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
        guard !single.isEmpty else { return nil }
        return single.count > 300 ? String(single.prefix(300)) + "…" : single
    }
}

extension BrokerError {
    /// Runs `decode` on a 2xx answer. For a change an unreadable answer leaves its effect unknown
    /// (the broker said yes to *something*), so `invalidResponse` becomes `unknownOutcome` there.
    static func decodingAnswer<T>(to effect: CallEffect, _ decode: () throws(BrokerError) -> T) throws(BrokerError) -> T {
        do {
            return try decode()
        } catch {
            if effect == .change, case .invalidResponse(let reason) = error {
                throw .unknownOutcome(reason: "the broker accepted the request but its answer could not be read: \(reason)")
            }
            throw error
        }
    }
}
