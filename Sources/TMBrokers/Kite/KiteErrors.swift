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
/// Reasons are Kite's `message` only.
enum KiteErrors {
    static let credentialTypes: Set<String> = ["TokenException", "PermissionException", "UserException"]
    static let serverTypes: Set<String> = ["NetworkException", "DataException", "GeneralException"]

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
}
