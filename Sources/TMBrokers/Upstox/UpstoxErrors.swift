import Foundation
import TMCore
import TMHTTP

/// Upstox's error answers (`{"status":"error","errors":[{"errorCode":…,"message":…}]}`) to
/// `BrokerError`.
///
/// | answer | error |
/// |---|---|
/// | 429, `UDAPI10005` | `rateLimited` (Retry-After when given) |
/// | 401, 403, `UDAPI100050` (invalid token), `UDAPI100016` (invalid credentials), `UDAPI100067`, `UDAPI100073` | `unauthorized` |
/// | 404, `UDAPI100010` (order not found) | `notFound` |
/// | any 5xx, `UDAPI100500` | `unknownOutcome` (change) / `unavailable` (read) |
/// | `UDAPI100072` (funds service closed, midnight to 5:30 IST) | `unavailable` (nothing was done; later it answers) |
/// | other errors with a message | `rejected(message, errorCode)` |
/// | 4xx without a readable Upstox body | `invalidResponse` |
///
/// Reasons are Upstox's `message` only. The code is read from `error_code` (current) or `errorCode`
/// (deprecated, still sent), per https://upstox.com/developer/api-documentation/response-structure.
enum UpstoxErrors {
    static let rateLimitCodes: Set<String> = ["UDAPI10005"]
    static let credentialCodes: Set<String> = ["UDAPI100050", "UDAPI100016", "UDAPI100067", "UDAPI100073"]
    static let notFoundCodes: Set<String> = ["UDAPI100010"]
    static let serverCodes: Set<String> = ["UDAPI100500"]
    static let closedCodes: Set<String> = ["UDAPI100072"]

    static func map(_ response: HTTPResponse, effect: CallEffect) -> BrokerError {
        let first = (try? JSONValue.parse([UInt8](response.body)))?["errors"]?.arrayValue?.first
        let code = first?["error_code"]?.scalarText ?? first?["errorCode"]?.scalarText
        let message = ErrorText.clean(first?["message"]?.scalarText)
        let reason = message ?? "HTTP \(response.status)"
        let labelled = code.map { "\(reason) (\($0))" } ?? reason
        if response.status == 429 || code.map(rateLimitCodes.contains) == true {
            return .rateLimited(retryAfter: RetryAfter.duration(in: response))
        }
        if code.map(credentialCodes.contains) == true { return .unauthorized(reason: labelled) }
        if code.map(notFoundCodes.contains) == true { return .notFound(reason: labelled) }
        if code.map(serverCodes.contains) == true { return .uncertain(labelled, effect: effect) }
        if code.map(closedCodes.contains) == true { return .unavailable(reason: labelled) }
        return .fromStatus(response, reason: message, code: code, effect: effect)
    }
}
