import Foundation
import TMCore
import TMHTTP

/// Kite's error answers (`{"status":"error","message":…,"error_type":…}`) to `BrokerError`.
///
/// | answer | error |
/// |---|---|
/// | 429 | `rateLimited` (Retry-After when given) |
/// | 403, `TokenException`, `PermissionException`, `UserException` | `unauthorized` |
/// | 400 "Order request timed out. Please check the order book" | `unknownOutcome` (change) / `unavailable` (read) |
/// | `NetworkException`, `DataException`, `GeneralException`, any 5xx | `unknownOutcome` (change) / `unavailable` (read) |
/// | `InputException`, `OrderException`, `MarginException`, `HoldingException`, other 4xx with a message | `rejected(message, error_type)` |
/// | 4xx without a readable Kite body | `invalidResponse` |
///
/// A 2xx carrying Kite's error body (an `error_type`; the official SDKs raise on it whatever the
/// status) is mapped the same way by its type, and a type Kite does not document is a general error
/// (`unknownOutcome` / `unavailable`), as the SDKs treat it.
///
/// Reasons are Kite's `message` only.
enum KiteErrors {
    static let credentialTypes: Set<String> = ["TokenException", "PermissionException", "UserException"]
    static let serverTypes: Set<String> = ["NetworkException", "DataException", "GeneralException"]
    /// Kite refused the request itself: nothing was done.
    static let refusalTypes: Set<String> = ["InputException", "OrderException", "MarginException", "HoldingException"]

    static func map(_ response: HTTPResponse, effect: CallEffect) -> BrokerError {
        let body = try? JSONValue.parse([UInt8](response.body))
        let message = ErrorText.clean(body?["message"]?.scalarText)
        let type = body?["error_type"]?.scalarText
        let reason = message ?? "HTTP \(response.status)"
        if response.status == 429 { return .rateLimited(retryAfter: RetryAfter.duration(in: response)) }
        if response.status == 403 || type.map(credentialTypes.contains) == true {
            return .unauthorized(reason: type.map { "\($0): \(reason)" } ?? reason)
        }
        // Kite has answered a placement timeout with 400 while the order went through.
        if let message, message.lowercased().contains("timed out") {
            return .uncertain("Kite: \(message)", effect: effect)
        }
        if let type, serverTypes.contains(type) { return .uncertain("\(type): \(reason)", effect: effect) }
        return .fromStatus(response, reason: message, code: type, effect: effect)
    }

    /// The error in a 2xx answer whose body is Kite's error envelope; nil when it is not one.
    static func errorInSuccess(_ response: HTTPResponse, effect: CallEffect) -> BrokerError? {
        guard let body = try? JSONValue.parse([UInt8](response.body)), let type = body["error_type"]?.scalarText else { return nil }
        if credentialTypes.contains(type) || serverTypes.contains(type) || refusalTypes.contains(type) {
            return map(response, effect: effect)
        }
        return .uncertain("\(type): \(ErrorText.clean(body["message"]?.scalarText) ?? "HTTP \(response.status)")", effect: effect)
    }
}
